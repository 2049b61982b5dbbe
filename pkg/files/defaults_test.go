package files

import (
	"slices"
	"strings"
	"testing"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// TestDefaults checks each recorded release's catalogue defaults against
// what its sshd -T and ssh -G print for an empty configuration
// (testdata/openssh/<version>.json, which TestVersionFacts checks against
// the real binaries): a keyword the release prints under its canonical
// name has that value as its default, in the form printed (flags as
// yes/no), and nothing else has a default.
func TestDefaults(t *testing.T) {
	all, err := opensshtest.ReadFacts(opensshtest.FactsDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		v, err := ParseVersion(f.Version)
		must(t, err)
		for _, d := range []Dialect{Server, Client} {
			df := f.Server
			if d == Client {
				df = f.Client
			}
			cat := v.Catalogue(d)
			printed := map[string][]string{}
			for _, l := range df.Defaults {
				k, val, _ := strings.Cut(l, " ")
				printed[strings.ToLower(k)] = append(printed[strings.ToLower(k)], val)
			}
			omitted := specOf(d).omitDefaults
			n := 0
			for _, k := range cat.Keywords() {
				lower := strings.ToLower(k.Name)
				lines, ok := printed[lower]
				switch {
				case slices.Contains(omitted, lower) || k.Status != Supported || !ok:
					if k.Default != nil {
						t.Errorf("%s %s %s: default %q, but the release prints none (or it is omitted)", v, d, k.Name, k.Default)
					}
					continue
				case k.Combine == Cumulative:
					if !slices.Equal(k.Default, lines) {
						t.Errorf("%s %s %s: default %q, printed %q", v, d, k.Name, k.Default, lines)
					}
				default:
					want := strings.Join(lines, " ")
					if k.Type == TypeFlag || k.Name == "WarnWeakCrypto" {
						want = printedFlag(want)
					}
					if have := strings.Join(k.Default, " "); have != want {
						t.Errorf("%s %s %s: default %q, printed %q", v, d, k.Name, have, want)
					}
				}
				n++
			}
			if n < 60 {
				t.Errorf("%s %s: only %d defaults", v, d, n)
			}
		}
	}
}
