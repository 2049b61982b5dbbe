package reconcile

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sshconverge/agent/pkg/files"
)

// A view is the file system sshd sees when the agent asks it to check a
// configuration: a private mount namespace (a copy of the daemon's own, or
// of the agent's) in which staged files are bound over the paths they
// will have, so that sshd -t reads the new configuration where it will
// stand before anything on disk changes. The agent makes it on an OS
// thread of its own and starts sshd from there (viewSpec.start): no
// helper process, no shell and no mount(8) are involved, and no other
// thread of the agent ever enters it.

// viewSpec tells how to build the view and what to run in it. A mount
// cannot take its source from another namespace, so what the agent's
// files hold is copied into a private tmpfs of the view's namespace and
// bound from there.
type viewSpec struct {
	// Scratch is the directory the private tmpfs is mounted on (a path
	// before any chroot); it must not hold a bind target.
	Scratch string
	// Binds copy each File (a staged file, or a directory of them) into
	// Scratch and mount the copy over Target.
	Binds []viewBind
	// Files are written to Scratch (the ephemeral host key).
	Files []viewFile
	// PrivsepDir is sshd's privilege separation directory (/run/sshd),
	// made on a private tmpfs over its parent when it is missing.
	PrivsepDir string
	// Chroot is the directory sshd's root is changed to; "" for none.
	Chroot string
	// Account, when set, has copies of the view's /etc/passwd and
	// /etc/group bound over them in which its user is a member of its
	// groups (for sshd -T -C on a Match Group scope).
	Account *viewAccount
	// Argv is the command to execute in the view.
	Argv []string
}

// viewAccount is a user and the groups it must be a member of.
type viewAccount struct {
	User   string
	Groups []string
}

// viewBind mounts a copy of File, opened in the agent's namespace, or the
// path Source of the view itself, over Target.
type viewBind struct {
	File   *os.File
	Source string
	Target string
}

// viewFile is a file written to Scratch/Name (mode 0600).
type viewFile struct {
	Data []byte
	Name string
}

// start starts cmd (Argv) in the view. A view that mounts nothing is
// the namespace ns itself (startIn: nil is the agent's). Otherwise an OS
// thread of the agent's own (onThread) enters ns, makes a private copy of
// it, mounts the view there and starts cmd, which inherits the thread's
// namespace; the thread then ends. Nothing mounted is seen by the agent's
// other threads or propagates back to the namespace copied.
func (s viewSpec) start(ns *os.File, cmd *exec.Cmd) error {
	if s.Chroot != "" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: s.Chroot}
	}
	if s.mountsNothing() {
		return startIn(ns, cmd)
	}
	done, err := nullStdin(cmd)
	if err != nil {
		return err
	}
	defer done()
	private := func() error {
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("making a private mount namespace: %w", err)
		}
		if err := s.mount(); err != nil {
			return fmt.Errorf("preparing sshd's view: %w", err)
		}
		return cmd.Start()
	}
	if ns == nil {
		return onThread(private)
	}
	return inNamespace(ns, unix.CLONE_NEWNS, private)
}

// mount builds the view in the calling thread's own, private, mount
// namespace.
func (s viewSpec) mount() error {
	// Nothing mounted here may propagate back to the namespace this one
	// was copied from.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the mounts private: %w", err)
	}
	if err := s.scratch(); err != nil {
		return err
	}
	for i, b := range s.Binds {
		src := b.Source
		if src == "" {
			src = filepath.Join(s.Scratch, fmt.Sprintf("b%d", i))
			if err := copyIn(b.File, src); err != nil {
				return fmt.Errorf("staging %s: %w", b.Target, err)
			}
		}
		if err := unix.Mount(src, b.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding the staged %s: %w", b.Target, err)
		}
	}
	if err := s.account(); err != nil {
		return err
	}
	return s.privsep()
}

// mountsNothing reports whether the view is the namespace it starts from,
// unchanged: nothing to bind, copy or make (a chroot is sshd's own).
func (s viewSpec) mountsNothing() bool {
	return len(s.Binds) == 0 && len(s.Files) == 0 && s.PrivsepDir == "" && s.Account == nil
}

