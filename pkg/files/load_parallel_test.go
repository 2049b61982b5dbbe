package files

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// TestLoadInParts: a configuration whose files are parsed, and their
// entries made, on several cores (see loader.prepare) is the one read on
// one: the same entries in the same blocks, the same blocks, the same
// errors and warnings in the same order. The trees are the differential
// tests' random ones (Include, Match and Host blocks, every lexical form of
// the release), with lines the walk must read itself mixed in: unknown
// keywords, IgnoreUnknown, bad values, unterminated quotes, global-only
// keywords in Match blocks, list keywords without arguments, a second
// Include of the drop-ins (walked twice, they get entries of their own).
func TestLoadInParts(t *testing.T) {
	odd := map[Dialect][]string{
		Server: {"Bogus yes", "Port x", "Banner 'a", "PasswordAuthentication maybe", "AllowUsers",
			"Match User odd", "Port 2222", "MaxAuthTries 3", "Match all", "ListenAddress 127.0.0.1", "Include /etc/ssh/none/*.conf",
			"Include /etc/ssh/sshd_config.d/*.conf"},
		Client: {"IgnoreUnknown Bogus*", "BogusOption 1", "Other 2", "Port x", "ProxyCommand a 'b",
			"SendEnv", "Host odd", "User u", "Match all", "Include ~/.ssh/none",
			"Include /etc/ssh/ssh_config.d/*.conf"},
	}
	for _, v := range []string{"8.4p1", "9.2p1", ""} {
		for _, d := range []Dialect{Server, Client} {
			version := Version{}
			if v != "" {
				version = mustVersion(t, v)
			}
			cat := version.orDefault().Catalogue(d)
			rng := rand.New(rand.NewPCG(uint64(len(v)), uint64(d)))
			main := map[Dialect]string{Server: "/etc/ssh/sshd_config", Client: "/etc/ssh/ssh_config"}[d]
			for i := range 15 {
				tree := opensshtest.GenerateFor(rng, d == Server, genFor(cat, version.orDefault().String()))
				lines := strings.SplitAfter(tree.Files[main[1:]], "\n")
				for range 1 + rng.IntN(8) {
					at := rng.IntN(len(lines) + 1)
					lines = append(lines[:at], append([]string{odd[d][rng.IntN(len(odd[d]))] + "\n"}, lines[at:]...)...)
				}
				tree.Files[main[1:]] = strings.Join(lines, "")
				r := writeTree(t, tree.Files)
				opts := LoadOptions{Version: version, KeepUnknown: i%3 == 0}
				one, err1 := load(r, main, d, opts, func(int) int { return 1 })
				want := dumpLoad(one, err1)
				for _, n := range []int{2, 3, 7} {
					got := dumpLoad(load(r, main, d, opts, func(int) int { return n }))
					if got != want {
						t.Fatalf("%s %v, tree %d on %d cores:\n%s\non one:\n%s\nmain file:\n%s", v, d, i, n, got, want, tree.Files[main[1:]])
					}
				}
			}
		}
	}
}

// dumpLoad writes out what a load made, blocks and entries by position.
func dumpLoad(c *Config, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "error: %v\nwarnings: %v\nunmodelled: %v\n", err, c.Warnings.Err(), c.Unmodelled)
	for _, f := range c.Files {
		fmt.Fprintf(&b, "file %s: %d lines\n", f.Path, len(f.Lines))
	}
	where := func(bl *Block) string {
		if bl == nil {
			return "-"
		}
		return fmt.Sprintf("%s#%d", bl.Pos(), bl.Index)
	}
	for _, bl := range c.Blocks {
		fmt.Fprintf(&b, "block %s parent %s host %v %q %v\n", where(bl), where(bl.Parent), bl.Host, bl.Patterns, bl.Criteria)
	}
	for _, e := range c.Entries {
		fmt.Fprintf(&b, "entry %s %s %q in %s\n", e.Pos(), e.Keyword.Name, e.Args, where(e.Block))
	}
	return b.String()
}
