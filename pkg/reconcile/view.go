package reconcile

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
// stand before anything on disk changes. The namespace is prepared by the
// agent's own binary, re-executed as a small helper ("view helper"): no
// shell and no mount(8) are involved.

// viewHelperArg is the first argument of the agent re-executed as the view
// helper.
const viewHelperArg = "__sshconverge-view-helper"

// viewSpec tells the view helper how to build the view and what to run in
// it. File descriptors are the helper's inherited ones. A mount cannot
// take its source from another namespace, so the helper copies what it is
// given into a private tmpfs of its own namespace and binds from there.
type viewSpec struct {
	// Scratch is the directory the private tmpfs is mounted on (a path
	// before any chroot); it must not hold a bind target.
	Scratch string `json:"scratch"`
	// Binds copy each FD (a staged file, or a directory of them) into
	// Scratch and mount the copy over Target.
	Binds []viewBind `json:"binds,omitempty"`
	// Files copies FD to Scratch/Name (the ephemeral host key).
	Files []viewFile `json:"files,omitempty"`
	// PrivsepDir is sshd's privilege separation directory (/run/sshd),
	// made on a private tmpfs over its parent when it is missing.
	PrivsepDir string `json:"privsep_dir,omitempty"`
	// Chroot is the directory to change root to after mounting; "" for
	// none.
	Chroot string `json:"chroot,omitempty"`
	// Account, when set, has copies of the view's /etc/passwd and
	// /etc/group bound over them in which its user is a member of its
	// groups (for sshd -T -C on a Match Group scope).
	Account *viewAccount `json:"account,omitempty"`
	// Argv is the command to execute in the view.
	Argv []string `json:"argv"`
}

// viewAccount is a user and the groups it must be a member of.
type viewAccount struct {
	User   string   `json:"user"`
	Groups []string `json:"groups"`
}

// viewBind mounts a copy of the inherited descriptor FD, or the path
// Source of the view itself, over Target.
type viewBind struct {
	FD     int    `json:"fd,omitempty"`
	Source string `json:"source,omitempty"`
	Target string `json:"target"`
}

// viewFile copies the inherited descriptor FD to Scratch/Name.
type viewFile struct {
	FD   int    `json:"fd"`
	Name string `json:"name"`
}

// RunViewHelper runs the view helper when args (the program's arguments
// after its name) ask for it, and then never returns; otherwise it returns
// at once. The agent's main calls it first, and so must TestMain of any
// package whose tests validate configurations.
func RunViewHelper(args []string) {
	if len(args) != 2 || args[0] != viewHelperArg {
		return
	}
	var spec viewSpec
	err := json.Unmarshal([]byte(args[1]), &spec)
	if err == nil {
		err = spec.enter()
	}
	fmt.Fprintf(os.Stderr, "sshconverge: preparing sshd's view: %v\n", err)
	os.Exit(125)
}

// enter builds the view in the current (private) mount namespace and
// executes the command; it returns only on failure.
func (s viewSpec) enter() error {
	if len(s.Argv) == 0 {
		return errors.New("no command")
	}
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
			if err := copyFD(b.FD, src); err != nil {
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
	if err := s.privsep(); err != nil {
		return err
	}
	if s.Chroot != "" {
		if err := unix.Chroot(s.Chroot); err != nil {
			return fmt.Errorf("chroot %s: %w", s.Chroot, err)
		}
		if err := os.Chdir("/"); err != nil {
			return err
		}
	}
	return syscall.Exec(s.Argv[0], s.Argv, childEnv)
}

// mountsNothing reports whether the view is the namespace it starts from,
// unchanged: nothing to bind, copy, chroot into or make.
func (s viewSpec) mountsNothing() bool {
	return len(s.Binds) == 0 && len(s.Files) == 0 && s.PrivsepDir == "" && s.Chroot == "" && s.Account == nil
}

// scratch mounts a tmpfs on Scratch and copies Files into it.
func (s viewSpec) scratch() error {
	if err := unix.Mount("tmpfs", s.Scratch, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64m"); err != nil {
		return fmt.Errorf("mounting a scratch tmpfs on %s: %w", s.Scratch, err)
	}
	for _, f := range s.Files {
		if err := copyFD(f.FD, filepath.Join(s.Scratch, f.Name)); err != nil {
			return err
		}
	}
	return nil
}

// copyFD copies the inherited descriptor fd to dst: a regular file's
// content (mode 0600), or a directory's regular files (mode 0644).
func copyFD(fd int, dst string) error {
	f := os.NewFile(uintptr(fd), fdPath(fd))
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return copyFile(f, dst, 0o600)
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	entries, err := f.ReadDir(-1)
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
		if err := copyFile(os.NewFile(uintptr(nfd), e.Name()), filepath.Join(dst, e.Name()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies from src (then closed) into a new file dst.
func copyFile(src *os.File, dst string, perm os.FileMode) error {
	defer src.Close()
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
	passwd, err := root.ReadFile("etc/passwd")
	if err != nil {
		return err
	}
	group, err := root.ReadFile("etc/group")
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

// bindCopy writes content to src and binds it over name inside root.
func bindCopy(root *os.Root, name, src string, content []byte) error {
	if err := os.WriteFile(src, content, 0o644); err != nil {
		return err
	}
	f, err := root.Open(name)
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

// fdPath names an inherited descriptor.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
