package reconcile

import (
	"bytes"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files"
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
	if s := p.Summary(); s != (Summary{OK: 2, Changed: 3, Conflict: 1}) || p.InSync() {
		t.Errorf("summary %+v, in sync %v", s, p.InSync())
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
	if len(p.Files) != 1 || p.Files[0].Path != "/etc/ssh/sshd_config.d/"+DropInName || !strings.HasPrefix(string(p.Files[0].After()), DropInHeader+"\n") {
		t.Fatalf("files: %+v", p.Files)
	}
}

// sidePlanFor runs the rules up to and including last over a tree, for
// the rules' own tests.
func sidePlanFor(t *testing.T, tree map[string]string, yaml string, last func(*sidePlan) error) *sidePlan {
	t.Helper()
	dir := t.TempDir()
	if err := (opensshtest.Tree{Files: tree}).Write(dir); err != nil {
		t.Fatal(err)
	}
	st, err := desired.Parse("d.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	root, err := files.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	side := st.Server
	if side == nil {
		side = st.Client
	}
	sp := &sidePlan{side: side, name: sideOf(side.Dialect), opts: Options{Root: root, Log: zerolog.Nop()}}
	for _, r := range rules {
		if err := r.apply(sp); err != nil {
			t.Fatalf("rule %q: %v", r.name, err)
		}
		if reflect.ValueOf(r.apply).Pointer() == reflect.ValueOf(last).Pointer() {
			return sp
		}
	}
	t.Fatal("no such rule")
	return nil
}

func TestRuleRead(t *testing.T) {
	for _, tt := range []struct {
		config, pidFile string
	}{
		{"PidFile /var/run/other.pid\n", "/var/run/other.pid"},
		{"Port 22\n", "/run/sshd.pid"},
	} {
		sp := sidePlanFor(t, map[string]string{"etc/ssh/sshd_config": tt.config}, "version: 1\nsshd: {}\n", (*sidePlan).read)
		if sp.pidFile != tt.pidFile || sp.cfg == nil || sp.draft == nil {
			t.Errorf("%q: pid file %q, want %q", tt.config, sp.pidFile, tt.pidFile)
		}
	}
}

func TestRuleObserve(t *testing.T) {
	tree := map[string]string{
		"etc/ssh/sshd_config":             "Include /etc/ssh/sshd_config.d/*.conf\nClientAliveInterval 60\nMatch User backup\n\tClientAliveInterval 10\n",
		"etc/ssh/sshd_config.d/10-a.conf": "ClientAliveInterval 120\n",
	}
	sp := sidePlanFor(t, tree, `version: 1
sshd:
  settings: {ClientAliveInterval: 300, ClientAliveCountMax: 2}
  absent: [Banner]
  match:
    - criteria: User backup
      settings: {ClientAliveInterval: 300}
`, (*sidePlan).observe)
	type row struct {
		scope, key, effective, origin string
		def                           bool
	}
	var got []row
	for _, c := range sp.changes {
		got = append(got, row{c.Scope.String(), c.Keyword, strings.Join(c.Effective, " "), c.Origin, c.Default})
	}
	want := []row{
		{"global", "ClientAliveInterval", "120", "/etc/ssh/sshd_config.d/10-a.conf:1", false}, // the drop-in wins
		{"global", "ClientAliveCountMax", "3", "", true},                                      // OpenSSH's default
		{"global", "Banner", "none", "", true},
		{"Match User backup", "ClientAliveInterval", "10", "/etc/ssh/sshd_config:4", false}, // the Match block overrides
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(row{})); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
}

func TestRuleUseDropIn(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tree   map[string]string
		dropIn string
	}{
		{"include first, directory exists", map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\n", "etc/ssh/sshd_config.d/.keep": ""}, "/etc/ssh/sshd_config.d/" + DropInName},
		{"relative include", map[string]string{"etc/ssh/sshd_config": "Include sshd_config.d/*.conf\n", "etc/ssh/sshd_config.d/.keep": ""}, "/etc/ssh/sshd_config.d/" + DropInName},
		{"directory missing", map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\n"}, ""},
		{"no include", map[string]string{"etc/ssh/sshd_config": "Port 22\n", "etc/ssh/sshd_config.d/.keep": ""}, ""},
		{"include only inside a block", map[string]string{"etc/ssh/sshd_config": "Match User x\n\tInclude /etc/ssh/sshd_config.d/*.conf\n", "etc/ssh/sshd_config.d/.keep": ""}, ""},
		{"not a *.conf glob", map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*\n", "etc/ssh/sshd_config.d/.keep": ""}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sp := sidePlanFor(t, tt.tree, "version: 1\nsshd: {}\n", (*sidePlan).useDropIn)
			if sp.dropIn != tt.dropIn {
				t.Fatalf("drop-in %q, want %q", sp.dropIn, tt.dropIn)
			}
			if len(sp.files()) != 0 {
				t.Fatalf("an unused drop-in is a file change: %+v", sp.files())
			}
		})
	}
}

func TestRuleEditClassifies(t *testing.T) {
	upd := []files.Edit{{Kind: files.EditUpdate, File: "/f", Line: 1}}
	rm := []files.Edit{{Kind: files.EditRemove, File: "/f", Line: 1}}
	ins := []files.Edit{{Kind: files.EditInsert, File: "/f", Line: 1}}
	for _, tt := range []struct {
		name      string
		c         Change
		edits     []files.Edit
		err       error
		status    Status
		action    Action
		hasReason bool
	}{
		{"in sync, nothing to do", Change{Effective: []string{"3"}, Desired: []string{"3"}}, nil, nil, InSync, NoOp, false},
		{"drift fixed in place", Change{Effective: []string{"1"}, Desired: []string{"3"}}, upd, nil, Changed, Update, false},
		{"drift fixed by an insert", Change{Effective: []string{"1"}, Desired: []string{"3"}}, ins, nil, Changed, Insert, false},
		{"drift another change fixes", Change{Effective: []string{"1"}, Desired: []string{"3"}}, nil, nil, Changed, NoOp, true},
		{"in sync, kept against other changes", Change{Effective: []string{"3"}, Desired: []string{"3"}}, ins, nil, InSync, Insert, true},
		{"absent and unset", Change{Absent: true, Effective: []string{"none"}}, nil, nil, InSync, NoOp, false},
		{"absent but set", Change{Absent: true, Effective: []string{"x"}}, rm, nil, Changed, Remove, false},
		{"unknown default", Change{Desired: []string{"3"}}, ins, nil, Changed, Insert, false},
		{"conflict", Change{Effective: []string{"1"}, Desired: []string{"3"}}, nil, &files.Conflict{Keyword: "K", Reason: "r"}, Conflicted, Conflict, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			if err := c.plan(tt.edits, tt.err); err != nil {
				t.Fatal(err)
			}
			if c.Status != tt.status || c.Action != tt.action || (c.Reason != "") != tt.hasReason {
				t.Fatalf("got %v/%v reason %q, want %v/%v (reason: %v)", c.Status, c.Action, c.Reason, tt.status, tt.action, tt.hasReason)
			}
		})
	}
	c := Change{Desired: []string{"3"}}
	if err := c.plan(nil, errors.New("disk on fire")); err == nil {
		t.Fatal("an error that is not a conflict was swallowed")
	}
}

func TestRuleVerify(t *testing.T) {
	// Each key on its own takes effect, but Match all then overrides the
	// global value for every connection: the global key is a conflict.
	sp := sidePlanFor(t, map[string]string{"etc/ssh/sshd_config": "ClientAliveInterval 1\n"}, `version: 1
sshd:
  settings: {ClientAliveInterval: 300}
  match:
    - criteria: all
      settings: {ClientAliveInterval: 60}
`, (*sidePlan).verify)
	g, m := sp.changes[0], sp.changes[1]
	if g.Status != Conflicted || !strings.Contains(g.Reason, "would not take effect with the other changes applied") || !strings.Contains(g.Reason, "wins") {
		t.Errorf("global: %v %q", g.Status, g.Reason)
	}
	if m.Status != Changed || m.Action != Insert {
		t.Errorf("Match all: %v/%v", m.Status, m.Action)
	}
}

func TestRuleOverrides(t *testing.T) {
	tree := map[string]string{
		"etc/ssh/sshd_config": "PasswordAuthentication no\nInclude /etc/ssh/inner.conf\nMatch User backup\n\tPasswordAuthentication yes\n\tPermitRootLogin yes\nMatch Address 192.0.2.0/24\n\tPasswordAuthentication no\nMatch Group admins\n\tInclude /etc/ssh/nested.conf\n",
		"etc/ssh/inner.conf":  "",
		"etc/ssh/nested.conf": "Match User deep\n\tPasswordAuthentication yes\n",
	}
	for _, tt := range []struct {
		name     string
		yaml     string
		added    []string // scope and status of the changes the rule adds
		warnings int      // overrides listed with a value that differs
	}{
		{"listed, not drift", "version: 1\nsshd:\n  settings: {PasswordAuthentication: no}\n", nil, 2},
		{"everywhere: each differing override removed; a nested one a conflict",
			"version: 1\nsshd:\n  settings: {PasswordAuthentication: no}\n  everywhere: [PasswordAuthentication]\n",
			[]string{"Match User backup changed", "Match User deep conflict"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sp := sidePlanFor(t, tree, tt.yaml, (*sidePlan).overrides)
			g := sp.changes[0]
			if len(g.Overrides) != 3 {
				t.Fatalf("overrides %+v, want 3 (the nested block too)", g.Overrides)
			}
			differ := 0
			for _, o := range g.Overrides {
				if o.Differs {
					differ++
				}
			}
			if differ != tt.warnings {
				t.Errorf("%d differing overrides, want %d", differ, tt.warnings)
			}
			var added []string
			for _, c := range sp.changes[1:] {
				added = append(added, c.Scope.String()+" "+c.Status.String())
			}
			// Before the edit rule runs, a removal is still "ok" (status
			// zero); the conflict is decided here.
			want := slices.Clone(tt.added)
			for i := range want {
				want[i] = strings.Replace(want[i], " changed", " ok", 1)
			}
			if diff := cmp.Diff(want, added); diff != "" {
				t.Errorf("changes added (-want +got):\n%s", diff)
			}
		})
	}
	// Planned to the end: the override in Match User backup is removed.
	p := plan(t, tree, "version: 1\nsshd:\n  settings: {PasswordAuthentication: no}\n  everywhere: [PasswordAuthentication]\n")
	if c := p.Changes[1]; c.Status != Changed || c.Action != Remove || c.Edits[0].Before != "\tPasswordAuthentication yes" {
		t.Errorf("removal: %+v", c)
	}
	if c := p.Changes[2]; c.Status != Conflicted || !strings.Contains(c.Reason, "remove /etc/ssh/nested.conf:2 there by hand") {
		t.Errorf("nested: %+v", c)
	}
}
