package files

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// enumSkip are keywords whose words are not asked: ssh -G refuses
// ForkAfterAuthentication yes without a command and would resolve names
// for CanonicalizeHostname. enumAlone are asked in trees of their own:
// ClearAllForwardings yes clears Tunnel, BatchMode yes and VerifyHostKeyDNS
// turn UpdateHostKeys ask off.
var (
	enumSkip  = map[string]bool{"ForkAfterAuthentication": true, "CanonicalizeHostname": true}
	enumAlone = map[string]bool{"ClearAllForwardings": true, "BatchMode": true, "UpdateHostKeys": true}
)

// TestEnumsAgainstOpenSSH checks, for every OpenSSH release Installs
// offers, that every word (and synonym) of every enumerated and yes/no
// keyword of the release's catalogue, and a time and an integer for every
// time and integer keyword, are accepted and printed by sshd -T / ssh -G as
// their normal form (with 10.6's true/false read as yes/no). Word j of
// every keyword goes into tree j, so a handful of queries cover the
// catalogue.
func TestEnumsAgainstOpenSSH(t *testing.T) {
	forEachInstall(t, func(t *testing.T, in opensshtest.Install) {
		o := opensshtest.NewFor(t, in)
		v := installVersion(t, in)
		for _, d := range []Dialect{Server, Client} {
			cat := v.Catalogue(d)
			words := map[*Keyword][]string{}
			for _, k := range cat.Keywords() {
				switch {
				case k.Status != Supported || enumSkip[k.Name]:
					continue
				case k.Type == TypeTime:
					words[k] = []string{"1h1m5S"} // 3665
					continue
				case k.Type == TypeInt:
					words[k] = []string{"04096"} // decimal, leading zero
					continue
				case k.Type != TypeEnum && k.Type != TypeFlag:
					continue
				}
				ws := slices.Clone(k.Enum)
				if k.Type == TypeFlag {
					ws = []string{"yes", "no", "YES"}
					if d == Client {
						ws = append(ws, "true", "false")
					}
				}
				ws = append(ws, slices.Sorted(maps.Keys(k.Synonyms))...)
				words[k] = ws
			}
			checked := 0
			var trees, alone []map[*Keyword]string // keyword -> word, one map per tree
			for k, ws := range words {
				for j, w := range ws {
					if enumAlone[k.Name] {
						alone = append(alone, map[*Keyword]string{k: w})
						continue
					}
					for len(trees) <= j {
						trees = append(trees, map[*Keyword]string{})
					}
					trees[j][k] = w
				}
			}
			for _, tree := range append(trees, alone...) {
				var conf strings.Builder
				want := map[*Keyword]string{}
				for k, w := range tree {
					norm, err := Normalize(d, k, []string{w})
					if err != nil {
						t.Fatalf("%s %s %s: the catalogue refuses its own word: %v", v, d, k.Name, err)
					}
					fmt.Fprintf(&conf, "%s %s\n", k.Name, w)
					want[k] = strings.Join(norm, " ")
				}
				dump := enumDump(t, o, d, conf.String())
				for k, w := range want {
					printed, ok := dump[strings.ToLower(k.Name)]
					if !ok && k.Default == nil {
						continue // not printed by this release (DebianBanner before 10.0)
					}
					if have := printedNormal(k, printed); !slices.Equal(have, []string{w}) {
						t.Errorf("%s %s: %s %s: OpenSSH prints %q, the model's normal form is %q", v, d, k.Name, tree[k], have, w)
					}
					checked++
				}
			}
			t.Logf("%s %s: %d enum, flag, time and integer words checked", v, d, checked)
		}
	})
}

// enumDump asks OpenSSH for the effective configuration of conf.
func enumDump(t *testing.T, o *opensshtest.Oracle, d Dialect, conf string) opensshtest.Dump {
	t.Helper()
	dir := t.TempDir()
	tree := opensshtest.Tree{Files: map[string]string{"etc/ssh/sshd_config": "", "etc/ssh/ssh_config": ""}}
	if d == Server {
		tree.Files["etc/ssh/sshd_config"] = conf
	} else {
		tree.Files["etc/ssh/ssh_config"] = conf
	}
	must(t, tree.Write(dir))
	var dumps []opensshtest.Dump
	var err error
	if d == Server {
		dumps, err = o.ServerT(dir, []opensshtest.Conn{{}})
	} else {
		dumps, err = o.ClientG(dir, []string{"enum.invalid"})
	}
	if err != nil {
		t.Fatalf("OpenSSH refuses:\n%s\n%v", conf, err)
	}
	return dumps[0]
}
