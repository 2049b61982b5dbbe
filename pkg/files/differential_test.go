package files

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// TestDifferentialServer generates random sshd_config trees and compares,
// for every keyword a tree sets and for every connection it is queried
// with, the model's effective value with real `sshd -T` (with and without
// -C). A keyword the model finds unset must show sshd's default.
func TestDifferentialServer(t *testing.T) {
	differential(t, Server)
}

// TestDifferentialClient does the same for ssh_config trees and `ssh -G`.
func TestDifferentialClient(t *testing.T) {
	differential(t, Client)
}

func differential(t *testing.T, d Dialect) {
	o := opensshtest.New(t)
	defaults := oracleDefaults(t, o, d)
	n := opensshtest.Count(t, 300)
	var trees, queries, values, skipped int
	var disagreements []string
	for i := 0; i < n && len(disagreements) < 20; i++ {
		r := rand.New(rand.NewPCG(uint64(i), uint64(d)))
		tree := opensshtest.Generate(r, d == Server)
		dir := t.TempDir()
		if err := tree.Write(dir); err != nil {
			t.Fatal(err)
		}
		root, err := NewRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		main := "/etc/ssh/sshd_config"
		if d == Client {
			main = "/etc/ssh/ssh_config"
		}
		cfg, loadErr := Load(root, main, d)
		var dumps []opensshtest.Dump
		if d == Server {
			dumps, err = o.ServerT(dir, tree.Conns)
		} else {
			dumps, err = o.ClientG(dir, tree.Hosts)
		}
		if err != nil && !opensshtest.IsQueryError(err) {
			t.Fatalf("tree %d: oracle: %v", i, err)
		}
		if (err != nil) != (loadErr != nil) {
			disagreements = append(disagreements, fmt.Sprintf("tree %d: OpenSSH says %v; model says %v\n%s", i, err, loadErr, tree))
			continue
		}
		if err != nil {
			continue // both reject it
		}
		trees++
		for qi, dump := range dumps {
			queries++
			var eff *Effective
			var query string
			if d == Server {
				c := tree.Conns[qi]
				eff = cfg.Server(Conn{User: c.User, Host: c.Host, Addr: c.Addr, LAddr: c.LAddr, LPort: c.LPort})
				query = "sshd -T " + c.String()
			} else {
				eff = cfg.Client(Target{Host: tree.Hosts[qi], LocalUser: "root"})
				query = "ssh -G " + tree.Hosts[qi]
			}
			for _, name := range tree.Set {
				k, ok := CatalogueFor(d).Lookup(name)
				if !ok {
					t.Fatalf("generator set unknown keyword %s", name)
				}
				want, comparable := expectedLines(d, k, eff, defaults)
				if _, set := eff.Get(k); !set && k.Name == "Hostname" {
					want = []string{strings.ToLower(tree.Hosts[qi])} // ssh -G prints the host
				}
				if !comparable {
					skipped++
					continue
				}
				values++
				if have := dump[strings.ToLower(k.Name)]; !slices.Equal(have, want) {
					origin := "unset"
					if v, ok := eff.Get(k); ok {
						origin = v.Origin().String()
					}
					disagreements = append(disagreements, fmt.Sprintf("tree %d, %s, %s: OpenSSH %q, model %q (from %s)\n%s", i, query, k.Name, have, want, origin, tree))
				}
			}
		}
	}
	t.Logf("differential %s: %d trees, %d queries, %d values compared, %d not comparable, %d disagreements", d, trees, queries, values, skipped, len(disagreements))
	for _, msg := range disagreements {
		t.Error(msg)
	}
	if trees < n*9/10 {
		t.Errorf("only %d of %d trees were accepted by OpenSSH", trees, n)
	}
}

// oracleDefaults returns what OpenSSH prints for an empty configuration.
func oracleDefaults(t *testing.T, o *opensshtest.Oracle, d Dialect) opensshtest.Dump {
	dir := t.TempDir()
	tree := opensshtest.Tree{Files: map[string]string{"etc/ssh/sshd_config": "", "etc/ssh/ssh_config": ""}}
	must(t, tree.Write(dir))
	var dumps []opensshtest.Dump
	var err error
	if d == Server {
		dumps, err = o.ServerT(dir, []opensshtest.Conn{{}})
	} else {
		dumps, err = o.ClientG(dir, []string{"defaults.invalid"})
	}
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	return dumps[0]
}

// expectedLines returns the lines `sshd -T` / `ssh -G` should print for k
// given the model's effective values: the value in OpenSSH's print format,
// or OpenSSH's default when the model finds k unset. comparable is false
// for values OpenSSH prints only after expanding them (algorithm lists
// with +/-/^, ~ and % tokens, ListenAddress).
func expectedLines(d Dialect, k *Keyword, eff *Effective, defaults opensshtest.Dump) (lines []string, comparable bool) {
	lower := strings.ToLower(k.Name)
	v, set := eff.Get(k)
	if set && k.None && len(v.Args) == 1 && v.Args[0] == "none" && d == Client {
		set = false // ssh stores none as unset
	}
	if !set {
		if lower == "serveraliveinterval" {
			if b, ok := eff.Get(mustKeyword(d, "BatchMode")); ok && b.Args[0] == "yes" {
				return []string{"300"}, true // Debian: BatchMode implies 300
			}
		}
		return defaults[lower], true
	}
	args := v.Args
	switch {
	case lower == "listenaddress":
		return nil, false
	case k.Type == TypeAlgorithms && strings.ContainsAny(args[0][:1], "+-^"):
		return nil, false
	case slices.ContainsFunc(args, func(a string) bool { return strings.ContainsAny(a, "~%") }):
		return nil, false
	case lower == "proxycommand" && args[0] == "none":
		return nil, true // ssh -G prints nothing for ProxyCommand none
	case lower == "hostname":
		return []string{strings.ToLower(args[0])}, true
	case lower == "identityfile":
		var uniq []string
		for _, a := range args {
			if !slices.Contains(uniq, a) {
				uniq = append(uniq, a)
			}
		}
		return uniq, true
	case k.Combine == Cumulative:
		return args, true
	}
	return []string{strings.Join(args, " ")}, true
}

func mustKeyword(d Dialect, name string) *Keyword {
	k, ok := CatalogueFor(d).Lookup(name)
	if !ok {
		panic("no keyword " + name)
	}
	return k
}
