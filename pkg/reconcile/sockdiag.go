package reconcile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// listeningInodes returns the inodes of the TCP sockets in the LISTEN
// state in the network namespace of the process whose /proc directory is
// dir, as the kernel's socket diagnostics (sock_diag, what ss uses) list
// them. Asked for listening sockets alone, the kernel walks its listening
// table alone; /proc/PID/net/tcp and tcp6 walk every table of the
// namespace, which took about 2 ms on the bench machine for a namespace
// with two sockets.
func listeningInodes(dir string) (map[string]bool, error) {
	fd, err := diagSocket(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	inodes := map[string]bool{}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := dumpListening(fd, family, inodes); err != nil {
			return nil, err
		}
	}
	return inodes, nil
}

// diagSocket opens a sock_diag netlink socket in the network namespace of
// the process at dir. A socket belongs to the namespace it was made in:
// when that is not the agent's, it is made in inNamespace.
func diagSocket(dir string) (int, error) {
	open := func() (int, error) {
		return unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	}
	theirs, err1 := os.Readlink(filepath.Join(dir, "ns/net"))
	// The calling thread's: /proc/self names the main thread's, which a
	// thread that entered another namespace (inNamespace) may be.
	ours, err2 := os.Readlink("/proc/thread-self/ns/net")
	if err := errors.Join(err1, err2); err != nil {
		return -1, err
	}
	if theirs == ours {
		return open()
	}
	ns, err := os.Open(filepath.Join(dir, "ns/net"))
	if err != nil {
		return -1, err
	}
	defer ns.Close()
	fd := -1
	err = inNamespace(ns, unix.CLONE_NEWNET, func() (err error) {
		fd, err = open()
		return err
	})
	return fd, err
}

// TCP's LISTEN state (include/net/tcp_states.h).
const tcpListen = 10

// dumpListening asks the sock_diag socket fd for the listening TCP sockets
// of family and adds their inodes to inodes.
func dumpListening(fd int, family uint8, inodes map[string]bool) error {
	// struct nlmsghdr, then struct inet_diag_req_v2: family, protocol,
	// extensions, padding, the states wanted as a bit mask, and a socket
	// id (48 bytes) that a dump ignores.
	const hdr, req = unix.SizeofNlMsghdr, 56
	msg := make([]byte, hdr+req)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(msg[8:], 1) // sequence
	msg[hdr], msg[hdr+1] = family, unix.IPPROTO_TCP
	ne.PutUint32(msg[hdr+4:], 1<<tcpListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	buf := make([]byte, 32<<10)
	for {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("sock_diag answer: %w", err)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not the kernel's: root in the namespace's user namespace may send too
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("sock_diag answer: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(ne.Uint32(m.Data)); errno != 0 {
						return fmt.Errorf("sock_diag: %w", syscall.Errno(-errno))
					}
				}
				return errors.New("sock_diag: an error without its number")
			}
			// struct inet_diag_msg: family, state, timer, retransmits,
			// the socket id (48 bytes), expires, rqueue, wqueue, uid,
			// inode.
			if d := m.Data; len(d) >= 72 && d[1] == tcpListen {
				inodes[fmt.Sprint(ne.Uint32(d[68:]))] = true
			}
		}
	}
}
