package files

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// TestSetAllIsSetInTurn checks SetAll against Set called for each setting
// in order, on 3,500 random trees of both dialects (tree 3272 found the
// bug TestSetAllUnterminatedLastLine keeps): the same edits, errors,
// files and values, whether SetAll stages the settings together or falls
// back to Set. The settings are 2 to 5 of the edit differential's values
// (ssh's Hostname and User among them, which SetAll must not stage
// together), in a random scope, into the main file, another file of the
// tree or a new drop-in, with or without the main file protected.
func TestSetAllIsSetInTurn(t *testing.T) {
	together, compared := 0, 0
	for i := range 3500 {
		d := Dialect(1 + i%2)
		r := rand.New(rand.NewPCG(uint64(i), 77))
		cat := CatalogueFor(d)
		tree := opensshtest.GenerateFor(r, d == Server, genFor(cat, DefaultVersion().String()))
		main := map[Dialect]string{Server: "/etc/ssh/sshd_config", Client: "/etc/ssh/ssh_config"}[d]
		c, err := Load(writeTree(t, tree.Files), main, d)
		if err != nil {
			continue
		}
		scope := editScopes(r, d, c)
		values := editValues[d]
		var sets []Setting
		for _, j := range r.Perm(len(values))[:2+r.IntN(4)] {
			sets = append(sets, Setting{Name: values[j][0], Args: strings.Fields(values[j][1])})
		}
		into := ""
		var fresh string
		switch r.IntN(3) {
		case 1:
			into = c.Files[r.IntN(len(c.Files))].Path
		case 2:
			into, fresh = main+".d/00-sshconverge.conf", "# managed\n"
		}
		var protected func(string) bool
		if r.IntN(2) == 0 {
			protected = func(p string) bool { return p == main }
		}
		draft := func() *Draft {
			dr := NewDraft(c)
			dr.Protected = protected
			if fresh != "" {
				must(t, dr.AddFile(into, fresh))
			}
			return dr
		}

		all := draft()
		gotEdits, gotErrs := all.SetAll(scope, sets, into)
		inTurn := draft()
		for j, s := range sets {
			edits, err := inTurn.Set(scope, s.Name, s.Args, into)
			if fmt.Sprint(edits) != fmt.Sprint(gotEdits[j]) || fmt.Sprint(err) != fmt.Sprint(gotErrs[j]) {
				t.Fatalf("tree %d, %s, %v into %q: setting %d (%s): SetAll gives %v, %v; Set gives %v, %v",
					i, scope, sets, into, j, s.Name, gotEdits[j], gotErrs[j], edits, err)
			}
		}
		if a, b := renderChanges(all), renderChanges(inTurn); a != b {
			t.Fatalf("tree %d, %s, %v into %q: SetAll writes\n%s\nSet in turn writes\n%s", i, scope, sets, into, a, b)
		}
		for _, s := range sets {
			va, ea := all.Config().ValueIn(scope, s.Name)
			vb, eb := inTurn.Config().ValueIn(scope, s.Name)
			if describe(va, ea) != describe(vb, eb) {
				t.Fatalf("tree %d, %s %s: %s after SetAll, %s after Set in turn", i, scope, s.Name, describe(va, ea), describe(vb, eb))
			}
		}
		compared++
		if all.together > 0 {
			together++
		}
	}
	// Most trees must take the single derive, or the comparison above
	// says little about it.
	if compared < 2600 || together < compared/4 {
		t.Fatalf("%d trees compared, %d staged together", compared, together)
	}
	t.Logf("%d trees compared, %d with settings staged together", compared, together)
}

// TestSetAllProtectedBlock: when the block in scope sits in a protected
// file, Set puts the first setting into a new block in into's file, and
// the next settings go into that block: SetAll sets the first in turn and
// stages the rest together, with the same result as Set in turn.
func TestSetAllProtectedBlock(t *testing.T) {
	tree := map[string]string{
		"etc/ssh/ssh_config":         "Include /etc/ssh/ssh_config.d/*.conf\nHost examplehost\n    Port 22\nHost *\n    SendEnv LANG\n",
		"etc/ssh/ssh_config.d/.keep": "",
	}
	c := mustLoad(t, writeTree(t, tree), "/etc/ssh/ssh_config", Client)
	into := "/etc/ssh/ssh_config.d/00-sshconverge.conf"
	sets := []Setting{{"ServerAliveInterval", []string{"180"}}, {"ServerAliveCountMax", []string{"2"}}, {"ConnectTimeout", []string{"9"}}}
	draft := func() *Draft {
		d := NewDraft(c)
		d.Protected = func(p string) bool { return p == "/etc/ssh/ssh_config" }
		must(t, d.AddFile(into, "# managed\n"))
		return d
	}
	all := draft()
	edits, errs := all.SetAll(Scope{Host: "examplehost"}, sets, into)
	inTurn := draft()
	for i, s := range sets {
		want, err := inTurn.Set(Scope{Host: "examplehost"}, s.Name, s.Args, into)
		if fmt.Sprint(edits[i], errs[i]) != fmt.Sprint(want, err) {
			t.Errorf("%s: SetAll gives %v, %v; Set in turn %v, %v", s.Name, edits[i], errs[i], want, err)
		}
	}
	if a, b := renderChanges(all), renderChanges(inTurn); a != b || !strings.Contains(a, "Host examplehost\n\tServerAliveInterval 180\n\tServerAliveCountMax 2\n\tConnectTimeout 9\n") {
		t.Fatalf("SetAll writes\n%s\nSet in turn writes\n%s", a, b)
	}
	if all.together != 1 {
		t.Errorf("%d runs staged together, want 1 (the second and third setting)", all.together)
	}
}

