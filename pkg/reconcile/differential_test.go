package reconcile

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// candidates are the keys the check differential desires, with values to
// pick from; OpenSSH prints each on one line, in normal form.
var candidates = map[files.Dialect]map[string][]string{
	files.Server: {
		"ClientAliveInterval":    {"0", "300", "5m", "60", "2h"},
		"ClientAliveCountMax":    {"0", "2", "3", "9"},
		"MaxAuthTries":           {"3", "6", "10"},
		"PermitRootLogin":        {"no", "yes", "prohibit-password", "without-password", "forced-commands-only"},
		"X11Forwarding":          {"yes", "no"},
		"PasswordAuthentication": {"yes", "no"},
		"LogLevel":               {"INFO", "VERBOSE", "debug1"},
		"LoginGraceTime":         {"120", "2m", "30"},
	},
	files.Client: {
		"ServerAliveInterval":   {"0", "180", "3m", "300"},
		"ServerAliveCountMax":   {"2", "3", "5"},
		"Port":                  {"22", "2222"},
		"ForwardAgent":          {"yes", "no"},
		"ConnectTimeout":        {"10", "30"},
		"StrictHostKeyChecking": {"ask", "accept-new", "yes"},
		"Compression":           {"yes", "no"},
	},
}

// TestDifferentialCheck proves the audit against real OpenSSH: for random
// trees and random desired files (half of the values taken from what
// OpenSSH reports now, so that many keys are in sync), the plan says a key
// is in sync exactly when sshd -T / ssh -G, asked for a connection or host
// the key's scope selects, print the desired value.
//
// It runs for every OpenSSH release opensshtest.Installs offers (a subtest
// each): trees of that release's keywords, the desired state parsed and
// the plan computed for it.
func TestDifferentialCheck(t *testing.T) {
	for _, in := range opensshtest.Installs(t) {
		t.Run(in.Version, func(t *testing.T) { differentialCheck(t, in) })
	}
}

// genFor returns generator options for the catalogue's release (see
// pkg/files' differential tests).
func genFor(cat *files.Catalogue, version string) opensshtest.GenOptions {
	return opensshtest.GenOptions{
		Version: version,
		Keyword: func(name string) (string, bool, bool) {
			k, ok := cat.Resolve(name)
			if !ok {
				return "", false, false
			}
			return k.Name, k.InMatch, true
		},
		Alias: func(alias, name string) bool {
			k, ok := cat.Lookup(alias)
			r, _ := cat.Resolve(name)
			return ok && k == r && !strings.EqualFold(k.Name, alias)
		},
	}
}

func differentialCheck(t *testing.T, in opensshtest.Install) {
	o := opensshtest.NewFor(t, in)
	v, err := files.ParseVersion(in.Version)
	if err != nil {
		t.Fatal(err)
	}
	n := opensshtest.CountFor(t, in, 300, 100)
	for _, d := range []files.Dialect{files.Server, files.Client} {
		start := time.Now()
		cat := v.Catalogue(d)
		var trees, keys, inSync, drift, refused int
		var failures []string
		for i := 0; i < n && len(failures) < 10; i++ {
			r := rand.New(rand.NewPCG(uint64(i), 2000+uint64(d)))
			tree := opensshtest.GenerateFor(r, d == files.Server, genFor(cat, in.Version))
			dir := t.TempDir()
			if err := tree.Write(dir); err != nil {
				t.Fatal(err)
			}
			root, err := files.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			// Scopes and the probe each stands for.
			scopes := []files.Scope{{}, {Match: "User backup"}, {Match: "Address 192.0.2.0/24"}}
			if d == files.Client {
				scopes = []files.Scope{{Host: "examplehost"}, {Host: "web1.example.com"}, {Host: "db.internal"}}
			}
			needLPort := d == files.Server && tree.Conns[0].LPort != 0
			var conns []opensshtest.Conn
			var hosts []string
			for _, sc := range scopes {
				if d == files.Server {
					c, err := cat.ProbeConn(sc)
					if err != nil {
						t.Fatal(err)
					}
					if needLPort {
						c.LPort = 22
					}
					conns = append(conns, opensshtest.Conn{User: c.User, Host: c.Host, Addr: c.Addr, LAddr: c.LAddr, LPort: c.LPort, Groups: c.Groups})
				} else {
					hosts = append(hosts, cat.ProbeHost(sc))
				}
			}
			if needLPort {
				continue // the plan's probes carry no lport; sshd -T insists on one here
			}
			var dumps []opensshtest.Dump
			if d == files.Server {
				dumps, err = o.ServerT(dir, conns)
			} else {
				dumps, err = o.ClientG(dir, hosts)
			}
			if opensshtest.IsQueryError(err) {
				refused++ // a form the release refuses (before 8.7, a quoted IPQoS); pkg/files' differential tests check the model refuses it too
				continue
			} else if err != nil {
				t.Fatalf("tree %d: %v", i, err)
			}
			yaml, want := desiredFor(r, cat, scopes, dumps)
			st, err := desired.ParseFor("desired.yaml", []byte(yaml), v)
			if err != nil {
				t.Fatalf("tree %d: generated desired state is invalid: %v\n%s", i, err, yaml)
			}
			plan, err := Compute(st, Options{Root: root, Version: v, LocalUsers: []string{"root"}, Log: zerolog.Nop()})
			if err != nil {
				t.Fatalf("tree %d: %v", i, err)
			}
			trees++
			runSync := true
			for _, c := range plan.Changes {
				keys++
				oracleSync := want[c.Scope.String()+" "+c.Keyword]
				runSync = runSync && oracleSync
				if oracleSync {
					inSync++
				} else {
					drift++
				}
				// The value the plan observed is OpenSSH's (when known),
				// and the key is "ok" exactly when OpenSSH has the desired
				// value; a key it disagrees with is changed (by its own
				// edits or an earlier key's) or a conflict.
				si := slices.Index(scopes, c.Scope)
				printed := printedNormal(cat, c.Keyword, dumps[si][strings.ToLower(c.Keyword)])
				if c.Effective != nil && !slices.Equal(c.Effective, printed) || (c.Status == InSync) != oracleSync {
					failures = append(failures, fmt.Sprintf("tree %d: %s %s: plan says %s/%s (effective %q from %q), OpenSSH has %q\n%s\n%s",
						i, c.Scope, c.Keyword, c.Status, c.Action, c.Effective, c.Origin, printed, yaml, tree))
				}
			}
			// A run is in sync exactly when OpenSSH agrees on every key.
			if plan.InSync() != runSync {
				failures = append(failures, fmt.Sprintf("tree %d: plan in sync=%v, OpenSSH in sync=%v\n%s\n%s", i, plan.InSync(), runSync, yaml, tree))
			}
		}
		t.Logf("check differential %s, OpenSSH %s: %d trees, %d keys (%d in sync, %d drifted per OpenSSH), %d disagreements, %d trees refused by OpenSSH, %v",
			d, in.Version, trees, keys, inSync, drift, len(failures), refused, time.Since(start).Round(time.Second))
		if refused > 1+n/10 {
			t.Errorf("%s: OpenSSH refused %d of %d trees", d, refused, n)
		}
		for _, f := range failures {
			t.Error(f)
		}
		if inSync == 0 || drift == 0 {
			t.Errorf("%s: the test needs both in-sync and drifted keys (got %d and %d)", d, inSync, drift)
		}
	}
}

