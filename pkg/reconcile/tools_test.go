package reconcile

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"line 9: Bad option\r\nterminating":       "line 9: Bad option\nterminating",
		"/etc/ssh/\x1b]0;owned\x07x.conf: line 1": "/etc/ssh/?]0;owned?x.conf: line 1",
		"tab\tand del\x7f":                        "tab\tand del?",
		"été":                                     "été",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOnThreadSparesMainThread: what f changes on its thread (here a
// private mount namespace with a tmpfs mounted) is never seen through
// /proc/self, which names the process's main thread: f never runs there,
// where the thread would stay, wedged, once its goroutine ended.
func TestOnThreadSparesMainThread(t *testing.T) {
	dir := t.TempDir()
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		err := onThread(func() error {
			if unix.Gettid() == unix.Getpid() {
				return errors.New("f runs on the main thread")
			}
			if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
				return err
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return err
			}
			return unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m")
		})
		if err != nil {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	after, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Fatalf("/proc/self/mountinfo shows a thread's private mounts:\n%s", after)
	}
}
