package reconcile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sshconverge/agent/pkg/files"
)

// TestMemo: a value is stored only in an existing state directory, read
// back only under its key, and a record that is a link or that others can
// write is not believed.
func TestMemo(t *testing.T) {
	dir := t.TempDir()
	root, err := files.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	m := OpenMemo(fsys, "/var/lib/sshconverge", "openssh")
	if err := m.Put("k1", "9.2p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "var/lib/sshconverge")); err == nil {
		t.Fatal("Put created the state directory")
	}
	if err := os.MkdirAll(filepath.Join(dir, "var/lib/sshconverge"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := m.Put("k1", "9.2p1"); err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Get("k1"); !ok || v != "9.2p1" {
		t.Fatalf("Get(k1) = %q, %v", v, ok)
	}
	if _, ok := m.Get("k2"); ok {
		t.Fatal("Get(k2) found the value stored under k1")
	}
	rec := filepath.Join(dir, "var/lib/sshconverge/openssh")
	if err := os.Chmod(rec, 0o620); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get("k1"); ok {
		t.Fatal("a record others can write was believed")
	}
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("k1\n9.2p1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get("k1"); ok {
		t.Fatal("a record that is a link was believed")
	}
}

// TestAcceptKeyNotWithDaemon: a running daemon validates in its own view,
// whose files the agent does not read: its verdict is never remembered.
func TestAcceptKeyNotWithDaemon(t *testing.T) {
	s := &SSHD{Listener: &Listener{PID: 1}}
	for _, f := range []func() (string, error){
		func() (string, error) { return s.AcceptKey("digest") },
		s.VersionKey,
	} {
		if key, err := f(); key != "" || err != nil {
			t.Fatalf("key %q, %v with a running daemon; want none", key, err)
		}
	}
}
