package reconcile

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sshconverge/agent/pkg/files"
)

// outsideDir makes a directory outside the root holding n files, and
// returns it with a function that fails the test if anything in it changed.
func outsideDir(t *testing.T, n int) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i))), []byte("precious"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := stamps(t, dir)
	return dir, func() {
		t.Helper()
		if diff := cmp.Diff(before, stamps(t, dir)); diff != "" {
			t.Errorf("a directory outside the root changed (-before +after):\n%s", diff)
		}
	}
}

func rootWith(t *testing.T, links map[string]string) (*files.Root, *FS) {
	t.Helper()
	dir := t.TempDir()
	for link, target := range links {
		full := filepath.Join(dir, link)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	root, err := files.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return root, openFS(t, root)
}

// TestFSStaysInside: state, lock and backups whose directories are
// symbolic links pointing out of the root (absolute or relative) land
// inside it, and nothing outside is written or deleted.
func TestFSStaysInside(t *testing.T) {
	out, unchanged := outsideDir(t, 15)
	rel, _ := filepath.Rel("/", out)
	root, fsys := rootWith(t, map[string]string{
		"var/lib/sshconverge": out,                           // absolute: restarts at the root
		"run":                 "../../../../../../../" + rel, // relative: ".." stops at the root
	})
	state := OpenState(fsys, "/var/lib/sshconverge")
	if err := state.SetReloadPending(true); err != nil {
		t.Fatal(err)
	}
	lock, err := AcquireLock(context.Background(), fsys, "/run/sshconverge.lock", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := lock.Release(); err != nil {
		t.Fatal(err)
	}
	b := Backup{FS: fsys, Dir: "/var/lib/sshconverge/backup", Keep: 1}
	for range 3 {
		if err := b.save([]FileChange{{FileChange: files.FileChange{Path: "/etc/ssh/sshd_config", Before: "old"}}}); err != nil {
			t.Fatal(err)
		}
	}
	unchanged()
	if _, err := os.Stat(filepath.Join(root.Dir(), out, "state.json")); err != nil {
		t.Errorf("state.json is not inside the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root.Dir(), out, "sshconverge.lock")); err != nil {
		t.Errorf("the lock is not inside the root: %v", err)
	}
}

// TestLockRefusesLinks: a lock that is a symbolic link (dangling or not)
// is refused, not created at its target.
func TestLockRefusesLinks(t *testing.T) {
	root, fsys := rootWith(t, map[string]string{"run/sshconverge.lock": "/etc/created-by-lock"})
	if _, err := AcquireLock(context.Background(), fsys, "/run/sshconverge.lock", time.Second); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root.Dir(), "etc/created-by-lock")); !os.IsNotExist(err) {
		t.Fatalf("the link's target was created: %v", err)
	}
}

// TestBackupPrunesOnlyItsOwn: pruning removes the agent's oldest backup
// directories only: not stray files or directories, not a link, not the
// current run's, whatever the sort order says.
func TestBackupPrunesOnlyItsOwn(t *testing.T) {
	out, unchanged := outsideDir(t, 15)
	root, fsys := rootWith(t, map[string]string{"var/lib/sshconverge/backup/" + backupPrefix + "00000000T000000.000000000Z": out})
	bdir := filepath.Join(root.Dir(), "var/lib/sshconverge/backup")
	for _, stray := range []string{"aaa-stray-dir", backupPrefix + "10000101T000000.000000000Z-no-manifest"} {
		if err := os.MkdirAll(filepath.Join(bdir, stray), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bdir, "zzz-stray-file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := Backup{FS: fsys, Dir: "/var/lib/sshconverge/backup", Keep: 2, Now: func() time.Time { clock = clock.Add(time.Hour); return clock }}
	change := []FileChange{{FileChange: files.FileChange{Path: "/etc/ssh/sshd_config", Before: "old"}}}
	for range 4 {
		if err := b.save(change); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(bdir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{
		"aaa-stray-dir",
		backupPrefix + "00000000T000000.000000000Z", // a link: never followed, never removed
		backupPrefix + "10000101T000000.000000000Z-no-manifest",
		backupPrefix + "20260101T030000.000000000Z",
		backupPrefix + "20260101T040000.000000000Z",
		"zzz-stray-file",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("backup directory (-want +got):\n%s", diff)
	}
	unchanged()
	got, _ := os.ReadFile(filepath.Join(bdir, backupPrefix+"20260101T040000.000000000Z/etc/ssh/sshd_config"))
	if string(got) != "old" {
		t.Errorf("backup holds %q", got)
	}
}

// TestSweepTemp removes the agent's temp files a killed run left, and
// nothing else.
func TestSweepTemp(t *testing.T) {
	root, fsys := rootWith(t, nil)
	d := filepath.Join(root.Dir(), "etc/ssh/sshd_config.d")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := []string{"50-cloud-init.conf", ".sshd_config.sshconverge-zz.tmp", "x.sshconverge-0123456789ab.tmp"}
	gone := []string{".50-cloud-init.conf.sshconverge-0123456789ab.tmp", ".00-sshconverge.conf.sshconverge-abcdefabcdef.tmp"}
	for _, n := range append(keep, gone...) {
		if err := os.WriteFile(filepath.Join(d, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Named as temp files are, but not regular files: kept.
	if err := os.Mkdir(filepath.Join(d, ".d.sshconverge-0123456789ab.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("50-cloud-init.conf", filepath.Join(d, ".l.sshconverge-0123456789ab.tmp")); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, ".d.sshconverge-0123456789ab.tmp", ".l.sshconverge-0123456789ab.tmp")
	n, err := fsys.SweepTemp([]string{"/etc/ssh/sshd_config.d", "/nonexistent"})
	if err != nil || n != len(gone) {
		t.Fatalf("swept %d, %v", n, err)
	}
	for _, k := range keep {
		if _, err := os.Lstat(filepath.Join(d, k)); err != nil {
			t.Errorf("%s removed", k)
		}
	}
	for _, g := range gone {
		if _, err := os.Lstat(filepath.Join(d, g)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s kept: %v", g, err)
		}
	}
}
