package reconcile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/bench/gen/dpkg"
	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files"
)

// benchHosts writes an ssh_config of n Host blocks (HostName, User and, by
// turns, Port or ServerAliveInterval) and returns the desired state that
// sets two keywords the second-to-last block lacks: the plan must find it
// near the end and insert both (bench/gen -kind hosts, in small).
func benchHosts(b *testing.B, dir string, n int) *desired.State {
	var sb strings.Builder
	sb.WriteString("Include /etc/ssh/ssh_config.d/*.conf\n\n")
	for i := range n {
		fmt.Fprintf(&sb, "Host web-%06d web-%06d.example.net\n    HostName 10.0.%d.%d\n    User deploy\n", i, i, i>>8&255, i&255)
		if i%2 == 0 {
			fmt.Fprintf(&sb, "    Port %d\n", 2200+i%50)
		} else {
			sb.WriteString("    ServerAliveInterval 30\n")
		}
		sb.WriteByte('\n')
	}
	sb.WriteString("Host *\n    SendEnv LANG LC_*\n    HashKnownHosts yes\n")
	benchWrite(b, dir, map[string]string{"etc/ssh/ssh_config": sb.String(), "etc/ssh/ssh_config.d/.keep": ""})
	t := max(n-2, 0)
	return benchDesired(b, fmt.Sprintf("version: 1\nssh:\n  hosts:\n    - host: web-%06d web-%06d.example.net\n      settings:\n        ServerAliveInterval: 180\n        ServerAliveCountMax: 2\n", t, t))
}

// benchDropIns writes an sshd_config that includes n drop-ins, every tenth
// ending in a Match block, and returns the desired state that changes a
// keyword the first drop-in sets and one only the last sets (bench/gen
// -kind dropins, in small).
func benchDropIns(b *testing.B, dir string, n int) *desired.State {
	tree := map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n"}
	for i := range n {
		c := fmt.Sprintf("# drop-in %d\nClientAliveInterval %d\nMaxAuthTries %d\n", i, 60+i%5, 3+i%4)
		if i == n-1 {
			c += "LogLevel INFO\n"
		}
		if i%10 == 9 {
			c += fmt.Sprintf("Match User svc-%05d\n    PasswordAuthentication no\n", i)
		}
		tree[fmt.Sprintf("etc/ssh/sshd_config.d/%05d-bench.conf", i)] = c
	}
	benchWrite(b, dir, tree)
	return benchDesired(b, "version: 1\nsshd:\n  settings:\n    ClientAliveInterval: 300\n    LogLevel: VERBOSE\n")
}

