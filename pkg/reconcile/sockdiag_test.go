package reconcile

import (
	"fmt"
	"maps"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListeningInodes: sock_diag lists the same listening sockets as
// /proc/PID/net/tcp and tcp6, in the agent's network namespace and in
// another one (a thread of the test in a namespace of its own, seen
// through /proc/PID/task/TID).
func TestListeningInodes(t *testing.T) {
	inode := func(l net.Listener) string {
		t.Helper()
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		return strconv.FormatUint(st.Sys().(*syscall.Stat_t).Ino, 10)
	}
	ours, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()

	type other struct {
		tid int
		l   net.Listener
		err error
	}
	started, done := make(chan other), make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in its namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			started <- other{err: err}
			return
		}
		l, err := net.Listen("tcp", "0.0.0.0:0") // in the test's own namespace
		started <- other{unix.Gettid(), l, err}
		<-done
	}()
	o := <-started
	if o.err != nil {
		t.Fatal(o.err)
	}
	defer close(done)
	defer o.l.Close()

	for _, c := range []struct {
		name, dir     string
		want, wantNot string
	}{
		{"the agent's namespace", "/proc/thread-self", inode(ours), inode(o.l)},
		{"another namespace", fmt.Sprintf("/proc/%d/task/%d", os.Getpid(), o.tid), inode(o.l), inode(ours)},
	} {
		got, err := listeningInodes(c.dir)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !got[c.want] || got[c.wantNot] {
			t.Errorf("%s: listening inodes %v, want %s and not %s", c.name, got, c.want, c.wantNot)
		}
		if proc := procListening(c.dir); !maps.Equal(got, proc) {
			t.Errorf("%s: sock_diag lists %v, /proc lists %v", c.name, got, proc)
		}
		if socks := socketsAmong(c.dir, got); len(socks) == 0 || !slices.Contains(socks, c.want) {
			t.Errorf("%s: the process's listening sockets %v miss %s", c.name, socks, c.want)
		}
	}
}
