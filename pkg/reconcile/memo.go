package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// Memo is a small record in the state directory that saves a run from
// asking OpenSSH what an earlier run asked already: a value stored under a
// key that names everything the answer depends on (see SSHD.AcceptKey,
// SSHD.VersionKey). Any change to one of those makes another key, and
// OpenSSH is asked again.
type Memo struct {
	fs   *FS
	path string // configuration path of the record
}

// OpenMemo returns the record name kept in the state directory dir.
func OpenMemo(fsys *FS, dir, name string) *Memo {
	return &Memo{fs: fsys, path: path.Join(dir, name)}
}

// Get returns the value stored under key. A record this process's user
// does not own, or that others can write, is not believed.
func (m *Memo) Get(key string) (string, bool) {
	if m == nil || key == "" {
		return "", false
	}
	st, err := m.fs.Lstat(m.path)
	if err != nil || !ownedBySelf(st) {
		return "", false
	}
	b, err := m.fs.ReadFile(m.path)
	if err != nil {
		return "", false
	}
	k, v, ok := strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n")
	if !ok || k != key || strings.Contains(v, "\n") {
		return "", false
	}
	return v, true
}

// Put stores value (one line) under key, when the state directory exists
// (an audit creates no directory). A nil Memo stores nothing.
func (m *Memo) Put(key, value string) error {
	if m == nil || key == "" || strings.Contains(value, "\n") {
		return nil
	}
	st, err := m.fs.Lstat(path.Dir(m.path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", m.path, err)
	case !st.IsDir() || !ownedBySelf(st):
		return fmt.Errorf("%s: the state directory is not this user's alone", m.path)
	}
	if err := m.fs.WriteAtomic(m.path, []byte(key+"\n"+value+"\n"), fileMeta{mode: 0o600, uid: -1, gid: -1}); err != nil {
		return fmt.Errorf("%s: %w", m.path, err)
	}
	return nil
}

// ownedBySelf reports whether st is owned by this process's user and
// writable by no one else.
func ownedBySelf(st fs.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Geteuid() && st.Mode().Perm()&0o022 == 0 && st.Mode()&fs.ModeSymlink == 0
}

// VersionKey returns the key under which the OpenSSH release Version
// finds is remembered: the identities of the ssh and sshd binaries it
// would ask (an upgrade replaces them). It is "" when none may be
// remembered (a running daemon's binaries are asked in its own view).
func (s *SSHD) VersionKey() (string, error) {
	return s.viewKey(func(h io.Writer, v *view) {
		fmt.Fprintf(h, "sshconverge openssh 1\nchroot %q\n", v.spec.Chroot)
		for _, bin := range []string{"/usr/bin/ssh", "/bin/ssh", v.spec.Argv[0]} {
			fmt.Fprintf(h, "%q %s\n", bin, identity(path.Join(v.spec.Chroot, bin)))
		}
	})
}

// viewKey hashes what describe writes about the view sshd would run in;
// "" with a running daemon, whose view the agent does not read.
func (s *SSHD) viewKey(describe func(io.Writer, *view)) (string, error) {
	if s.Listener != nil {
		return "", nil
	}
	v, err := s.view()
	if err != nil {
		return "", err
	}
	defer v.close()
	h := sha256.New()
	describe(h, v)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// AcceptKey returns the key under which sshd's verdict on the
// configuration whose files have digest (Plan.ServerDigest) is
// remembered: the digest, how sshd is run (its arguments, chroot and
// binds), the identity (device, inode, size, modification and change
// times: an upgrade changes it) of its binary and of the password file it
// looks its privilege separation user up in, and the content of every host
// key file. It is "" when no verdict may be remembered: a running daemon
// is asked in its own view, whose files the agent does not read.
func (s *SSHD) AcceptKey(digest string) (string, error) {
	if digest == "" {
		return "", nil
	}
	return s.viewKey(func(h io.Writer, v *view) {
		fmt.Fprintf(h, "sshconverge accepted 1\nfiles %s\nargv %q\nchroot %q\n", digest, v.spec.Argv, v.spec.Chroot)
		for _, b := range v.spec.Binds {
			fmt.Fprintf(h, "bind %q %q\n", b.Source, b.Target)
		}
		fmt.Fprintf(h, "binary %s\npasswd %s\n", identity(path.Join(v.spec.Chroot, v.spec.Argv[0])), identity(path.Join(v.spec.Chroot, "/etc/passwd")))
		for _, k := range s.HostKeys {
			id := "unreadable"
			if b, err := s.Root.ReadFile(k); err == nil {
				sum := sha256.Sum256(b)
				id = hex.EncodeToString(sum[:])
			}
			fmt.Fprintf(h, "hostkey %q %s\n", k, id)
		}
	})
}

// identity names the file at the host path p as it is now: a file
// replaced or changed in place gets another name.
func identity(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return "missing"
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "unknown"
	}
	return fmt.Sprintf("%d:%d:%d:%d.%d:%d.%d:%o", sys.Dev, sys.Ino, sys.Size, sys.Mtim.Sec, sys.Mtim.Nsec, sys.Ctim.Sec, sys.Ctim.Nsec, sys.Mode)
}