// renderChanges lists a draft's file changes with their new content.
func renderChanges(d *Draft) string {
	var b strings.Builder
	for _, fc := range d.FileChanges() {
		fmt.Fprintf(&b, "== %s (new %v)\n%s", fc.Path, fc.New, fc.After())
	}
	return b.String()
}

// describe prints a value and where it comes from.
func describe(v *Value, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case v == nil:
		return "unset"
	}
	return fmt.Sprintf("%q default=%v from %v", v.Args, v.Default, v.Origin())
}

// TestConsulted: the keywords whose values other keywords' values depend
// on are the ones SetAll will not stage together.
func TestConsulted(t *testing.T) {
	for d, want := range map[Dialect][]string{
		Server: {"Include", "Match", "KbdInteractiveAuthentication"},
		Client: {"Include", "Host", "Match", "Hostname", "User", "BatchMode", "IgnoreUnknown"},
	} {
		cat := CatalogueFor(d)
		var got []string
		for _, k := range cat.Keywords() {
			if cat.consulted(k) {
				got = append(got, k.Name)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%v: consulted %v, want %v", d, got, want)
		}
	}
}

// TestSetAllNotTogether: a keyword the evaluation consults changes other
// keywords' values, so a setting after it may already hold when Set comes
// to it (and gets no edit) though it does not hold before: SetAll must
// give the same edits as Set in turn, not stage both together.
func TestSetAllNotTogether(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		sets         []Setting
	}{
		{"Hostname, read by a later Match host", "Host examplehost\n    Port 22\nMatch host examplehost.com\n    ServerAliveInterval 10\n",
			[]Setting{{"Hostname", []string{"examplehost.com"}}, {"ServerAliveInterval", []string{"10"}}}},
		{"BatchMode, which makes ServerAliveInterval's default 300", "Host examplehost\n    Port 22\n",
			[]Setting{{"BatchMode", []string{"yes"}}, {"ServerAliveInterval", []string{"300"}}}},
		{"User, read by a later Match user", "Host examplehost\n    Port 22\nMatch user deploy\n    ForwardAgent yes\n",
			[]Setting{{"User", []string{"deploy"}}, {"ForwardAgent", []string{"yes"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, writeTree(t, map[string]string{"etc/ssh/ssh_config": tc.config}), "/etc/ssh/ssh_config", Client)
			scope := Scope{Host: "examplehost"}
			edits, errs := NewDraft(c).SetAll(scope, tc.sets, "")
			inTurn := NewDraft(c)
			for i, s := range tc.sets {
				want, err := inTurn.Set(scope, s.Name, s.Args, "")
				if i == 1 && (len(want) != 0 || err != nil) {
					t.Fatalf("the case is wrong: Set in turn gives %s %v, %v; want no edit", s.Name, want, err)
				}
				if fmt.Sprint(edits[i], errs[i]) != fmt.Sprint(want, err) {
					t.Errorf("%s: SetAll gives %v, %v; Set in turn %v, %v", s.Name, edits[i], errs[i], want, err)
				}
			}
		})
	}
}

// TestSetAllUnterminatedLastLine: appending after a file's last line when
// it has no terminator gives that line one, as a new line: a later
// setting of the same change that edits that line, removes it or inserts
// below it (a block header) must find it there. Each case panicked, lost
// a removal or put its setting outside the block before the change
// followed the copy.
func TestSetAllUnterminatedLastLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		d     Dialect
		file  string
		scope Scope
		sets  []Setting
	}{
		{"update", Server, "PermitRootLogin yes", Scope{},
			[]Setting{{"ClientAliveInterval", []string{"300"}}, {"PermitRootLogin", []string{"no"}}}},
		{"remove", Client, "IdentityFile ~/.ssh/a\nIdentityFile ~/.ssh/b", Scope{},
			[]Setting{{"Port", []string{"2222"}}, {"IdentityFile", []string{"~/.ssh/c"}}}},
		{"header", Client, "Port 22\nHost x", Scope{Host: "x"},
			[]Setting{{"ServerAliveInterval", []string{"180"}}, {"ServerAliveCountMax", []string{"2"}}, {"ConnectTimeout", []string{"9"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			main := map[Dialect]string{Server: "/etc/ssh/sshd_config", Client: "/etc/ssh/ssh_config"}[tc.d]
			c := mustLoad(t, writeTree(t, map[string]string{main[1:]: tc.file}), main, tc.d)
			if together := setAllIsSetInTurn(t, c, tc.scope, tc.sets); together != 1 {
				t.Errorf("%d runs staged together, want 1", together)
			}
		})
	}
}

// setAllIsSetInTurn fails t unless SetAll of sets in scope on c gives the
// edits, errors and files that Set in turn gives; it returns how many
// runs SetAll staged together.
func setAllIsSetInTurn(t *testing.T, c *Config, scope Scope, sets []Setting) int {
	t.Helper()
	all := NewDraft(c)
	edits, errs := all.SetAll(scope, sets, "")
	inTurn := NewDraft(c)
	for i, s := range sets {
		want, err := inTurn.Set(scope, s.Name, s.Args, "")
		if fmt.Sprint(edits[i], errs[i]) != fmt.Sprint(want, err) {
			t.Errorf("%s %s: SetAll gives %v, %v; Set in turn %v, %v", scope, s.Name, edits[i], errs[i], want, err)
		}
	}
	if a, b := renderChanges(all), renderChanges(inTurn); a != b {
		t.Fatalf("%s: SetAll writes\n%s\nSet in turn writes\n%s", scope, a, b)
	}
	return all.together
}
