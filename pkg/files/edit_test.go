package files

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sshconverge/agent/pkg/files/opensshtest"
	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the golden want/ sections of testdata/edit/*.txtar")

// TestEditGolden runs the edit scripts in testdata/edit. Each archive holds
// a tree (files under etc/), an "ops" file with one operation per line —
//
//	dialect server|client
//	set ; SCOPE ; Keyword ; value...      (SCOPE: global, Match ..., Host ...)
//	unset ; SCOPE ; Keyword
//
// — and the expected result: want/PATH for every file the operations
// change, and want/edits listing the edits and errors. Every archive is
// then run again on its own output to prove the edits idempotent.
func TestEditGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/edit/*.txtar")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden edit cases: %v", err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			ar, err := txtar.ParseFile(p)
			if err != nil {
				t.Fatal(err)
			}
			tree, ops, want := map[string]string{}, "", map[string]string{}
			for _, f := range ar.Files {
				switch {
				case f.Name == "ops":
					ops = string(f.Data)
				case strings.HasPrefix(f.Name, "want/"):
					want[strings.TrimPrefix(f.Name, "want/")] = string(f.Data)
				default:
					tree[f.Name] = string(f.Data)
				}
			}
			gotFiles, log := runOps(t, tree, ops)
			gotFiles["edits"] = log
			if *update {
				var files []txtar.File
				for _, f := range ar.Files {
					if !strings.HasPrefix(f.Name, "want/") {
						files = append(files, f)
					}
				}
				for _, name := range slices.Sorted(mapKeys(gotFiles)) {
					files = append(files, txtar.File{Name: "want/" + name, Data: []byte(gotFiles[name])})
				}
				ar.Files = files
				must(t, os.WriteFile(p, txtar.Format(ar), 0o644))
				return
			}
			if diff := cmp.Diff(want, gotFiles); diff != "" {
				t.Fatalf("result (-want +got):\n%s", diff)
			}
			// Idempotence: the same operations on the result change nothing.
			next := map[string]string{}
			for name, content := range tree {
				next[name] = content
			}
			for name, content := range gotFiles {
				if name != "edits" {
					next[name] = content
				}
			}
			again, log2 := runOps(t, next, ops)
			if len(again) != 0 || strings.Contains(log2, ": update:") || strings.Contains(log2, ": insert:") || strings.Contains(log2, ": remove:") {
				t.Fatalf("second run changed files %v:\n%s", slices.Sorted(mapKeys(again)), log2)
			}
		})
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// runOps loads tree, applies ops and returns the changed files' contents
// (by root-relative path) and a log of edits and errors.
func runOps(t *testing.T, tree map[string]string, ops string) (map[string]string, string) {
	t.Helper()
	r := writeTree(t, tree)
	var (
		d   *Draft
		log strings.Builder
	)
	for _, op := range strings.Split(strings.TrimSpace(ops), "\n") {
		fields := strings.Split(op, " ; ")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if strings.HasPrefix(op, "dialect ") {
			dialect, main := Server, "/etc/ssh/sshd_config"
			if strings.TrimPrefix(op, "dialect ") == "client" {
				dialect, main = Client, "/etc/ssh/ssh_config"
			}
			d = NewDraft(mustLoad(t, r, main, dialect))
			continue
		}
		if d == nil || len(fields) < 3 {
			t.Fatalf("bad op %q (dialect first)", op)
		}
		var scope Scope
		switch s := fields[1]; {
		case strings.HasPrefix(s, "Match "):
			scope.Match = strings.TrimPrefix(s, "Match ")
		case strings.HasPrefix(s, "Host "):
			scope.Host = strings.TrimPrefix(s, "Host ")
		}
		var (
			edits []Edit
			err   error
		)
		switch fields[0] {
		case "set":
			var args []string
			args, _, err = argvSplit(strings.Join(fields[3:], " "))
			if err == nil {
				edits, err = d.Set(scope, fields[2], args, "")
			}
		case "unset":
			edits, err = d.Unset(scope, fields[2])
		default:
			t.Fatalf("bad op %q", op)
		}
		log.WriteString("# " + op + "\n")
		for _, e := range edits {
			log.WriteString(e.String() + "\n")
		}
		if err != nil {
			log.WriteString("error: " + err.Error() + "\n")
		}
	}
	out := map[string]string{}
	for _, f := range d.FileChanges() {
		out[strings.TrimPrefix(f.Path, "/")] = string(f.After())
	}
	return out, log.String()
}

func TestEditKeepsCRLFAndMissingNewline(t *testing.T) {
	r := writeTree(t, map[string]string{"etc/ssh/sshd_config": "ClientAliveInterval 5m\r\nMatch User x\r\n\tX11Forwarding yes"})
	d := NewDraft(mustLoad(t, r, "/etc/ssh/sshd_config", Server))
	if _, err := d.Set(Scope{}, "ClientAliveCountMax", []string{"2"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Set(Scope{Match: "User x"}, "ClientAliveInterval", []string{"60"}, ""); err != nil {
		t.Fatal(err)
	}
	want := "ClientAliveInterval 5m\r\nClientAliveCountMax 2\r\nMatch User x\r\n\tX11Forwarding yes\r\n\tClientAliveInterval 60"
	if got := string(d.Config().Main.Bytes()); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestAfterRendersOnce: a file change is rendered when first asked for,
// once, whoever asks (the copies of the change too, and concurrently:
// apply stages and writes the same change), and the bytes are the file's.
func TestAfterRendersOnce(t *testing.T) {
	r := writeTree(t, map[string]string{"etc/ssh/sshd_config": "Port 22\n"})
	d := NewDraft(mustLoad(t, r, "/etc/ssh/sshd_config", Server))
	if _, err := d.Set(Scope{}, "ClientAliveCountMax", []string{"2"}, ""); err != nil {
		t.Fatal(err)
	}
	fc := d.FileChanges()
	if len(fc) != 1 {
		t.Fatalf("%d file changes, want 1", len(fc))
	}
	c := fc[0]
	got := make(chan []byte, 4)
	for range cap(got) {
		go func() { got <- c.After() }()
	}
	first := <-got
	for range cap(got) - 1 {
		if b := <-got; &b[0] != &first[0] {
			t.Fatal("After rendered the change more than once")
		}
	}
	if again := fc[0].After(); &again[0] != &first[0] || string(again) != "Port 22\nClientAliveCountMax 2\n" {
		t.Fatalf("After of the change itself: %q, the same bytes: %v", again, &again[0] == &first[0])
	}
}

// TestClientMemo: a configuration evaluates the client configuration
// once per target, however often and from however many goroutines it is
// asked, and a configuration an edit derives evaluates its own.
func TestClientMemo(t *testing.T) {
	r := writeTree(t, map[string]string{"etc/ssh/ssh_config": "Host db\n    User admin\nMatch localuser other\n    Port 2\n"})
	c := mustLoad(t, r, "/etc/ssh/ssh_config", Client)
	target := Target{Host: "db", LocalUser: "root"}
	got := make(chan *Effective, 4)
	for range cap(got) {
		go func() { got <- c.client(target) }()
	}
	first := <-got
	for range cap(got) - 1 {
		if e := <-got; e != first {
			t.Fatal("the same target was evaluated twice")
		}
	}
	if c.client(Target{Host: "db", LocalUser: "other"}) == first {
		t.Fatal("another target got the first one's evaluation")
	}
	// Without a Match user or localuser, every local user gets the same.
	blind := mustLoad(t, writeTree(t, map[string]string{"etc/ssh/ssh_config": "Host db\n    User admin\nMatch host db\n    Port 2\n"}), "/etc/ssh/ssh_config", Client)
	if blind.client(target) != blind.client(Target{Host: "db", LocalUser: "other"}) {
		t.Fatal("a configuration that never reads the local user was evaluated once per local user")
	}
	user, err := c.Catalogue().Find("User")
	if err != nil {
		t.Fatal(err)
	}
	d := NewDraft(c)
	if _, err := d.Set(Scope{Host: "db"}, "User", []string{"ops"}, ""); err != nil {
		t.Fatal(err)
	}
	if e := d.Config().client(target); e == first || e.valueOrDefault(Client, user).Args[0] != "ops" {
		t.Fatal("the edited configuration answered with the evaluation of the one it was derived from")
	}
	if v := first.valueOrDefault(Client, user); v.Args[0] != "admin" {
		t.Fatalf("the first configuration's evaluation changed: User %q", v.Args)
	}
}

// TestLocalUserBlind: a client configuration without a Match user or
// localuser criterion gives every local user the same values (the premise
// of evalMemo evaluating it once for all), over random trees that also
// use Match host, originalhost, exec, all, final and canonical.
func TestLocalUserBlind(t *testing.T) {
	cat := CatalogueFor(Client)
	rng := rand.New(rand.NewPCG(7, 11))
	blind := 0
	for i := range 200 {
		tree := opensshtest.GenerateFor(rng, false, genFor(cat, DefaultVersion().String()))
		c, err := Load(writeTree(t, tree.Files), "/etc/ssh/ssh_config", Client)
		if err != nil || c.matchesUser() {
			continue
		}
		blind++
		for _, h := range tree.Hosts {
			var a, b bytes.Buffer
			writeEffective(&a, c.Client(Target{Host: h, LocalUser: "root"}))
			writeEffective(&b, c.Client(Target{Host: h, LocalUser: "sshconverge-probe"}))
			if a.String() != b.String() {
				t.Fatalf("tree %d, host %s: root gets\n%s\nanother user\n%s", i, h, &a, &b)
			}
		}
	}
	if blind < 20 {
		t.Fatalf("only %d of 200 trees without Match user or localuser", blind)
	}
}

func TestUnsetConflictChangesNothing(t *testing.T) {
	r := writeTree(t, map[string]string{
		"etc/ssh/ssh_config":  "Port 22\nInclude /etc/ssh/common.conf\nHost a\n\tInclude /etc/ssh/common.conf\n",
		"etc/ssh/common.conf": "Port 2222\n",
	})
	d := NewDraft(mustLoad(t, r, "/etc/ssh/ssh_config", Client))
	_, err := d.Unset(Scope{}, "Port")
	if _, ok := err.(*Conflict); !ok {
		t.Fatalf("err = %v, want a conflict", err)
	}
	if got := string(d.Config().Main.Bytes()); got != "Port 22\nInclude /etc/ssh/common.conf\nHost a\n\tInclude /etc/ssh/common.conf\n" {
		t.Fatalf("main file changed: %q", got)
	}
	if len(d.FileChanges()) != 0 {
		t.Fatalf("changed: %v", d.FileChanges())
	}
}

// TestJoinedIs: joinedIs is strings.Join(words, " ") == s, without the
// join.
func TestJoinedIs(t *testing.T) {
	for _, words := range [][]string{nil, {""}, {"", ""}, {"a"}, {"a", "b"}, {"web-1", "web-1.example.net"}, {"a b"}, {"a", ""}} {
		for _, s := range []string{"", " ", "a", "a ", "a b", "a  b", "ab", "a b ", "web-1 web-1.example.net", "web-1 web-1.example.ne", " a", "a b c"} {
			if got, want := joinedIs(words, s), strings.Join(words, " ") == s; got != want {
				t.Errorf("joinedIs(%q, %q) = %v, want %v", words, s, got, want)
			}
		}
	}
}

// TestServerMemo: a configuration evaluates sshd's configuration once per
// scope it is asked about, and a configuration an edit derives evaluates
// its own.
func TestServerMemo(t *testing.T) {
	r := writeTree(t, map[string]string{"etc/ssh/sshd_config": "MaxAuthTries 3\nMatch User backup\n    MaxAuthTries 5\n"})
	c := mustLoad(t, r, "/etc/ssh/sshd_config", Server)
	global, backup := Scope{}, Scope{Match: "User backup"}
	first, err := c.server(global)
	must(t, err)
	if again, err := c.server(global); err != nil || again != first {
		t.Fatalf("the global scope was evaluated twice (%v)", err)
	}
	if other, err := c.server(backup); err != nil || other == first {
		t.Fatalf("another scope got the global scope's evaluation (%v)", err)
	}
	d := NewDraft(c)
	if _, err := d.Set(global, "MaxAuthTries", []string{"4"}, ""); err != nil {
		t.Fatal(err)
	}
	for scope, want := range map[Scope]string{global: "4", backup: "5"} {
		if v, err := d.Config().ValueIn(scope, "MaxAuthTries"); err != nil || v.Args[0] != want {
			t.Fatalf("%s: MaxAuthTries %v (%v) after the edit, want %s", scope, v, err, want)
		}
	}
	if v, err := c.ValueIn(global, "MaxAuthTries"); err != nil || v.Args[0] != "3" {
		t.Fatalf("the first configuration's value changed: %v (%v)", v, err)
	}
}
