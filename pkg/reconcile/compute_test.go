package reconcile

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

func plan(t *testing.T, tree map[string]string, yaml string) *Plan {
	t.Helper()
	dir := t.TempDir()
	if err := (opensshtest.Tree{Files: tree}).Write(dir); err != nil {
		t.Fatal(err)
	}
	p, _ := computeIn(t, dir, yaml)
	return p
}

func TestCompute(t *testing.T) {
	p := plan(t, map[string]string{
		"etc/ssh/sshd_config":             "Include /etc/ssh/sshd_config.d/*.conf\nX11Forwarding yes\nMatch all\n\tMaxAuthTries 9\n",
		"etc/ssh/sshd_config.d/10-a.conf": "ClientAliveInterval 120\n",
	}, `version: 1
sshd:
  settings:
    ClientAliveInterval: 5m
    ClientAliveCountMax: 3
    MaxAuthTries: 4
  absent: [X11Forwarding, Banner]
  match:
    - criteria: User backup
      settings: {ClientAliveInterval: 300}
`)
	type row struct {
		Scope, Keyword, Effective, Origin string
		Default                           bool
		Status                            Status
		Action                            Action
	}
	var got []row
	for _, c := range p.Changes {
		got = append(got, row{c.Scope.String(), c.Keyword, strings.Join(c.Effective, " "), c.Origin, c.Default, c.Status, c.Action})
	}
	want := []row{
		{"global", "ClientAliveInterval", "120", "/etc/ssh/sshd_config.d/10-a.conf:1", false, Changed, Update},
		// The default is the desired value: nothing to do.
		{"global", "ClientAliveCountMax", "3", "", true, InSync, NoOp},
		// Match all decides MaxAuthTries for everyone: a conflict.
		{"global", "MaxAuthTries", "9", "/etc/ssh/sshd_config:4", false, Conflicted, Conflict},
		{"global", "X11Forwarding", "yes", "/etc/ssh/sshd_config:2", false, Changed, Remove},
		{"global", "Banner", "none", "", true, InSync, NoOp},
		// Observed as on disk (120); the global edit above brings backup
		// to 300 too, so it needs no edit of its own, but it is a change,
		// not "ok".
		{"Match User backup", "ClientAliveInterval", "120", "/etc/ssh/sshd_config.d/10-a.conf:1", false, Changed, NoOp},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	if ok, changed, conflict := p.Summary(); ok != 2 || changed != 3 || conflict != 1 || p.InSync() {
		t.Errorf("summary %d/%d/%d, in sync %v", ok, changed, conflict, p.InSync())
	}
	if r := p.Changes[2].Reason; !strings.Contains(r, "/etc/ssh/sshd_config:4 wins") {
		t.Errorf("conflict reason %q does not name the winning line", r)
	}
	wantDiff := `--- a/etc/ssh/sshd_config
+++ b/etc/ssh/sshd_config
@@ -1,4 +1,3 @@
 Include /etc/ssh/sshd_config.d/*.conf
-X11Forwarding yes
 Match all
 	MaxAuthTries 9
--- a/etc/ssh/sshd_config.d/10-a.conf
+++ b/etc/ssh/sshd_config.d/10-a.conf
@@ -1 +1 @@
-ClientAliveInterval 120
+ClientAliveInterval 5m
`
	if diff := cmp.Diff(wantDiff, p.Diff()); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	var text bytes.Buffer
	if err := p.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(text.String(), "ok=2 changed=3 conflict=1\n") {
		t.Errorf("text report ends %q", text.String())
	}
	// The key another change brings in line says so, and never "ok".
	if !regexp.MustCompile(`(?m)^changed +sshd +Match User backup +ClientAliveInterval +120 -> 300  \(brought in line by the other changes\)$`).MatchString(text.String()) {
		t.Errorf("text report:\n%s", text.String())
	}
}

func TestComputeInSync(t *testing.T) {
	p := plan(t, map[string]string{
		"etc/ssh/sshd_config": "ClientAliveInterval 5m\n",
		"etc/ssh/ssh_config":  "Host examplehost\n  ServerAliveInterval 3m\n",
	}, "version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\nssh:\n  hosts:\n    - host: examplehost\n      settings: {ServerAliveInterval: 180}\n")
	if !p.InSync() || len(p.Files) != 0 || p.Diff() != "" {
		t.Fatalf("want in sync with no file changes: %+v", p)
	}
}

func TestComputeDropInNeedsItsDirectory(t *testing.T) {
	// The Include names a directory that does not exist: the keyword goes
	// into the main file instead of a drop-in that could not be written.
	p := plan(t, map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n"},
		"version: 1\nsshd:\n  settings: {ClientAliveCountMax: 2}\n")
	if len(p.Files) != 1 || p.Files[0].Path != "/etc/ssh/sshd_config" {
		t.Fatalf("files: %+v", p.Files)
	}
	p = plan(t, map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n", "etc/ssh/sshd_config.d/.keep": ""},
		"version: 1\nsshd:\n  settings: {ClientAliveCountMax: 2}\n")
	if len(p.Files) != 1 || p.Files[0].Path != "/etc/ssh/sshd_config.d/"+DropInName || !strings.HasPrefix(string(p.Files[0].After), DropInHeader+"\n") {
		t.Fatalf("files: %+v", p.Files)
	}
}
