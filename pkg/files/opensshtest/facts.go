package opensshtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Facts is what one OpenSSH version's own binaries say about its two
// configuration languages, as recorded in
// pkg/files/testdata/openssh/<version>.json by TestVersionFacts -update
// (Debian's builds: the host's and the chroots' of Installs).
type Facts struct {
	// Version is OpenSSH's version as `ssh -V` prints it ("10.0p2").
	Version string `json:"version"`
	// Server is about sshd_config (sshd -t / sshd -T).
	Server DialectFacts `json:"sshd"`
	// Client is about ssh_config (ssh -G).
	Client DialectFacts `json:"ssh"`
}

// DialectFacts is what one binary accepts. Every list is sorted and holds
// lowercase keywords (as sshd -T / ssh -G print them before 10.6).
type DialectFacts struct {
	// Keywords are all the keywords the binary recognises in a
	// configuration file, including those it ignores with a message
	// (Deprecated, Unsupported) and aliases it never prints. Found by
	// writing "keyword 0" lines: a keyword is unknown exactly when the
	// binary answers "Bad configuration option".
	Keywords []string `json:"keywords"`
	// Deprecated are the Keywords answered with "Deprecated option"
	// (ssh says so only at debug level, so it is asked with -v).
	Deprecated []string `json:"deprecated"`
	// Unsupported are the Keywords answered with "Unsupported option":
	// known to the parser but compiled out or removed (Debian 10.6's sshd
	// without GSSAPI says so of GSSAPIAuthentication).
	Unsupported []string `json:"unsupported"`
	// InMatch are the Keywords sshd allows inside "Match User x" (it
	// answers the others with "Directive '…' is not allowed within a Match
	// block"). Empty for ssh, which allows every keyword in Host/Match.
	InMatch []string `json:"in_match,omitempty"`
	// MatchCriteria are the Match criteria the binary accepts, lowercase
	// ("address", "invalid-user", "version", …): those it does not answer
	// with "Unsupported Match attribute".
	MatchCriteria []string `json:"match_criteria"`
	// DumpCase is "lower" when sshd -T / ssh -G print keywords in
	// lowercase, "camel" when they print them as documented
	// ("PermitRootLogin": sshd from 10.6 on).
	DumpCase string `json:"dump_case"`
	// Defaults are the lines `sshd -T` (with -h KEY, no -C) or
	// `ssh -G somehost` print for an empty configuration, raw (case and
	// values as printed, e.g. 10.6's "TCPKeepAlive true"), ordered by
	// lowercase keyword and otherwise as printed. sshd's HostKey lines
	// (the -h key) are left out.
	Defaults []string `json:"defaults"`
}

// Has reports whether kw (any case) is one of the Keywords.
func (d DialectFacts) Has(kw string) bool {
	return contains(d.Keywords, strings.ToLower(kw))
}

// AllowedInMatch reports whether sshd allows kw (any case) inside a Match
// block.
func (d DialectFacts) AllowedInMatch(kw string) bool {
	return contains(d.InMatch, strings.ToLower(kw))
}

// Default returns the values of kw (any case) in Defaults, one per line
// printed, and whether it was printed at all.
func (d DialectFacts) Default(kw string) ([]string, bool) {
	var vs []string
	found := false
	for _, l := range d.Defaults {
		k, v, _ := strings.Cut(l, " ")
		if strings.EqualFold(k, kw) {
			vs = append(vs, v)
			found = true
		}
	}
	return vs, found
}

// contains reports whether the sorted list has s.
func contains(sorted []string, s string) bool {
	i := sort.SearchStrings(sorted, s)
	return i < len(sorted) && sorted[i] == s
}

// FactsDir returns pkg/files/testdata/openssh, relative to the directory of
// a package in pkg/files or below ("testdata/openssh" from pkg/files,
// "../testdata/openssh" from pkg/files/opensshtest): the first of those that
// exists, or the pkg/files one.
func FactsDir() string {
	for _, d := range []string{"testdata/openssh", "../testdata/openssh"} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	return filepath.Join("testdata", "openssh")
}

// ReadFacts reads every <version>.json in dir, oldest version first.
func ReadFacts(dir string) ([]Facts, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("opensshtest: %w", err)
	}
	var all []Facts
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("opensshtest: %w", err)
		}
		var f Facts
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("opensshtest: %s: %w", n, err)
		}
		if want := f.Version + ".json"; filepath.Base(n) != want {
			return nil, fmt.Errorf("opensshtest: %s holds version %q: want the file named %s", n, f.Version, want)
		}
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool { return CompareVersions(all[i].Version, all[j].Version) < 0 })
	return all, nil
}

// Marshal returns the facts as the committed JSON: indented, one list
// element per line, ending in a newline.
func (f Facts) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "\t")
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("opensshtest: facts of %s: %w", f.Version, err)
	}
	return b.Bytes(), nil
}
