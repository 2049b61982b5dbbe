package reconcile

import (
	"encoding/binary"
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
		{"the agent's namespace", "/proc/thread-self", listenerInode(t, ours), listenerInode(t, o.l)},
		{"another namespace", fmt.Sprintf("/proc/%d/task/%d", os.Getpid(), o.tid), listenerInode(t, o.l), listenerInode(t, ours)},
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

// TestListeningInodesOnlyFromKernel: a message another process sends to
// the diagnostics socket (root in the namespace's user namespace may) is
// not taken for the kernel's answer.
func TestListeningInodesOnlyFromKernel(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fd, err := diagSocket("/proc/thread-self")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrNetlink).Pid
	// A forged answer: one listening socket of inode 4242424242, then
	// the end of the dump.
	ne := binary.NativeEndian
	forged := make([]byte, 16+72+16+4)
	ne.PutUint32(forged[0:], 16+72)
	ne.PutUint16(forged[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint32(forged[8:], 1)
	forged[16], forged[17] = unix.AF_INET, tcpListen
	ne.PutUint32(forged[16+68:], 4242424242)
	done := forged[16+72:]
	ne.PutUint32(done[0:], 16+4)
	ne.PutUint16(done[4:], unix.NLMSG_DONE)
	ne.PutUint32(done[8:], 1)
	sender, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sender)
	if err := unix.Sendto(sender, forged, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: port}); err != nil {
		t.Fatalf("sending the forged answer: %v", err)
	}
	inodes := map[string]bool{}
	if err := dumpListening(fd, unix.AF_INET, inodes); err != nil {
		t.Fatal(err)
	}
	if inodes["4242424242"] {
		t.Error("a forged answer from a process was believed")
	}
	if ino := listenerInode(t, l); !inodes[ino] {
		t.Errorf("the kernel's answer %v misses the test's listener %s", inodes, ino)
	}
}

// listenerInode returns the inode of l's socket, as the kernel lists it.
func listenerInode(t *testing.T, l net.Listener) string {
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
