package files

import (
	"slices"
	"strings"
)

// Dump is an effective configuration as OpenSSH prints it (`sshd -T`,
// `ssh -G`): lowercase keyword to values, one element per output line
// (the text after the keyword). Keywords printed once per value (sshd
// AllowUsers, ssh IdentityFile) have several elements.
type Dump map[string][]string

var printedFlags = strings.NewReplacer("true", "yes", "false", "no")

// ParseDump parses `sshd -T` / `ssh -G` output. Keywords are lowercased
// (OpenSSH 10.6 prints them in CamelCase).
func ParseDump(out string) Dump {
	d := Dump{}
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimRight(line, "\r"); line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		k = strings.ToLower(k)
		d[k] = append(d[k], v)
	}
	return d
}

// Has reports whether the dump says keyword k of dialect d has the value
// want (in normal form, see Normalize), compared as OpenSSH compares
// values. comparable is false when the dump cannot settle it: a keyword
// OpenSSH does not print, an algorithm list written with + - ^, a path
// with ~ or % that OpenSSH expands.
func (dump Dump) Has(d Dialect, k *Keyword, want []string) (ok, comparable bool) {
	printed, found := dump[strings.ToLower(k.Name)]
	switch {
	case !found:
		return false, false
	case k.Type == TypeAlgorithms && len(want) == 1 && want[0] != "" && strings.ContainsAny(want[0][:1], "+-^"):
		return false, false
	case slices.ContainsFunc(want, func(a string) bool { return strings.ContainsAny(a, "~%") }):
		return false, false
	}
	lines := [][]string{nil}
	for _, line := range printed {
		args := []string{line}
		if k.Type != TypeRawLine {
			args = strings.Fields(line)
		}
		if k.Type == TypeFlag && len(args) == 1 {
			args = []string{printedFlags.Replace(args[0])} // 10.6 prints true/false
		}
		if k.Combine == Cumulative {
			lines = append(lines, args) // normalized line by line
		} else {
			lines[0] = append(lines[0], args...)
		}
	}
	var got []string
	for _, args := range lines {
		if len(args) == 0 {
			continue
		}
		norm, err := Normalize(d, k, args)
		if err != nil {
			norm = args // compared as printed
		}
		got = append(got, norm...)
	}
	return slices.Equal(got, want), true
}
