package reliability_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// outsideDir makes a directory outside the tree holding 15 entries: nine
// files, a MANIFEST (as in the agent's backup runs) and five directories
// named like backup runs, each with a MANIFEST.
func outsideDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i := range 9 {
		must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%02d", i)), []byte(fmt.Sprintf("precious %d\n", i)), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("/etc/ssh/sshd_config\n"), 0o600))
	for i := range 5 {
		d := filepath.Join(dir, fmt.Sprintf("sshconverge-backup-2020010%dT000000.000000000Z", i+1))
		must(t, os.Mkdir(d, 0o700))
		must(t, os.WriteFile(filepath.Join(d, "MANIFEST"), []byte("/etc/ssh/sshd_config\n"), 0o600))
		must(t, os.WriteFile(filepath.Join(d, "sshd_config"), []byte("precious backup\n"), 0o600))
	}
	return dir
}

// TestSymlinkedDirsStayInside replaces the state, run and backup
// directories (and the lock and state files) of a tree with symbolic
// links that lead outside it, absolute and relative, and applies: nothing
// outside the root may be written or deleted. The agent either resolves
// the link inside the root or refuses it (exit 1, nothing written, an
// error naming it).
func TestSymlinkedDirsStayInside(t *testing.T) {
	needRoot(t, "unshare")
	for _, c := range symlinkCases() {
		t.Run(c.name, func(t *testing.T) { runSymlinkCase(t, c) })
	}
}

// symlinkCase is a tree path made a symbolic link that leads outside.
type symlinkCase struct {
	name, link string // link: the tree path made a symlink
	relative   bool
	target     string // under the outside directory; "" = the directory itself
	args       []string
}

func symlinkCases() []symlinkCase {
	return []symlinkCase{
		{"state dir (absolute)", "var/lib/sshconverge", false, "", nil},
		{"state dir (relative ..)", "var/lib/sshconverge", true, "", nil},
		{"var/lib (absolute)", "var/lib", false, "", nil},
		{"run dir (absolute)", "run", false, "", nil},
		{"run dir (relative ..)", "run", true, "", nil},
		{"lock file (absolute, to a new file)", "run/sshconverge.lock", false, "new-lock", nil},
		{"backup dir (absolute)", "var/lib/sshconverge/backup", false, "", []string{"--backup", "--backup-keep", "1"}},
		{"backup dir (relative ..)", "var/lib/sshconverge/backup", true, "", []string{"--backup", "--backup-keep", "1"}},
		{"an old backup run (absolute)", "var/lib/sshconverge/backup/sshconverge-backup-20000101T000000.000000000Z", false, "", []string{"--backup", "--backup-keep", "1"}},
		{"an old backup run (relative ..)", "var/lib/sshconverge/backup/sshconverge-backup-20000101T000000.000000000Z", true, "", []string{"--backup", "--backup-keep", "1"}},
		{"metrics file's directory (absolute)", "var/lib/node_exporter", false, "", []string{"--metrics-file", "/var/lib/node_exporter/sshconverge.prom"}},
	}
}

// runSymlinkCase makes the link, applies, and checks the outside.
func runSymlinkCase(t *testing.T, c symlinkCase) {
	root := smallTree(t)
	outside := outsideDir(t)
	target := filepath.Join(outside, c.target)
	link := filepath.Join(root, c.link)
	must(t, os.MkdirAll(filepath.Dir(link), 0o700))
	os.RemoveAll(link)
	if c.relative {
		rel, err := filepath.Rel(filepath.Dir(link), target)
		must(t, err)
		target = rel
	}
	must(t, os.Symlink(target, link))
	before := snapshot(t, outside)
	config := snapshot(t, filepath.Join(root, "etc/ssh"))
	r := agent(t, append(append([]string{"--root", root, "--reload", "signal"}, c.args...), writeDesired(t, smallDesired))...)
	t.Logf("%s -> %s: %v", c.link, target, r)
	if d := diffSnapshots(before, snapshot(t, outside)); len(d) > 0 {
		t.Errorf("outside the root:\n%s", strings.Join(d, "\n"))
	}
	// No sshd runs, so a run that wrote the configuration may end
	// in exit 1 with the reload pending; one that wrote nothing must
	// say why, naming the link.
	written := len(diffSnapshots(config, snapshot(t, filepath.Join(root, "etc/ssh")))) > 0
	switch {
	case r.code == 0, r.code == 1 && written:
	case r.code == 1:
		if !strings.Contains(r.stderr, filepath.Base(c.link)) {
			t.Errorf("nothing written, exit 1, and the error does not name %s", c.link)
		}
	default:
		t.Errorf("exit %d", r.code)
	}
}

