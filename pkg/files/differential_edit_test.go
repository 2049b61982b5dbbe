package files

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// editValues are the values the edit differential test sets, per dialect.
var editValues = map[Dialect][][2]string{
	Server: {
		{"ClientAliveInterval", "7m"}, {"ClientAliveCountMax", "5"}, {"PermitRootLogin", "no"},
		{"X11Forwarding", "no"}, {"MaxAuthTries", "4"}, {"Banner", "/etc/issue.sshconverge"},
		{"LogLevel", "VERBOSE"}, {"AllowUsers", "zed"}, {"PasswordAuthentication", "no"},
	},
	Client: {
		{"ServerAliveInterval", "77"}, {"ServerAliveCountMax", "4"}, {"Hostname", "target.example.net"},
		{"User", "sshconverge"}, {"Port", "2200"}, {"ForwardAgent", "no"}, {"ConnectTimeout", "9"},
		{"StrictHostKeyChecking", "accept-new"},
	},
}

// mustCriteriaIn parses a scope's criteria as the catalogue's release does.
func mustCriteriaIn(cat *Catalogue, s string) []Criterion {
	c, err := cat.ParseCriteria(s)
	if err != nil {
		panic(err)
	}
	return c
}

// editScopes returns the scopes to try on a tree: the global section, some
// new blocks, and the blocks the tree already has.
func editScopes(r *rand.Rand, d Dialect, c *Config) Scope {
	var scopes []Scope
	if d == Server {
		scopes = []Scope{{}, {Match: "User backup"}, {Match: "User alice"}, {Match: "Address 192.0.2.0/24"}, {Match: "Host *.example.com"}}
	} else {
		scopes = []Scope{{Host: "examplehost"}, {Host: "web1.example.com"}, {Host: "db.internal bastion"}}
	}
	for _, f := range c.Files {
		for _, l := range f.Lines {
			if isHeader(l) && l.Args() != nil && !strings.ContainsAny(l.Value(), `"'#`) {
				if strings.EqualFold(l.Keyword(), "host") {
					scopes = append(scopes, Scope{Host: strings.Join(l.Args(), " ")})
				} else if d == Server && !strings.EqualFold(l.Value(), "all") {
					scopes = append(scopes, Scope{Match: l.Value()})
				}
			}
		}
	}
	return scopes[r.IntN(len(scopes))]
}

// TestDifferentialEdits proves edits against real OpenSSH: on random trees
// it sets a value in a random scope, writes the files, and checks with
// sshd -T / ssh -G that OpenSSH accepts them, that the value takes effect
// for a connection or host the scope selects, and that nothing changes for
// the queried connections or hosts the scope does not select. A reported
// conflict must match what OpenSSH shows: the value does not hold before.
func TestDifferentialEdits(t *testing.T) {
	forEachInstall(t, differentialEdits)
}

