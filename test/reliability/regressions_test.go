package reliability_test

// Regression tests of defects this suite found in the agent: each failed
// before its fix.

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSymlinkedStateFileNamed: a state.json that is a link leading out of
// the root: nothing outside is touched, and when nothing is written the
// error names the state file.
func TestSymlinkedStateFileNamed(t *testing.T) {
	needRoot(t, "unshare")
	runSymlinkCase(t, symlinkCase{"state file (absolute)", "var/lib/sshconverge/state.json", false, "file-03", nil})
}

// TestRootOnTmpfs applies to a tree that lives on a tmpfs under /dev/shm
// (where a test, a CI job or an unpacked image may well put it): the
// validation's private scratch file system must not hide the tree.
func TestRootOnTmpfs(t *testing.T) {
	needRoot(t, "unshare", "/usr/sbin/sshd")
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) != nil || st.Type != unix.TMPFS_MAGIC {
		t.Skip("/dev/shm is not a tmpfs here")
	}
	base, err := os.MkdirTemp("/dev/shm", "sshconverge-reliability-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	root := filepath.Join(base, "root")
	copyTree(t, smallTree(t), root)
	r := agent(t, "--root", root, "--reload", "none", writeDesired(t, smallDesired))
	if r.code != 0 {
		t.Errorf("apply with --root %s: %v", root, r)
	}
}

// TestSIGTERMSaysInterrupted: a run stopped by SIGTERM before it wrote
// anything (during the validation, say) ends with an error that says it
// was interrupted (or terminated), not that the configuration could not
// be checked because of a "context canceled" or a "signal: killed". Once
// it passes, TestCrashSIGTERM can set strictInterrupt and this test go.
func TestSIGTERMSaysInterrupted(t *testing.T) {
	f := newCrashFixture(t, true)
	f.strictInterrupt, f.beforeWrites = true, true
	seed := crashSeed(t) + 2
	t.Logf("seed %d (SSHCONVERGE_CRASH_SEED=%d replays it)", seed, seed-2)
	crashLoop(t, f, "sigterm-message", syscall.SIGTERM, 20, seed)
}
