package reconcile

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// TestDistroTreesEveryVersion: every distribution tree, planned for each
// OpenSSH release the tests can run, converges (the keepalive settings
// applied, a second plan empty) and that release's own sshd -T / ssh -G
// (in its chroot) confirm the values: the global ones, the Match block's
// for its user, the Host block's for its host. A tree a release cannot
// read (RHEL's crypto policy names PubkeyAcceptedAlgorithms, which 8.4
// calls otherwise; Debian's 10.6 is built without GSSAPI) is refused by
// the agent with the keyword and the release named: never converged
// wrongly. A tree whose own lines the release's binary rejects in a way
// the model does not check (a removed algorithm) is logged: the agent
// wrote nothing the binary refused.
func TestDistroTreesEveryVersion(t *testing.T) {
	installs := opensshtest.Installs(t)
	for _, in := range installs {
		o := opensshtest.NewFor(t, in)
		v, err := files.ParseVersion(in.Version)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(in.Version, func(t *testing.T) {
			for _, tree := range opensshtest.DistroTrees() {
				t.Run(tree, func(t *testing.T) { convergeTree(t, o, v, tree) })
			}
		})
	}
}

func convergeTree(t *testing.T, o *opensshtest.Oracle, v files.Version, tree string) {
	dir := opensshtest.CopyDistroTree(t, tree)
	root, err := files.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	server, client := hasMain(root, "sshd_config"), hasMain(root, "ssh_config")
	yaml := keepaliveFor(server, client)
	st, err := desired.ParseFor("keepalive.yaml", []byte(yaml), v)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Root: root, Version: v, Log: zerolog.Nop()}
	p, err := Compute(st, opts)
	if err != nil {
		if !releaseRefusal.MatchString(err.Error()) {
			t.Fatalf("plan: %v", err)
		}
		t.Logf("refused for OpenSSH %s: %v", v, err)
		return
	}
	if _, err := Apply(context.Background(), p, &fakeSystem{fs: openFS(t, root)}, ApplyOptions{Log: zerolog.Nop()}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	again, err := Compute(st, opts)
	if err != nil || !again.InSync() || len(again.Files) != 0 {
		t.Fatalf("second plan not empty (%v): %+v", err, again)
	}
	switch {
	case server && strings.HasPrefix(again.ServerConfig, "/usr/etc/"):
		t.Logf("%s: Debian's sshd has no vendor directory: the files are checked by the model only", again.ServerConfig)
	case server:
		checkServer(t, o, dir, p)
	}
	switch {
	case client && strings.HasPrefix(again.ClientConfig, "/usr/etc/"):
		t.Logf("%s: Debian's ssh has no vendor directory: the files are checked by the model only", again.ClientConfig)
	case client:
		checkClient(t, o, dir, p)
	}
}

// releaseRefusal matches the agent's refusal of a configuration an OpenSSH
// release cannot read.
var releaseRefusal = regexp.MustCompile(`(needs OpenSSH [0-9.]+ or later|is not known to OpenSSH [0-9.]+ and later|was removed in OpenSSH [0-9.]+)[^;]*; this host runs`)

// hasMain reports whether the tree has the main file (in /etc/ssh or the
// vendor directory).
func hasMain(root *files.Root, name string) bool {
	for _, d := range []string{"/etc/ssh/", "/usr/etc/ssh/"} {
		if _, err := root.Stat(d + name); err == nil {
			return true
		}
	}
	return false
}

func keepaliveFor(server, client bool) string {
	srv, cli, _ := strings.Cut(keepalive, "\nssh:")
	yaml := "version: 1\n"
	if server {
		yaml = srv + "\n"
	}
	if client {
		yaml += "ssh:" + cli
	}
	return yaml
}

// rejectedLine is "FILE line N" in OpenSSH's refusal.
var rejectedLine = regexp.MustCompile(`(/\S+) line (\d+):`)

// theTreesOwn reports whether OpenSSH rejected a line the agent did not
// write (the tree's own, which the release's binary refuses), and logs it.
func theTreesOwn(t *testing.T, err error, p *Plan) bool {
	t.Helper()
	m := rejectedLine.FindStringSubmatch(err.Error())
	if m == nil || !opensshtest.IsQueryError(err) {
		return false
	}
	for _, f := range p.Files {
		if f.Path == m[1] && f.New {
			return false // a file the agent made
		}
	}
	for _, c := range p.Changes {
		for _, e := range c.Edits {
			if e.File == m[1] && strconv.Itoa(e.Line) == m[2] {
				return false // a line the agent wrote
			}
		}
	}
	t.Logf("the release's binary rejects the tree's own %s line %s, which the model does not check: %v", m[1], m[2], err)
	return true
}

func checkServer(t *testing.T, o *opensshtest.Oracle, dir string, p *Plan) {
	t.Helper()
	ds, err := o.ServerT(dir, []opensshtest.Conn{{}, {User: "backup", Host: "x", Addr: "192.0.2.1"}})
	if err != nil {
		if theTreesOwn(t, err, p) {
			return
		}
		if opensshtest.IsQueryError(err) {
			t.Fatalf("sshd rejects the converged tree: %v", err)
		}
		t.Fatal(err)
	}
	for i, want := range []map[string]string{{"clientaliveinterval": "300", "clientalivecountmax": "2"}, {"clientaliveinterval": "60"}} {
		for k, v := range want {
			if got := ds[i].Value(k); got != v {
				t.Errorf("sshd -T %v: %s %s, want %s", []string{"(no -C)", "-C user=backup"}[i], k, got, v)
			}
		}
	}
}

func checkClient(t *testing.T, o *opensshtest.Oracle, dir string, p *Plan) {
	t.Helper()
	ds, err := o.ClientG(dir, []string{"examplehost"})
	if err != nil {
		if theTreesOwn(t, err, p) {
			return
		}
		t.Fatal(err)
	}
	for k, v := range map[string]string{"hostname": "examplehost.com", "serveraliveinterval": "180", "serveralivecountmax": "2"} {
		if got := ds[0].Value(k); got != v {
			t.Errorf("ssh -G examplehost: %s %s, want %s", k, got, v)
		}
	}
}
