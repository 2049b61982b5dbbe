package files

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Normalize validates args as values of keyword k and returns them in the
// canonical form OpenSSH itself reports (sshd -T, ssh -G): flags as yes/no,
// integers and times as decimal seconds, enumerated words in their
// canonical spelling. Two argument lists mean the same to OpenSSH exactly
// when their normal forms are equal. Types OpenSSH compares as written
// (paths, algorithm and pattern lists, raw lines) are returned unchanged.
func Normalize(d Dialect, k *Keyword, args []string) ([]string, error) {
	norm, err := normalize(d, k, args)
	if err == nil && len(norm) > 0 && &norm[0] == &args[0] {
		norm = slices.Clone(norm) // the caller's slice stays the caller's
	}
	return norm, err
}

// normalize is Normalize, returning args itself when they are in normal
// form already: the loader normalizes every directive, and most are
// written in normal form.
func normalize(d Dialect, k *Keyword, args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%s needs a value", k.Name)
	}
	single := func() (string, error) {
		if len(args) > 1 {
			return "", fmt.Errorf("%s takes one value, got %d (%s); quote a value that contains spaces", k.Name, len(args), strings.Join(args, " "))
		}
		return args[0], nil
	}
	if k.None && len(args) == 1 && (args[0] == "none" || k.noneResets && strings.EqualFold(args[0], "none")) { // case-sensitive in OpenSSH, mostly
		return as(args, "none"), nil
	}
	switch k.Type {
	case TypeFlag:
		a, err := single()
		if err != nil {
			return nil, err
		}
		v, err := parseFlag(d, a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.Name, err)
		}
		return as(args, v), nil
	case TypeInt:
		a, err := single()
		if err != nil {
			return nil, err
		}
		n, err := parseInt(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.Name, err)
		}
		return decimal(args, n), nil
	case TypeTime:
		a, err := single()
		if err != nil {
			return nil, err
		}
		n, err := ParseTime(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.Name, err)
		}
		if n == 0 && k.noneResets {
			return []string{"none"}, nil
		}
		return decimal(args, n), nil
	case TypeEnum:
		a, err := single()
		if err != nil {
			return nil, err
		}
		v, ok := enumWord(k, a)
		if !ok {
			msg := fmt.Sprintf("%s: %q is not one of %s", k.Name, a, strings.Join(k.Enum, ", "))
			if len(k.Synonyms) > 0 {
				msg += " (also accepted: " + strings.Join(slices.Sorted(maps.Keys(k.Synonyms)), ", ") + ")"
			}
			return nil, errors.New(msg)
		}
		return as(args, v), nil
	case TypeIPQoS:
		if len(args) > 2 {
			return nil, fmt.Errorf("%s takes one or two values, got %d", k.Name, len(args))
		}
		out := make([]string, 2)
		for i, a := range args {
			v, err := parseIPQoS(k.ipqos, a)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k.Name, err)
			}
			out[i] = v
		}
		if len(args) == 1 {
			out[1] = out[0]
		}
		return out, nil
	case TypeFlagOrString:
		a, err := single()
		if err != nil {
			return nil, err
		}
		if v, err := parseFlag(d, a); err == nil {
			return as(args, v), nil
		}
		return args, nil
	case TypeString, TypePath, TypeAlgorithms:
		a, err := single()
		if err != nil {
			return nil, err
		}
		if k.FoldCase {
			a = strings.ToLower(a)
		}
		return as(args, a), nil
	}
	return args, nil
}

// as returns the one-value list v: args itself when that is what it holds.
func as(args []string, v string) []string {
	if len(args) == 1 && args[0] == v {
		return args
	}
	return []string{v}
}

// decimal returns the one-value list of n in decimal, as OpenSSH prints
// it: args itself when its value is written so (no sign, no leading zero,
// no unit).
func decimal(args []string, n int) []string {
	if a := args[0]; len(args) == 1 && a != "" && strings.Trim(a, "0123456789") == "" && (a[0] != '0' || a == "0") {
		return args
	}
	return []string{strconv.Itoa(n)}
}

// enumWord returns the canonical spelling of word among k's words.
func enumWord(k *Keyword, word string) (string, bool) {
	if k.ExactCase {
		return word, slices.Contains(k.Enum, word)
	}
	lower := strings.ToLower(word)
	if v, ok := k.Synonyms[lower]; ok {
		return v, true
	}
	for _, w := range k.Enum {
		if strings.ToLower(w) == lower {
			return w, true
		}
	}
	return "", false
}

// parseFlag accepts yes/no in any case; the client also true/false.
func parseFlag(d Dialect, s string) (string, error) {
	switch strings.ToLower(s) {
	case "yes":
		return "yes", nil
	case "no":
		return "no", nil
	case "true":
		if d == Client {
			return "yes", nil
		}
	case "false":
		if d == Client {
			return "no", nil
		}
	}
	if d == Client {
		return "", fmt.Errorf("%q is not yes, no, true or false", s)
	}
	return "", fmt.Errorf("%q is not yes or no", s)
}

// parseInt accepts what OpenSSH's strtonum(0, INT_MAX) accepts: an optional
// sign and decimal digits (leading zeros are decimal, not octal).
func parseInt(s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%q is not an integer between 0 and %d", s, math.MaxInt32)
	}
	return int(n), nil
}

