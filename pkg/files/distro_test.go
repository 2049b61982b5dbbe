package files

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// distroHosts are the hosts each distro tree's client config is shown for.
var distroHosts = []string{"examplehost", "prod-web1", "db1.prod.example.com", "bastion", "github.com"}

// TestDistroGolden loads each real distro layout under testdata/distro,
// renders its effective sshd values (with and without a connection) and
// ssh values for a few hosts with their origins, then applies the keepalive
// settings of the quick start and renders the changed files. The result
// must match testdata/golden/TREE.golden (-update rewrites it), and a
// second application must change nothing.
func TestDistroGolden(t *testing.T) {
	trees, err := filepath.Glob("testdata/distro/*/etc/ssh")
	if err != nil || len(trees) < 4 {
		t.Fatalf("distro trees: %v %v", trees, err)
	}
	for _, sshDir := range trees {
		name := filepath.Base(filepath.Dir(filepath.Dir(sshDir)))
		t.Run(name, func(t *testing.T) {
			// Work on a copy: the edits must not touch testdata.
			r := copyTree(t, filepath.Dir(filepath.Dir(sshDir)))
			var out bytes.Buffer
			for _, side := range []struct {
				d    Dialect
				main string
			}{{Server, "/etc/ssh/sshd_config"}, {Client, "/etc/ssh/ssh_config"}} {
				if _, err := r.Stat(side.main); err != nil {
					continue
				}
				c, err := Load(r, side.main, side.d)
				if err != nil {
					t.Fatalf("%s: %v", side.main, err)
				}
				if side.d == Server {
					for _, conn := range []Conn{{}, {User: "backup", Host: "h.example.com", Addr: "192.0.2.1", LAddr: "127.0.0.1", LPort: 22}} {
						fmt.Fprintf(&out, "== sshd -T %+v\n", conn)
						writeEffective(&out, c.Server(conn))
					}
					apply(t, &out, c, []setOp{
						{Scope{}, "ClientAliveInterval", "300"},
						{Scope{}, "ClientAliveCountMax", "2"},
						{Scope{Match: "User backup"}, "ClientAliveInterval", "60"},
					})
				} else {
					for _, h := range distroHosts {
						fmt.Fprintf(&out, "== ssh -G %s\n", h)
						writeEffective(&out, c.Client(Target{Host: h, LocalUser: "root"}))
					}
					apply(t, &out, c, []setOp{
						{Scope{Host: "examplehost"}, "Hostname", "examplehost.com"},
						{Scope{Host: "examplehost"}, "ServerAliveInterval", "180"},
						{Scope{Host: "examplehost"}, "ServerAliveCountMax", "2"},
					})
				}
			}
			golden := filepath.Join("testdata/golden", name+".golden")
			if *update {
				must(t, os.MkdirAll("testdata/golden", 0o755))
				must(t, os.WriteFile(golden, out.Bytes(), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

type setOp struct {
	scope      Scope
	key, value string
}

// apply runs ops, writes the edits, conflicts and changed files to out, then
// reloads the changed files from scratch and checks that the same ops are
// now all in effect with no edit.
func apply(t *testing.T, out *bytes.Buffer, c *Config, ops []setOp) {
	t.Helper()
	fmt.Fprintf(out, "== apply to %s\n", c.Main.Path)
	d := NewDraft(c)
	for _, op := range ops {
		edits, err := d.Set(op.scope, op.key, strings.Fields(op.value), "")
		for _, e := range edits {
			fmt.Fprintln(out, e)
		}
		if err != nil {
			fmt.Fprintf(out, "conflict: %v\n", err)
		}
	}
	for _, f := range d.FileChanges() {
		fmt.Fprintf(out, "-- %s --\n%s", f.Path, f.After())
		must(t, os.WriteFile(c.Root.HostPath(f.Path), f.After(), 0o644))
	}
	again := NewDraft(mustLoad(t, c.Root, c.Main.Path, c.Dialect))
	for _, op := range ops {
		edits, err := again.Set(op.scope, op.key, strings.Fields(op.value), "")
		if len(edits) > 0 {
			t.Errorf("second run of %v edited: %v", op, edits)
		}
		if _, conflict := err.(*Conflict); err != nil && !conflict {
			t.Errorf("second run of %v: %v", op, err)
		}
	}
}

func writeEffective(out *bytes.Buffer, e *Effective) {
	for _, v := range e.Values() {
		var origins []string
		for _, en := range v.From {
			origins = append(origins, en.Pos().String())
		}
		fmt.Fprintf(out, "%s %s  # %s\n", strings.ToLower(v.Keyword.Name), FormatValue(v.Keyword, v.Args), strings.Join(origins, ", "))
	}
}

// copyTree copies the directory src into a new temp dir and returns its Root.
func copyTree(t *testing.T, src string) *Root {
	t.Helper()
	dst := t.TempDir()
	must(t, os.CopyFS(dst, os.DirFS(src)))
	r, err := NewRoot(dst)
	must(t, err)
	return r
}