// scratch mounts a tmpfs on Scratch and copies Files into it.
func (s viewSpec) scratch() error {
	if err := unix.Mount("tmpfs", s.Scratch, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64m"); err != nil {
		return fmt.Errorf("mounting a scratch tmpfs on %s: %w", s.Scratch, err)
	}
	for _, f := range s.Files {
		if err := os.WriteFile(filepath.Join(s.Scratch, f.Name), f.Data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// copyIn copies f, a file or directory opened in the agent's namespace,
// to dst: a regular file's content (mode 0600), or a directory's regular
// files (mode 0644). It reads through new descriptors or at offsets, so
// that f can be copied again (a second try of the same view).
func copyIn(f *os.File, dst string) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return copyTo(io.NewSectionReader(f, 0, math.MaxInt64), dst, 0o600)
	}
	fd, err := unix.Openat(int(f.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(fd), f.Name())
	defer dir.Close()
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	entries, err := dir.ReadDir(-1)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		nfd, err := unix.Openat(fd, e.Name(), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		src := os.NewFile(uintptr(nfd), e.Name())
		err = copyTo(src, filepath.Join(dst, e.Name()), 0o644)
		src.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// copyTo copies what src holds into a new file dst.
func copyTo(src io.Reader, dst string, perm os.FileMode) error {
	b, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, perm)
}

// account binds, when the spec asks for it, copies of the view's
// /etc/passwd and /etc/group in which Account's user is a member of its
// groups. The files are read and bound inside the view's root, whatever
// symbolic links they are.
func (s viewSpec) account() error {
	if s.Account == nil {
		return nil
	}
	root, err := os.OpenRoot(cmp.Or(s.Chroot, "/"))
	if err != nil {
		return err
	}
	defer root.Close()
	passwd, err := readAccountFile(root, "etc/passwd")
	if err != nil {
		return err
	}
	group, err := readAccountFile(root, "etc/group")
	if err != nil {
		return err
	}
	passwd, group, err = files.ProbeAccount(passwd, group, files.Conn{User: s.Account.User, Groups: s.Account.Groups})
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{"passwd": passwd, "group": group} {
		if err := bindCopy(root, "etc/"+name, filepath.Join(s.Scratch, "account-"+name), content); err != nil {
			return fmt.Errorf("giving sshd a member of %s: %w", strings.Join(s.Account.Groups, ", "), err)
		}
	}
	return nil
}

// maxAccountFile bounds what is read of a view's /etc/passwd and
// /etc/group.
const maxAccountFile = 64 << 20

// readAccountFile reads the account file name inside root, a view's (a
// daemon's namespace may be a hostile image's): a regular file of at most
// maxAccountFile bytes, opened without blocking, since a FIFO would never
// answer an open for reading, and the agent itself, not a process of its
// own, is waiting.
func readAccountFile(root *os.Root, name string) ([]byte, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("/%s is not a regular file (%s)", name, st.Mode().Type())
	case st.Size() > maxAccountFile:
		return nil, fmt.Errorf("/%s is larger than %d MiB", name, maxAccountFile>>20)
	}
	return io.ReadAll(io.LimitReader(f, maxAccountFile))
}

// bindCopy writes content to src and binds it over name inside root
// (opened as a path only: it is not read).
func bindCopy(root *os.Root, name, src string, content []byte) error {
	if err := os.WriteFile(src, content, 0o644); err != nil {
		return err
	}
	f, err := root.OpenFile(name, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Mount(src, fdPath(int(f.Fd())), "", unix.MS_BIND, "")
}

// privsep makes sshd's privilege separation directory when it is missing
// (sshd -t refuses to run without it), on a private tmpfs over its parent
// so that nothing outside the view changes.
func (s viewSpec) privsep() error {
	if s.PrivsepDir == "" {
		return nil
	}
	if st, err := os.Stat(s.PrivsepDir); err == nil && st.IsDir() {
		return nil
	}
	parent := filepath.Dir(s.PrivsepDir)
	if err := unix.Mount("tmpfs", parent, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("mounting a tmpfs on %s for %s: %w", parent, s.PrivsepDir, err)
	}
	return os.Mkdir(s.PrivsepDir, 0o755)
}

// fdPath names a descriptor of the process.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
