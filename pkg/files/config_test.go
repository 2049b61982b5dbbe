package files

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// writeTree writes files (paths relative to the root) into a new temp dir
// and returns its Root.
func writeTree(t testing.TB, files map[string]string) *Root {
	t.Helper()
	dir := t.TempDir()
	must(t, opensshtest.Tree{Files: files}.Write(dir))
	r, err := NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustLoad(t testing.TB, r *Root, name string, d Dialect) *Config {
	t.Helper()
	c, err := Load(r, name, d)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// got returns "value @ origin" for keyword name in e, or "unset".
func got(t testing.TB, d Dialect, e *Effective, name string) string {
	t.Helper()
	k, ok := CatalogueFor(d).Lookup(name)
	if !ok {
		t.Fatalf("no keyword %s", name)
	}
	v, ok := e.Get(k)
	if !ok {
		return "unset"
	}
	return strings.Join(v.Args, " ") + " @ " + v.Origin().String()
}

func TestIncludeSemantics(t *testing.T) {
	r := writeTree(t, map[string]string{
		"etc/ssh/sshd_config": "Include sshd_config.d/*.conf /etc/ssh/none-*.conf\n" +
			"ClientAliveInterval 60\n" +
			"Match User alice\n" +
			"  Include /etc/ssh/alice.conf\n" +
			"  ClientAliveCountMax 9\n",
		"etc/ssh/sshd_config.d/9-late.conf":  "MaxAuthTries 9\n",
		"etc/ssh/sshd_config.d/10-a.conf":    "ClientAliveInterval 5m\nMatch User bob\n  MaxAuthTries 2\n",
		"etc/ssh/sshd_config.d/.hidden.conf": "MaxAuthTries 1\n",
		"etc/ssh/sshd_config.d/20-b.conf":    "MaxAuthTries 4\n",
		"etc/ssh/alice.conf":                 "ClientAliveCountMax 1\nMatch all\n  MaxSessions 3\n",
	})
	c := mustLoad(t, r, "/etc/ssh/sshd_config", Server)
	var order []string
	for _, f := range c.Files {
		order = append(order, f.Path)
	}
	want := []string{"/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/10-a.conf", "/etc/ssh/sshd_config.d/20-b.conf", "/etc/ssh/sshd_config.d/9-late.conf", "/etc/ssh/alice.conf"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Fatalf("read order (-want +got):\n%s", diff)
	}
	tests := []struct {
		conn Conn
		key  string
		want string
	}{
		// A drop-in included at the top beats the main file.
		{Conn{}, "ClientAliveInterval", "300 @ /etc/ssh/sshd_config.d/10-a.conf:1"},
		// The Match bob block opened in 10-a.conf ends at that file's end:
		// 20-b.conf's line is global again. Globs sort in byte order.
		{Conn{}, "MaxAuthTries", "4 @ /etc/ssh/sshd_config.d/20-b.conf:1"},
		{Conn{User: "bob"}, "MaxAuthTries", "2 @ /etc/ssh/sshd_config.d/10-a.conf:3"},
		// A file included inside Match inherits the block.
		{Conn{}, "ClientAliveCountMax", "unset"},
		{Conn{User: "alice"}, "ClientAliveCountMax", "1 @ /etc/ssh/alice.conf:1"},
		// Match all inside a file included from a Match that does not
		// apply never applies; after the file ends the includer's block
		// resumes.
		{Conn{}, "MaxSessions", "unset"},
		{Conn{User: "alice"}, "MaxSessions", "3 @ /etc/ssh/alice.conf:3"},
	}
	for _, tt := range tests {
		if g := got(t, Server, c.Server(tt.conn), tt.key); g != tt.want {
			t.Errorf("%+v %s = %s, want %s", tt.conn, tt.key, g, tt.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings, one per expected error, in order
	}{
		{"unknown keyword", map[string]string{"etc/ssh/sshd_config": "Port 22\nClientAliveIntervall 5\n"},
			[]string{`/etc/ssh/sshd_config:2: unknown sshd_config keyword "ClientAliveIntervall"; did you mean ClientAliveInterval?`}},
		{"unterminated quote", map[string]string{"etc/ssh/sshd_config": "Banner \"/x\n"},
			[]string{"/etc/ssh/sshd_config:1: unterminated \" quote"}},
		{"bad values, all reported", map[string]string{"etc/ssh/sshd_config": "ClientAliveInterval 5x\nX11Forwarding true\nPermitRootLogin maybe\n"},
			[]string{"sshd_config:1: ClientAliveInterval:", "sshd_config:2: X11Forwarding: \"true\" is not yes or no", "sshd_config:3: PermitRootLogin: \"maybe\" is not one of"}},
		{"keyword forbidden in Match", map[string]string{"etc/ssh/sshd_config": "Match User x\n  Port 22\n"},
			[]string{"sshd_config:2: Port is not allowed inside a Match block (/etc/ssh/sshd_config:1 opens it)"}},
		{"include loop", map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/a.conf\n", "etc/ssh/a.conf": "Include /etc/ssh/sshd_config\n"},
			[]string{"more than 16 nested Includes"}},
		{"main file is a directory", map[string]string{"etc/ssh/sshd_config/x": ""},
			[]string{"/etc/ssh/sshd_config: is a directory, not a file"}},
		{"NUL byte", map[string]string{"etc/ssh/sshd_config": "Port 22\nPort 2\x002\n"},
			[]string{"sshd_config:2: NUL byte"}},
		{"bad Match", map[string]string{"etc/ssh/sshd_config": "Match Colour red\n"},
			[]string{"sshd_config:1: Match: unsupported criterion \"Colour\""}},
		{"bad Match address", map[string]string{"etc/ssh/sshd_config": "Match Address 192.0.2.1/24\nMatch LocalAddress 10.0.0.0/8,,!1.2.3.4\n"},
			[]string{"sshd_config:1: Match Address: 192.0.2.1/24 has bits set beyond its /24 mask; write 192.0.2.0/24", "sshd_config:2: Match LocalAddress: empty entry"}},
		{"missing main file", map[string]string{"etc/ssh/other": ""},
			[]string{"/etc/ssh/sshd_config: file does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := writeTree(t, tt.files)
			_, err := Load(r, "/etc/ssh/sshd_config", Server)
			el, ok := err.(ErrorList)
			if !ok {
				t.Fatalf("err = %v (%T), want an ErrorList", err, err)
			}
			if len(el) != len(tt.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(el), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(el[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, el[i].Error(), w)
				}
			}
		})
	}
}

func TestIncludeDirectoryIsEmpty(t *testing.T) {
	r := writeTree(t, map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/d*\nPort 22\n", "etc/ssh/d/x": "Port 1\n"})
	c := mustLoad(t, r, "/etc/ssh/sshd_config", Server)
	if g := got(t, Server, c.Server(Conn{}), "Port"); g != "22 @ /etc/ssh/sshd_config:2" {
		t.Errorf("Port = %s", g)
	}
	if w := c.Warnings.Error(); !strings.Contains(w, "sshd_config:1: Include /etc/ssh/d matches a directory") {
		t.Errorf("warnings = %q", w)
	}
}

func TestLoadFIFODoesNotHang(t *testing.T) {
	r := writeTree(t, map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/fifo\n"})
	if err := syscall.Mkfifo(filepath.Join(r.Dir(), "etc/ssh/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(r, "/etc/ssh/sshd_config", Server)
	if err == nil || !strings.Contains(err.Error(), "sshd_config:1: Include /etc/ssh/fifo: is a FIFO") {
		t.Fatalf("err = %v, want a FIFO error at the Include line", err)
	}
}

func TestRootStaysInside(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.conf"), []byte("Port 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := writeTree(t, map[string]string{
		"etc/ssh/sshd_config": "Include /etc/ssh/abs.conf /etc/ssh/rel.conf /etc/ssh/../../../../" + outside + "/secret.conf\n",
		"inside/real.conf":    "Port 2\n",
	})
	// An absolute link target restarts at the root, not at the host's /.
	must(t, os.Symlink(outside+"/secret.conf", filepath.Join(r.Dir(), "etc/ssh/abs.conf")))
	// A relative one climbing past the root stops at it.
	must(t, os.Symlink("../../../../../../inside/real.conf", filepath.Join(r.Dir(), "etc/ssh/rel.conf")))
	c := mustLoad(t, r, "/etc/ssh/sshd_config", Server)
	var paths []string
	for _, f := range c.Files {
		paths = append(paths, f.Path)
	}
	// abs.conf resolves to <root>/<outside>/secret.conf, which does not
	// exist, so only rel.conf is read, through the link.
	if diff := cmp.Diff([]string{"/etc/ssh/sshd_config", "/etc/ssh/rel.conf"}, paths); diff != "" {
		t.Fatalf("files read (-want +got):\n%s", diff)
	}
	if g := got(t, Server, c.Server(Conn{}), "Port"); g != "2 @ /etc/ssh/rel.conf:1" {
		t.Fatalf("Port = %s", g)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestIncludeFanOutEnds(t *testing.T) {
	// Each level includes the next twice: 2^16 walks unless stopped.
	r := writeTree(t, map[string]string{
		"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config /etc/ssh/sshd_config /etc/ssh/sshd_config\n",
	})
	_, err := Load(r, "/etc/ssh/sshd_config", Server)
	if err == nil || len(err.(ErrorList)) != 1 || !strings.Contains(err.Error(), "more than 16 nested Includes") {
		t.Fatalf("err = %v, want one nesting error", err)
	}
}

func TestDropInDir(t *testing.T) {
	tests := []struct{ main, want string }{
		{"Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n", "/etc/ssh/sshd_config.d"},
		{"# c\nInclude sshd_config.d/*.conf other.conf\n", "/etc/ssh/sshd_config.d"},
		{"Port 22\nMatch all\nInclude /etc/ssh/sshd_config.d/*.conf\n", ""},
		{"Include /etc/ssh/d*/*.conf\n", ""},
		{"Include /etc/ssh/sshd_config.d/*\n", ""},
	}
	for _, tt := range tests {
		r := writeTree(t, map[string]string{"etc/ssh/sshd_config": tt.main})
		c := mustLoad(t, r, "/etc/ssh/sshd_config", Server)
		if got, _ := c.DropInDir(); got != tt.want {
			t.Errorf("DropInDir(%q) = %q, want %q", tt.main, got, tt.want)
		}
	}
}

// TestManyDropIns: sshd reads any number of drop-ins (only Include depth
// is bounded); so does the model, 10,001 files here.
func TestManyDropIns(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "etc/ssh/sshd_config.d")
	must(t, os.MkdirAll(d, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "etc/ssh/sshd_config"), []byte("Include /etc/ssh/sshd_config.d/*.conf\n"), 0o644))
	const n = 10001
	for i := range n {
		must(t, os.WriteFile(filepath.Join(d, fmt.Sprintf("%05d.conf", i)), []byte(fmt.Sprintf("AcceptEnv V%d\n", i)), 0o644))
	}
	r, err := NewRoot(dir)
	must(t, err)
	c := mustLoad(t, r, "/etc/ssh/sshd_config", Server)
	if len(c.Files) != n+1 {
		t.Fatalf("%d files read, want %d", len(c.Files), n+1)
	}
	k, _ := c.Catalogue().Lookup("AcceptEnv")
	if v, _ := c.Server(Conn{}).Get(k); v == nil || len(v.Args) != n || v.Args[n-1] != fmt.Sprintf("V%d", n-1) {
		t.Fatalf("AcceptEnv has %d values, want %d", len(v.Args), n)
	}
}

// TestFileTooLarge: a file larger than sshd reads is refused with its
// size, before it is read.
func TestFileTooLarge(t *testing.T) {
	r := writeTree(t, map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/big.conf\n"})
	big := filepath.Join(r.Dir(), "etc/ssh/big.conf")
	must(t, os.WriteFile(big, nil, 0o644))
	must(t, os.Truncate(big, MaxFileSize+1)) // sparse: nothing to write
	_, err := Load(r, "/etc/ssh/sshd_config", Server)
	if err == nil || !strings.Contains(err.Error(), "/etc/ssh/sshd_config:1: Include /etc/ssh/big.conf: 134217729 bytes: larger than any configuration OpenSSH reads (sshd refuses more than 128 MiB)") {
		t.Fatalf("err = %v", err)
	}
}

// TestDiskDigest: the digest changes with any file's bytes or name and
// not with an edit that is not on disk.
func TestDiskDigest(t *testing.T) {
	files := map[string]string{
		"etc/ssh/sshd_config":          "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n",
		"etc/ssh/sshd_config.d/a.conf": "MaxAuthTries 3\n",
	}
	digest := func(files map[string]string) string {
		r := writeTree(t, files)
		return mustLoad(t, r, "/etc/ssh/sshd_config", Server).DiskDigest()
	}
	base := digest(files)
	if again := digest(files); again != base {
		t.Fatalf("same tree, digests %s and %s", base, again)
	}
	for name, change := range map[string]map[string]string{
		"drop-in content": {"etc/ssh/sshd_config.d/a.conf": "MaxAuthTries 4\n"},
		"drop-in name":    {"etc/ssh/sshd_config.d/a.conf": "", "etc/ssh/sshd_config.d/b.conf": "MaxAuthTries 3\n"},
		"main file":       {"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nPort 2222\n"},
	} {
		tree := maps.Clone(files)
		for p, s := range change {
			if s == "" {
				delete(tree, p)
			} else {
				tree[p] = s
			}
		}
		if got := digest(tree); got == base {
			t.Errorf("%s changed, digest did not", name)
		}
	}
	r := writeTree(t, files)
	c := mustLoad(t, r, "/etc/ssh/sshd_config", Server)
	d := NewDraft(c)
	if _, err := d.Set(Scope{}, "Port", []string{"2222"}, ""); err != nil {
		t.Fatal(err)
	}
	if got := d.Config().DiskDigest(); got != base {
		t.Errorf("an edit not written changed the digest")
	}
}
