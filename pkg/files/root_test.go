package files

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReadSized: a file of the size fstat gave is read with one read; one
// that grew, shrank or reports no size (procfs) is read to its end.
func TestReadSized(t *testing.T) {
	tests := []struct {
		name      string
		size      int64
		data      string
		wantReads int
	}{
		{"as stated", 5, "hello", 1},
		{"empty", 0, "", 1},
		{"no size stated", 0, "abc", 3},
		{"grew", 3, "abcdef", 3},
		{"shrank", 10, "abc", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, reads := bytes.NewReader([]byte(tt.data)), 0
			got, err := readSized(tt.size, func(b []byte) (int, error) {
				reads++
				n, _ := src.Read(b) // io.EOF: 0 bytes
				return n, nil
			})
			if err != nil || string(got) != tt.data || reads != tt.wantReads {
				t.Fatalf("readSized = %q, %v in %d reads; want %q in %d", got, err, reads, tt.data, tt.wantReads)
			}
		})
	}
}

// TestOpen: Open resolves a link inside the root as ReadFile does (the
// root's copy, not the host's file) and refuses what is not a regular
// file without reading it.
func TestOpen(t *testing.T) {
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "status"), []byte("outside\n"), 0o644))
	r := writeTree(t, map[string]string{outside[1:] + "/status": "inside\n", "var/lib/dpkg/.keep": ""})
	must(t, os.Symlink(outside+"/status", filepath.Join(r.Dir(), "var/lib/dpkg/status")))
	f, err := r.Open("/var/lib/dpkg/status")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(b) != "inside\n" {
		t.Fatalf("status = %q, %v; want the root's copy", b, err)
	}
	must(t, syscall.Mkfifo(filepath.Join(r.Dir(), "var/lib/dpkg/fifo"), 0o644))
	for name, want := range map[string]string{
		"/var/lib/dpkg/fifo": "is a FIFO, not a regular file",
		"/var/lib/dpkg":      "is a directory, not a file",
	} {
		if f, err := r.Open(name); err == nil || err.Error() != want {
			t.Errorf("Open(%s) = %v, %v; want %q", name, f, err, want)
		}
	}
	if _, err := r.Open("/var/lib/dpkg/missing"); !os.IsNotExist(err) {
		t.Errorf("missing: err = %v", err)
	}
}

// TestReadFileKnownDir: once a directory is known, its files are read
// through the directory's handle, and a link there is still resolved
// inside the root (not followed on the host), as is a FIFO refused.
func TestReadFileKnownDir(t *testing.T) {
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "x.conf"), []byte("outside\n"), 0o644))
	r := writeTree(t, map[string]string{
		"etc/ssh/d/a.conf":      "a\n",
		"etc/ssh/d/b.conf":      "b\n",
		outside[1:] + "/x.conf": "inside\n",
	})
	must(t, os.Symlink(outside+"/x.conf", filepath.Join(r.Dir(), "etc/ssh/d/link.conf")))
	if b, err := r.ReadFile("/etc/ssh/d/a.conf"); err != nil || string(b) != "a\n" {
		t.Fatalf("a.conf = %q, %v", b, err)
	}
	if !r.knownDir("/etc/ssh/d") {
		t.Fatal("/etc/ssh/d not known after a read in it: the fast path is not taken")
	}
	if b, _, ok, err := r.readInKnownDir("/etc/ssh/d/b.conf"); !ok || err != nil || string(b) != "b\n" {
		t.Fatalf("readInKnownDir(b.conf) = %q, %v, %v", b, ok, err)
	}
	if _, _, ok, _ := r.readInKnownDir("/etc/ssh/d/link.conf"); ok {
		t.Fatal("readInKnownDir took a link")
	}
	if b, err := r.ReadFile("/etc/ssh/d/link.conf"); err != nil || string(b) != "inside\n" {
		t.Fatalf("link.conf = %q, %v; want the root's copy", b, err)
	}
	if _, err := r.ReadFile("/etc/ssh/d/missing.conf"); !os.IsNotExist(err) {
		t.Fatalf("missing.conf: err = %v", err)
	}
	must(t, syscall.Mkfifo(filepath.Join(r.Dir(), "etc/ssh/d/fifo"), 0o644))
	if _, err := r.ReadFile("/etc/ssh/d/fifo"); err == nil || err.Error() != "is a FIFO, not a regular file" {
		t.Fatalf("fifo: err = %v", err)
	}
}

// TestChanged: a configuration's change time is the newest ctime of the
// files it was read from and of the directories its Include globs listed,
// a file there that no glob matches included (sshd's glob lists it too).
func TestChanged(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctime := func(name string) time.Time {
		t.Helper()
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return changeTime(st)
	}
	newest := func(names ...string) time.Time {
		var n time.Time
		for _, name := range names {
			n = later(n, ctime(name))
		}
		return n
	}
	load := func() time.Time {
		t.Helper()
		r, err := NewRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Load(r, "/etc/ssh/sshd_config", Server)
		if err != nil {
			t.Fatal(err)
		}
		return c.Changed()
	}
	write("etc/ssh/sshd_config.d/10-a.conf", "MaxAuthTries 4\n")
	write("etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nInclude /etc/ssh/missing.conf\nPort 22\n")
	files := []string{"etc/ssh/sshd_config", "etc/ssh/sshd_config.d/10-a.conf", "etc/ssh/sshd_config.d", "etc/ssh"}
	if got, want := load(), newest(files...); got.IsZero() || !got.Equal(want) {
		t.Fatalf("Changed() = %v, want %v, the newest of %q", got, want, files)
	}
	for _, tt := range []struct {
		what, name string
		read       bool // the load reads the file (its directory changed too)
	}{
		{"a drop-in rewritten", "etc/ssh/sshd_config.d/10-a.conf", true},
		{"a file no glob matches added", "etc/ssh/sshd_config.d/README", false},
		{"a literally included file added", "etc/ssh/missing.conf", true},
	} {
		before := load()
		time.Sleep(20 * time.Millisecond) // past the coarse clock's tick, so that the change shows
		write(tt.name, "Port 22\n")
		if tt.read {
			files = append(files, tt.name)
		}
		if got, want := load(), newest(files...); !got.Equal(want) || !got.After(before) {
			t.Fatalf("%s: Changed() = %v, want %v, after %v", tt.what, got, want, before)
		}
	}
}