// TestBackupPruneOnlyOwn fills the backup directory with entries that
// are not the agent's own runs, though some look like them (its name
// prefix with and without a MANIFEST, a file, a link to a directory
// outside the root), and applies three times with --backup
// --backup-keep 2: pruning deletes only older directories of the
// agent's own making, never the others and never through the link, and
// keeps the current run's.
func TestBackupPruneOnlyOwn(t *testing.T) {
	needRoot(t, "unshare")
	root := smallTree(t)
	backup := filepath.Join(root, "var/lib/sshconverge/backup")
	// Nine files, a MANIFEST, and five older runs of the agent's making
	// (its name prefix, a directory, a MANIFEST): those may be pruned.
	copyTree(t, outsideDir(t), backup)
	must(t, os.Chmod(filepath.Join(root, "var/lib/sshconverge"), 0o700))
	// Look-alikes older than any run, which are not the agent's: no
	// MANIFEST, a file, a link to a directory (outside the root) that has
	// one.
	must(t, os.Mkdir(filepath.Join(backup, "sshconverge-backup-20000101T000000.000000000Z"), 0o700))
	must(t, os.WriteFile(filepath.Join(backup, "sshconverge-backup-20000102T000000.000000000Z"), []byte("a file\n"), 0o600))
	outside := outsideDir(t)
	must(t, os.Symlink(outside, filepath.Join(backup, "sshconverge-backup-20000103T000000.000000000Z")))
	outsideBefore := snapshot(t, outside)
	before := snapshot(t, backup)
	for i, v := range []string{"300", "301", "302"} {
		desired := strings.Replace(smallDesired, "300", v, 1)
		r := agent(t, "--root", root, "--reload", "none", "--backup", "--backup-keep", "2", writeDesired(t, desired))
		if r.code != 0 {
			t.Fatalf("run %d: %v", i, r)
		}
	}
	if d := diffSnapshots(outsideBefore, snapshot(t, outside)); len(d) > 0 {
		t.Errorf("outside the root:\n%s", strings.Join(d, "\n"))
	}
	after := snapshot(t, backup)
	var lost []string
	for p, b := range before {
		top, _, _ := strings.Cut(p, string(filepath.Separator))
		if after[p] != b && !isBackupRun(filepath.Join(backup, top), before) {
			lost = append(lost, p)
		}
	}
	sort.Strings(lost)
	if len(lost) > 0 {
		t.Errorf("pruning deleted or changed entries that are not the agent's runs: %v", lost)
	}
	entries, err := os.ReadDir(backup)
	must(t, err)
	var runs []string
	for _, e := range entries {
		if p := filepath.Join(backup, e.Name()); isBackupRun(p, after) {
			runs = append(runs, e.Name())
			if _, old := before[e.Name()]; old {
				t.Errorf("%s, older than this test's runs, was kept", e.Name())
			}
		}
	}
	if len(runs) != 2 {
		t.Errorf("backup runs after three runs with --backup-keep 2: %v, want 2", runs)
	}
}

// isBackupRun reports whether the top-level backup entry p is a run of
// the agent's making according to snapshot snap of the backup directory:
// its name prefix, a directory (not a link), a regular MANIFEST.
func isBackupRun(p string, snap map[string]string) bool {
	name := filepath.Base(p)
	return strings.HasPrefix(name, "sshconverge-backup-") && strings.HasPrefix(snap[name], "dir ") &&
		strings.HasPrefix(snap[filepath.Join(name, "MANIFEST")], "-")
}