func differentialEdits(t *testing.T, in opensshtest.Install) {
	o := opensshtest.NewFor(t, in)
	v := installVersion(t, in)
	n := opensshtest.CountFor(t, in, 300, 100)
	for _, d := range []Dialect{Server, Client} {
		start := time.Now()
		cat := v.Catalogue(d)
		defaults := oracleDefaults(t, o, d)
		var applied, conflicts, skipped, checked int
		var failures []string
		for i := 0; i < n && len(failures) < 10; i++ {
			r := rand.New(rand.NewPCG(uint64(i), 1000+uint64(d)))
			tree := opensshtest.GenerateFor(r, d == Server, genFor(cat, in.Version))
			main := "/etc/ssh/sshd_config"
			if d == Client {
				main = "/etc/ssh/ssh_config"
			}
			dir := t.TempDir()
			must(t, tree.Write(dir))
			root, err := NewRoot(dir)
			must(t, err)
			cfg, err := LoadWith(root, main, d, LoadOptions{Version: v})
			if err != nil {
				skipped++
				continue
			}
			// ssh -G runs as root: a value must take effect for root (by
			// default the model wants it for other accounts too, which
			// Match localuser can tell apart).
			cfg = cfg.WithLocalUsers([]string{"root"})
			kv := editValues[d][r.IntN(len(editValues[d]))]
			if kv[0] == "PasswordAuthentication" && slices.Contains(tree.Set, "AuthenticationMethods") {
				// sshd refuses AuthenticationMethods naming a method whose
				// flag is no, a rule the model does not know (validation
				// with sshd -t catches it before anything is written).
				kv = editValues[d][0]
			}
			scope := editScopes(r, d, cfg)
			k := mustKeywordIn(cat, kv[0])
			want, err := Normalize(d, k, strings.Fields(kv[1]))
			must(t, err)

			// The queries: the tree's own plus a probe the scope selects.
			var conns []opensshtest.Conn
			var hosts []string
			var selected []bool
			exact, probeConn := true, Conn{}
			if d == Server {
				p, err := cat.ProbeConn(scope)
				if err != nil {
					skipped++
					continue
				}
				// With Match LocalPort in the tree, sshd -T wants lport in
				// every query; then the probe's value is checked against
				// the model rather than against the desired value.
				if tree.Conns[0].LPort != 0 && p.LPort == 0 {
					p.LPort, exact = 22, false
				}
				probeConn = p
				conns = append(slices.Clone(tree.Conns), opensshtest.Conn{User: p.User, Host: p.Host, Addr: p.Addr, LAddr: p.LAddr, LPort: p.LPort, Groups: p.Groups})
				for _, c := range conns {
					selected = append(selected, scope.Global() || serverMatch(mustCriteriaIn(cat, scope.Match), Conn{User: c.User, Host: c.Host, Addr: c.Addr, LAddr: c.LAddr, LPort: c.LPort}))
				}
			} else {
				hosts = append(slices.Clone(tree.Hosts), cat.ProbeHost(scope))
				for _, h := range hosts {
					selected = append(selected, matchHostPatterns(h, strings.Fields(scope.Host)))
				}
			}
			query := func() []opensshtest.Dump {
				var dumps []opensshtest.Dump
				var err error
				if d == Server {
					dumps, err = o.ServerT(dir, conns)
				} else {
					dumps, err = o.ClientG(dir, hosts)
				}
				if err != nil {
					t.Fatalf("tree %d: OpenSSH rejects the tree: %v\n%s", i, err, tree)
				}
				return dumps
			}
			before := query()
			probe := len(before) - 1
			lower := strings.ToLower(k.Name)
			printed := func(args []string) []string {
				e := newEffective(1)
				e.cat = cat
				e.values[k] = &Value{Keyword: k, Args: args}
				lines, _ := expectedLines(cat, k, e, nil)
				return lines
			}

			draft := NewDraft(cfg)
			edits, err := draft.Set(scope, k.Name, strings.Fields(kv[1]), "")
			if cf, ok := err.(*Conflict); ok {
				conflicts++
				if exact && slices.Equal(printedNormal(k, before[probe][lower]), printed(want)) {
					failures = append(failures, fmt.Sprintf("tree %d: Set %s %s in %s: conflict (%v), but OpenSSH already has the value\n%s", i, k.Name, kv[1], scope, cf, tree))
				}
				continue
			} else if err != nil {
				t.Fatalf("tree %d: Set: %v", i, err)
			}
			applied++
			for _, f := range draft.FileChanges() {
				must(t, os.WriteFile(root.HostPath(f.Path), f.After(), 0o644))
			}
			after := query()
			wantLines := printed(want)
			if !exact {
				wantLines, _ = expectedLines(cat, k, draft.Config().Server(probeConn), defaults)
			}
			if got := printedNormal(k, after[probe][lower]); !slices.Equal(got, wantLines) {
				failures = append(failures, fmt.Sprintf("tree %d: Set %s %s in %s: OpenSSH then has %q for the probe, want %q; edits %v\n%s", i, k.Name, kv[1], scope, got, wantLines, edits, tree))
			}
			for qi := range before {
				checked++
				changed := !maps.EqualFunc(before[qi], after[qi], slices.Equal)
				if !changed || selected[qi] {
					continue
				}
				for key := range before[qi] {
					if !slices.Equal(before[qi][key], after[qi][key]) {
						failures = append(failures, fmt.Sprintf("tree %d: Set %s %s in %s changed %s for query %d (not selected): %q -> %q; edits %v\n%s", i, k.Name, kv[1], scope, key, qi, before[qi][key], after[qi][key], edits, tree))
					}
				}
			}
		}
		t.Logf("edit differential %s, OpenSSH %s: %d edits applied and confirmed, %d conflicts confirmed, %d queries compared, %d trees skipped, %v",
			d, in.Version, applied, conflicts, checked, skipped, time.Since(start).Round(time.Second))
		for _, f := range failures {
			t.Error(f)
		}
		if applied < n/3 {
			t.Errorf("%s: only %d of %d edits applied", d, applied, n)
		}
	}
}
