package reconcile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sshconverge/agent/pkg/files"
)

// selinuxXattr is the extended attribute holding a file's SELinux label.
const selinuxXattr = "security.selinux"

// fileMeta is what a rewritten file keeps: permissions, owner, group and
// SELinux label.
type fileMeta struct {
	mode     fs.FileMode
	uid, gid int
	label    []byte
}

// hostTarget returns the host path a configuration path writes to: a
// symbolic link is followed (inside the root), so the link stays a link and
// its target is written.
func hostTarget(root *files.Root, path string) (string, error) {
	resolved, err := root.Resolve(path)
	if err != nil {
		return "", err
	}
	return root.HostPath(resolved), nil
}

// fill writes data into the new file f, gives it meta, and syncs and
// closes it.
func fill(f *os.File, data []byte, meta fileMeta) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(meta.mode); err != nil {
		return err
	}
	if meta.uid >= 0 && (meta.uid != os.Geteuid() || meta.gid != os.Getegid()) {
		if err := f.Chown(meta.uid, meta.gid); err != nil {
			return fmt.Errorf("keeping the owner %d:%d: %w", meta.uid, meta.gid, err)
		}
	}
	if meta.label != nil {
		if err := unix.Fsetxattr(int(f.Fd()), selinuxXattr, meta.label, 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("restoring SELinux label: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}
