package reconcile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Listener is a running sshd listener as the kernel describes it: a
// process owned by root, running a root-owned sshd binary that no one
// else can write, holding listening sockets. Nothing a process says about
// itself (its title) is trusted before these facts are checked.
type Listener struct {
	// PID is the listener's process id.
	PID int
	// Exe is its binary's path as its own mount namespace names it.
	Exe string
	// Args are its original arguments, from the title sshd gives itself
	// ("sshd: BINARY ARGS [listener] …"), trusted only once the kernel's
	// facts are checked.
	Args []string
	// Sockets are the inodes of the listening TCP sockets it holds; sshd
	// opens new ones when it re-executes itself on SIGHUP.
	Sockets []string
}

// ConfigFile is the configuration file the listener reads: its -f, or
// sshd's default.
func (l *Listener) ConfigFile() string {
	for i, a := range l.Args {
		if a == "-f" && i+1 < len(l.Args) {
			return l.Args[i+1]
		}
		if f, ok := strings.CutPrefix(a, "-f"); ok && f != "" {
			return f
		}
	}
	return "/etc/ssh/sshd_config"
}

// ErrNotListener says a process is not a trustworthy sshd listener.
var ErrNotListener = errors.New("not an sshd listener")

// inspectListener checks the kernel's facts about pid and returns the
// listener, or an error wrapping ErrNotListener that says which fact
// failed, or fs.ErrNotExist when no such process runs.
func inspectListener(proc string, pid int) (*Listener, error) {
	dir := filepath.Join(proc, strconv.Itoa(pid))
	if !alive(proc, pid) {
		return nil, fs.ErrNotExist
	}
	if err := rootOwnedProcess(dir); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotListener, err)
	}
	exe, err := trustedBinary(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotListener, err)
	}
	args, err := titleArgs(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotListener, err)
	}
	socks := listeningSockets(dir)
	if len(socks) == 0 {
		return nil, fmt.Errorf("%w: it holds no listening TCP socket", ErrNotListener)
	}
	return &Listener{PID: pid, Exe: exe, Args: args, Sockets: socks}, nil
}

// rootOwnedProcess checks that every uid of the process is 0.
func rootOwnedProcess(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			for _, f := range strings.Fields(rest) {
				if f != "0" {
					return fmt.Errorf("it runs as uid %s, not root", f)
				}
			}
			return nil
		}
	}
	return errors.New("its status has no Uid line")
}

// trustedBinary checks the process's binary (opened through /proc, so it
// is the file the kernel runs, wherever it lives): a regular file owned by
// root, writable by no one else, named sshd. It returns the binary's path
// as the process's namespace names it.
func trustedBinary(dir string) (string, error) {
	exe, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil {
		return "", fmt.Errorf("its binary cannot be read: %v", err)
	}
	f, err := os.Open(filepath.Join(dir, "exe"))
	if err != nil {
		return "", fmt.Errorf("its binary %s cannot be opened: %v", exe, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if err := rootOnly(st); err != nil {
		return "", fmt.Errorf("its binary %s %v", exe, err)
	}
	if binaryName(exe) != "sshd" {
		return "", fmt.Errorf("its binary is %s, not sshd", exe)
	}
	return exe, nil
}

// binaryName is the name of the binary a process's exe link points to,
// deleted since (an upgrade replaced it) or not.
func binaryName(exe string) string {
	return path.Base(strings.TrimSuffix(exe, " (deleted)"))
}

// rootOnly checks that a file is regular (or a directory), owned by root
// and writable by no one else.
func rootOnly(st fs.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return errors.New("has no owner")
	case sys.Uid != 0:
		return fmt.Errorf("is owned by uid %d, not root", sys.Uid)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("is writable by others (mode %v)", st.Mode().Perm())
	case !st.Mode().IsRegular() && !st.IsDir():
		return fmt.Errorf("is not a regular file (mode %v)", st.Mode())
	}
	return nil
}

// titleArgs returns the original arguments from a listener's title:
// "NAME: BINARY ARGS [listener] N of A-B startups", NAME the base name of
// BINARY as it was run ("sshd", or a link's name).
func titleArgs(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		return nil, err
	}
	title := strings.TrimRight(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), " ")
	name, rest, ok := strings.Cut(title, ": ")
	if !ok {
		return nil, fmt.Errorf("its title %q is not a listener's", title)
	}
	cmd, _, ok := strings.Cut(rest, " [listener]")
	if !ok {
		return nil, fmt.Errorf("its title %q is not a listener's", title)
	}
	fields := strings.Fields(cmd)
	if len(fields) == 0 || path.Base(fields[0]) != name {
		return nil, fmt.Errorf("its title %q names no binary", title)
	}
	return fields[1:], nil
}

// listeningSockets returns the inodes of the process's TCP sockets in the
// LISTEN state: those among its descriptors that the kernel lists as
// listening in its network namespace (see listeningInodes; where sock_diag
// cannot answer, /proc/PID/net/tcp and tcp6 do).
func listeningSockets(dir string) []string {
	inodes, err := listeningInodes(dir)
	if err != nil {
		inodes = procListening(dir)
	}
	return socketsAmong(dir, inodes)
}

// procListening returns the inodes of the TCP sockets in the LISTEN state
// that /proc/PID/net/tcp and tcp6 list, for the process at dir.
func procListening(dir string) map[string]bool {
	inodes := map[string]bool{}
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fl := strings.Fields(sc.Text()); len(fl) > 9 && fl[3] == "0A" {
				inodes[fl[9]] = true
			}
		}
		f.Close()
	}
	return inodes
}

// socketsAmong returns the inodes among inodes of the sockets the process
// at dir holds.
func socketsAmong(dir string, inodes map[string]bool) []string {
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return nil
	}
	var out []string
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if ino, ok := strings.CutPrefix(link, "socket:["); err == nil && ok && inodes[strings.TrimSuffix(ino, "]")] {
			out = append(out, strings.TrimSuffix(ino, "]"))
		}
	}
	return out
}

// alive reports whether pid is a running (not zombie) process.
func alive(proc string, pid int) bool {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// trustedPidFile checks that a pid file can be believed: owned by root
// and not writable by others, in a directory only root can write (or a
// root-owned sticky one, where others cannot replace root's file).
func trustedPidFile(hp string) error {
	st, err := os.Lstat(hp)
	if err != nil {
		return err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		if st, err = os.Stat(hp); err != nil {
			return err
		}
	}
	if err := rootOnly(st); err != nil {
		return fmt.Errorf("it %v", err)
	}
	dst, err := os.Stat(filepath.Dir(hp))
	if err != nil {
		return err
	}
	sys, _ := dst.Sys().(*syscall.Stat_t)
	switch {
	case sys == nil || sys.Uid != 0:
		return errors.New("its directory is not owned by root")
	case dst.Mode().Perm()&0o022 != 0 && dst.Mode()&fs.ModeSticky == 0:
		return fmt.Errorf("its directory is writable by others (mode %v)", dst.Mode().Perm())
	}
	return nil
}