// printedNormal returns what OpenSSH printed for keyword name with flags
// as yes/no (OpenSSH 10.6 prints some as true/false).
func printedNormal(cat *files.Catalogue, name string, lines []string) []string {
	k, ok := cat.Lookup(name)
	if !ok || len(lines) != 1 || k.Type != files.TypeFlag {
		return lines
	}
	switch lines[0] {
	case "true":
		return []string{"yes"}
	case "false":
		return []string{"no"}
	}
	return lines
}

// desiredFor writes a desired-state file over scopes and returns, per
// "scope keyword", whether OpenSSH (dumps, one per scope) has the value.
func desiredFor(r *rand.Rand, cat *files.Catalogue, scopes []files.Scope, dumps []opensshtest.Dump) (string, map[string]bool) {
	d := cat.Dialect()
	want := map[string]bool{}
	var b strings.Builder
	b.WriteString("version: 1\n")
	side := map[files.Dialect]string{files.Server: "sshd", files.Client: "ssh"}[d]
	fmt.Fprintf(&b, "%s:\n", side)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range candidates[d] {
			if !yield(k) {
				return
			}
		}
	})
	pick := func(si int) (lines []string) {
		for _, name := range names {
			if r.IntN(3) != 0 {
				continue
			}
			k, _ := cat.Lookup(name)
			if d == files.Server && !scopes[si].Global() && !k.InMatch {
				continue
			}
			printed := printedNormal(cat, name, dumps[si][strings.ToLower(name)])
			val := candidates[d][name][r.IntN(len(candidates[d][name]))]
			if r.IntN(2) == 0 && len(printed) == 1 {
				val = printed[0] // what OpenSSH has now
			}
			norm, err := files.Normalize(d, k, []string{val})
			if err != nil {
				panic(err)
			}
			want[scopes[si].String()+" "+k.Name] = slices.Equal(printed, norm)
			lines = append(lines, fmt.Sprintf("%s: %q", name, val))
		}
		return lines
	}
	var blocks strings.Builder
	for si, sc := range scopes {
		lines := pick(si)
		if len(lines) == 0 {
			continue
		}
		if sc.Global() {
			fmt.Fprintf(&b, "  settings:\n    %s\n", strings.Join(lines, "\n    "))
			continue
		}
		key, val := "criteria", sc.Match
		if d == files.Client {
			key, val = "host", sc.Host
		}
		fmt.Fprintf(&blocks, "    - %s: %s\n      settings:\n        %s\n", key, val, strings.Join(lines, "\n        "))
	}
	if blocks.Len() > 0 {
		fmt.Fprintf(&b, "  %s:\n%s", map[files.Dialect]string{files.Server: "match", files.Client: "hosts"}[d], blocks.String())
	}
	return b.String(), want
}