func benchWrite(b *testing.B, dir string, tree map[string]string) {
	for name, content := range tree {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDesired(b *testing.B, yaml string) *desired.State {
	st, err := desired.Parse("desired.yaml", []byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// planCases are BenchmarkPlan's and BenchmarkDiff's inputs: ssh_configs
// of many Host blocks and sshd trees of many drop-ins.
var planCases = []struct {
	kind string
	ns   []int
	make func(*testing.B, string, int) *desired.State
}{
	{"hosts", []int{100, 10_000, 100_000}, benchHosts},
	{"dropins", []int{10, 1_000, 5_000}, benchDropIns},
}

// benchPlans runs f for every plan case, with the tree written and the
// desired state parsed, and reports ns per Host block or drop-in.
func benchPlans(b *testing.B, f func(b *testing.B, st *desired.State, opts Options)) {
	for _, c := range planCases {
		for _, n := range c.ns {
			b.Run(fmt.Sprintf("%s=%d", c.kind, n), func(b *testing.B) {
				dir := b.TempDir()
				st := c.make(b, dir, n)
				root, err := files.NewRoot(dir)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				f(b, st, Options{Root: root, Log: zerolog.Nop()})
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/unit")
			})
		}
	}
}

// benchPlan computes the plan and checks it: the two changes every case asks
// for.
func benchPlan(b *testing.B, st *desired.State, opts Options) *Plan {
	p, err := Compute(st, opts)
	if err != nil {
		b.Fatal(err)
	}
	if s := p.Summary(); s.Changed != 2 {
		var sb strings.Builder
		_ = p.WriteText(&sb)
		b.Fatalf("%d changes planned, want 2:\n%s", s.Changed, sb.String())
	}
	return p
}

// BenchmarkPlan measures what --check costs past process start and the
// OpenSSH checks: load, plan (edits and their verification included) and
// the text report.
func BenchmarkPlan(b *testing.B) {
	benchPlans(b, func(b *testing.B, st *desired.State, opts Options) {
		for b.Loop() {
			p := benchPlan(b, st, opts)
			if err := (Outcome{Check: true, Plan: p}).WriteText(&strings.Builder{}, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDiff measures rendering a plan's unified diff (--diff) of the
// files it changes.
func BenchmarkDiff(b *testing.B) {
	benchPlans(b, func(b *testing.B, st *desired.State, opts Options) {
		p := benchPlan(b, st, opts)
		b.ResetTimer()
		for b.Loop() {
			if d := p.Diff(); !strings.Contains(d, "+") {
				b.Fatalf("no diff:\n%s", d)
			}
		}
	})
}

// BenchmarkApply measures the agent's own part of an apply (--apply past
// the plan): each changed file rendered, checked against its bytes on
// disk, written atomically with its metadata, and its original kept in a
// backup. sshd's check and reload are left out (no SSHD: they are
// sshd's cost, measured end to end by bench/run.sh). Each loop puts the
// original files back, untimed.
func BenchmarkApply(b *testing.B) {
	benchPlans(b, func(b *testing.B, st *desired.State, opts Options) {
		p := benchPlan(b, st, opts)
		fsys, err := OpenFS(opts.Root)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = fsys.Close() })
		sys := &Host{FS: fsys, Log: zerolog.Nop()}
		o := ApplyOptions{Backup: Backup{FS: fsys, Dir: "/var/lib/sshconverge/backup", Keep: 2}, Log: zerolog.Nop()}
		for b.Loop() {
			res, err := Apply(context.Background(), p, sys, o)
			if err != nil || len(res.Written) != len(p.Files) {
				b.Fatalf("wrote %v, %v; want the plan's %d files", res.Written, err, len(p.Files))
			}
			b.StopTimer()
			for _, f := range p.Files {
				if err := restoreFile(fsys, f); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
	})
}

// planKeys are client keywords the second-to-last Host block of
// benchHosts lacks, with values that are not their defaults.
var planKeys = [][2]string{
	{"ServerAliveInterval", "180"}, {"ServerAliveCountMax", "2"}, {"ConnectTimeout", "9"}, {"ForwardAgent", "yes"},
	{"Compression", "yes"}, {"StrictHostKeyChecking", "accept-new"}, {"TCPKeepAlive", "no"}, {"LogLevel", "VERBOSE"},
	{"ConnectionAttempts", "3"}, {"ForwardX11", "yes"}, {"IdentitiesOnly", "yes"}, {"PasswordAuthentication", "no"},
	{"VisualHostKey", "yes"}, {"AddKeysToAgent", "yes"}, {"CheckHostIP", "yes"}, {"HashKnownHosts", "no"},
}

// BenchmarkPlanKeys measures what each further desired key costs: 1 to 16
// keys set in one block of the 100,000-block ssh_config. A plan that
// costs one evaluation grows by the placement of each key only.
func BenchmarkPlanKeys(b *testing.B) {
	for _, n := range []int{1, 2, 4, 8, 16} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			benchHosts(b, dir, 100_000)
			t := 100_000 - 2
			var sb strings.Builder
			fmt.Fprintf(&sb, "version: 1\nssh:\n  hosts:\n    - host: web-%06d web-%06d.example.net\n      settings:\n", t, t)
			for _, kv := range planKeys[:n] {
				fmt.Fprintf(&sb, "        %s: %s\n", kv[0], kv[1])
			}
			benchCompute(b, dir, benchDesired(b, sb.String()), func(p *Plan) error {
				if s := p.Summary(); s.Changed != n {
					return fmt.Errorf("%d changes planned, want %d", s.Changed, n)
				}
				return nil
			})
		})
	}
}

// BenchmarkPlanDebianHost measures the cron case's plan on a stock Debian
// host: the keepalive job on the demo tree, with dpkg's status file (its
// conffiles say which files packages own) of 1,500 packages. A plan reads
// that file on every run.
func BenchmarkPlanDebianHost(b *testing.B) {
	dir := b.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../examples/demo-root")); err != nil {
		b.Fatal(err)
	}
	var status strings.Builder
	if err := dpkg.WriteStatus(&status, 1500); err != nil {
		b.Fatal(err)
	}
	benchWrite(b, dir, map[string]string{"var/lib/dpkg/status": status.String()})
	yaml, err := os.ReadFile("../../examples/keepalive.yaml")
	if err != nil {
		b.Fatal(err)
	}
	benchCompute(b, dir, benchDesired(b, string(yaml)), func(p *Plan) error {
		written := make([]string, len(p.Files))
		for i, f := range p.Files {
			written[i] = f.Path
		}
		if s := p.Summary(); s.Changed != 5 || !slices.Contains(written, "/etc/ssh/ssh_config.d/00-sshconverge.conf") {
			return fmt.Errorf("%d changes to %v planned; want 5, the ssh side's in the agent's drop-in (dpkg owns ssh_config)", s.Changed, written)
		}
		return nil
	})
}

// benchCompute measures Compute of st on the tree at dir (the plan alone:
// no report), and checks every plan with check.
func benchCompute(b *testing.B, dir string, st *desired.State, check func(*Plan) error) {
	root, err := files.NewRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := Compute(st, Options{Root: root, Log: zerolog.Nop()})
		if err == nil {
			err = check(p)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLinkOut: the bare tree's check for links out of etc/ssh, which
// a first audit makes several times, on 5,000 drop-ins.
func BenchmarkLinkOut(b *testing.B) {
	dir := b.TempDir()
	benchDropIns(b, dir, 5000)
	etc := filepath.Join(dir, "etc/ssh")
	b.ReportAllocs()
	for b.Loop() {
		if link, _, err := linkOut(etc); link != "" || err != nil {
			b.Fatal(link, err)
		}
	}
}

// BenchmarkSweepTemp: a converging run's look for the temp files a killed
// run left, in a directory of 5,000 drop-ins and none.
func BenchmarkSweepTemp(b *testing.B) {
	dir := b.TempDir()
	benchDropIns(b, dir, 5000)
	root, err := files.NewRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	fsys, err := OpenFS(root)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if n, err := fsys.SweepTemp([]string{"/etc/ssh", "/etc/ssh/sshd_config.d"}); n != 0 || err != nil {
			b.Fatal(n, err)
		}
	}
}