var errTime = errors.New("not a time: use seconds, optionally with units s, m, h, d, w (e.g. 300, 5m, 1h30m)")

// ParseTime parses a time value as OpenSSH's convtime does: a sequence of
// decimal numbers each with an optional unit (s, m, h, d, w, any case),
// summed; the result is seconds in 0..INT_MAX.
func ParseTime(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty value: %w", errTime)
	}
	var total int64
	for p := s; p != ""; {
		// strtol: optional sign, then digits.
		i := 0
		if p[0] == '+' || p[0] == '-' {
			i++
		}
		j := i
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("%q: %w", s, errTime)
		}
		secs, err := strconv.ParseInt(p[:j], 10, 64)
		if err != nil || secs < 0 || secs > math.MaxInt32 {
			return 0, fmt.Errorf("%q: %w", s, errTime)
		}
		mult := int64(1)
		if j < len(p) {
			switch p[j] {
			case 's', 'S':
			case 'm', 'M':
				mult = 60
			case 'h', 'H':
				mult = 60 * 60
			case 'd', 'D':
				mult = 24 * 60 * 60
			case 'w', 'W':
				mult = 7 * 24 * 60 * 60
			default:
				return 0, fmt.Errorf("%q: %w", s, errTime)
			}
			j++
		}
		if secs > math.MaxInt32/mult {
			return 0, fmt.Errorf("%q is too large: %w", s, errTime)
		}
		total += secs * mult
		if total > math.MaxInt32 {
			return 0, fmt.Errorf("%q is too large: %w", s, errTime)
		}
		p = p[j:]
	}
	return int(total), nil
}

// Equal reports whether a and b, two argument lists of keyword k, mean the
// same to OpenSSH. Values that do not parse are compared as written.
func Equal(d Dialect, k *Keyword, a, b []string) bool {
	na, errA := Normalize(d, k, a)
	nb, errB := Normalize(d, k, b)
	if errA != nil || errB != nil {
		return slices.Equal(a, b)
	}
	return slices.Equal(na, nb)
}

// ipqosNames are OpenSSH's IPQoS names (misc.c) in table order: a value
// prints as the first name with its code.
var ipqosNames = []struct {
	name string
	code int
}{
	{"af11", 0x28}, {"af12", 0x30}, {"af13", 0x38}, {"af21", 0x48}, {"af22", 0x50}, {"af23", 0x58},
	{"af31", 0x68}, {"af32", 0x70}, {"af33", 0x78}, {"af41", 0x88}, {"af42", 0x90}, {"af43", 0x98},
	{"cs0", 0x00}, {"cs1", 0x20}, {"cs2", 0x40}, {"cs3", 0x60}, {"cs4", 0x80}, {"cs5", 0xa0},
	{"cs6", 0xc0}, {"cs7", 0xe0}, {"ef", 0xb8}, {"le", 0x04}, {"va", 0xb0}, {"lowdelay", 0x10},
	{"throughput", 0x08}, {"reliability", 0x04},
}

// ipqosRules are the ways a release reads IPQoS values; the zero value is
// the newest release's.
type ipqosRules struct {
	noVA     bool // "va" is no name (before 10.3)
	tos      bool // lowdelay, throughput and reliability are codes; from Debian's 10.0 on they mean "none" (ignored, the system default applies)
	cNumbers bool // numbers are C literals, 0x hex and 0 octal (before 9.8); later decimal only
	le01     bool // "le" is 0x01 (before 8.9)
}

// parseIPQoS returns an IPQoS value as sshd -T prints it: the table name
// of its code ("reliability" is "le" from 8.9 on), "none", or 0xNN for
// other codes. Names are case-insensitive; numbers run from 0 to 255.
func parseIPQoS(r ipqosRules, s string) (string, error) {
	if strings.EqualFold(s, "none") {
		return "none", nil
	}
	code, named := r.code(s)
	switch {
	case named && code < 0:
		return "none", nil
	case !named:
		base := 10
		if r.cNumbers {
			base = 0
		}
		n, err := strconv.ParseInt(s, base, 32)
		if err != nil || n < 0 || n > 255 {
			return "", fmt.Errorf("%q is not a DSCP/ToS name (af11..af43, cs0..cs7, ef, le, lowdelay, throughput, reliability, none) or a number 0-255", s)
		}
		code = int(n)
	}
	for _, q := range ipqosNames {
		if c, _ := r.code(q.name); c == code {
			return q.name, nil
		}
	}
	return fmt.Sprintf("0x%02x", code), nil
}

// code returns the code of IPQoS name s in the release (any case), -1 for
// a name it ignores; named is false when s is no name the release knows.
func (r ipqosRules) code(s string) (code int, named bool) {
	for _, q := range ipqosNames {
		if !strings.EqualFold(s, q.name) || !r.has(q.name) {
			continue
		}
		switch {
		case r.tosIgnored(q.name):
			return -1, true
		case r.le01 && q.name == "le":
			return 0x01, true
		}
		return q.code, true
	}
	return 0, false
}

// has reports whether the release knows the IPQoS name.
func (r ipqosRules) has(name string) bool { return !r.noVA || name != "va" }

// tosIgnored reports whether the release ignores the IPQoS name, one of
// the deprecated ToS names (Debian's 10.0 on).
func (r ipqosRules) tosIgnored(name string) bool {
	return !r.tos && (name == "lowdelay" || name == "throughput" || name == "reliability")
}
