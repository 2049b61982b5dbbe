package files

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is an OpenSSH release: 9.2p1 is {Major: 9, Minor: 2, Portable:
// 1}. Versions are comparable with == and ordered by Compare.
//
// The zero Version means "not known". Everything that takes a Version
// treats it as DefaultVersion (9.2p1, Debian 12's): the release the model
// was first written for, and a conservative choice for an undetected
// host: it knows no keyword of the 9.8+ releases, so nothing the older
// releases in the field (8.4 to 9.6) would refuse because it is new gets
// written, while a configuration that uses the newer keywords fails to
// load with an error naming the release that added them. Callers that can
// ask the host (`sshd -V`, or `ssh -V`, which every release answers)
// should pass what it says.
type Version struct {
	Major, Minor uint8
	// Portable is the portable release number, the N of "pN" (0 when the
	// version string has none). It never changes the configuration
	// language: catalogues are chosen by Major.Minor.
	Portable uint8
}

// DefaultVersion returns the version assumed when none is known: 9.2p1.
func DefaultVersion() Version { return Version{9, 2, 1} }

// ParseVersion parses an OpenSSH version: "9.2p1", "10.0", or anything
// holding "OpenSSH_X.Y[pN]", such as the first line `ssh -V` or `sshd -V`
// print ("OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1 1 Jul 2025"). OpenSSH 8.4's
// sshd has no -V: it answers "unknown option -- V" followed by the same
// version line, which parses too.
func ParseVersion(s string) (Version, error) {
	t := s
	if i := strings.Index(t, "OpenSSH_"); i >= 0 {
		t = t[i+len("OpenSSH_"):]
	} else {
		t = strings.TrimSpace(t)
	}
	v, rest, ok := parseVersionPrefix(t)
	if !ok || (rest != "" && !strings.ContainsAny(rest[:1], " \t\r\n,-+~_")) {
		return Version{}, fmt.Errorf("no OpenSSH version in %q", strings.TrimSpace(s))
	}
	return v, nil
}

// parseVersionPrefix reads "X.Y[pN]" at the start of s.
func parseVersionPrefix(s string) (Version, string, bool) {
	num := func(s string) (uint8, string, bool) {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, s, false
		}
		n, err := strconv.ParseUint(s[:i], 10, 8)
		return uint8(n), s[i:], err == nil
	}
	var v Version
	var ok bool
	if v.Major, s, ok = num(s); !ok || !strings.HasPrefix(s, ".") {
		return Version{}, s, false
	}
	if v.Minor, s, ok = num(s[1:]); !ok {
		return Version{}, s, false
	}
	if strings.HasPrefix(s, "p") {
		if v.Portable, s, ok = num(s[1:]); !ok {
			return Version{}, s, false
		}
	}
	if v.Major == 0 {
		return Version{}, s, false
	}
	return v, s, true
}

// String returns the version as OpenSSH writes it, "9.2p1" ("9.2" without
// a portable release), or "unknown" for the zero Version.
func (v Version) String() string {
	switch {
	case v == Version{}:
		return "unknown"
	case v.Portable == 0:
		return fmt.Sprintf("%d.%d", v.Major, v.Minor)
	}
	return fmt.Sprintf("%d.%dp%d", v.Major, v.Minor, v.Portable)
}

// IsZero reports whether v is the zero Version ("not known").
func (v Version) IsZero() bool { return v == Version{} }

// Compare returns -1, 0 or +1 as v is older than, the same as or newer
// than w, comparing major, minor and portable release in turn.
func (v Version) Compare(w Version) int {
	a := int(v.Major)<<16 | int(v.Minor)<<8 | int(v.Portable)
	b := int(w.Major)<<16 | int(w.Minor)<<8 | int(w.Portable)
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// release returns the version without its portable release: the key the
// catalogues are chosen by.
func (v Version) release() Version { return Version{Major: v.Major, Minor: v.Minor} }

// orDefault returns v, or DefaultVersion for the zero Version.
func (v Version) orDefault() Version {
	if v.IsZero() {
		return DefaultVersion()
	}
	return v
}

// before reports whether v's release is older than release w (portable
// releases ignored).
func (v Version) before(w Version) bool { return v.release().Compare(w.release()) < 0 }

// rel is a release constant for the tables: rel(8, 7) is 8.7.
func rel(major, minor uint8) Version { return Version{Major: major, Minor: minor} }
