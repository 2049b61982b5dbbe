package reconcile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

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

// metaOf reads the metadata of the host file at hp.
func metaOf(hp string) (fileMeta, error) {
	st, err := os.Stat(hp)
	if err != nil {
		return fileMeta{}, err
	}
	m := fileMeta{mode: st.Mode().Perm(), uid: -1, gid: -1}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		m.uid, m.gid = int(sys.Uid), int(sys.Gid)
	}
	if n, err := unix.Getxattr(hp, selinuxXattr, nil); err == nil && n > 0 {
		m.label = make([]byte, n)
		if n, err = unix.Getxattr(hp, selinuxXattr, m.label); err == nil {
			m.label = m.label[:n]
		} else {
			m.label = nil
		}
	}
	return m, nil
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

// writeAtomic replaces the host file hp with data: a temp file in the same
// directory (a dot-name ending in .tmp, which no Include glob like *.conf
// matches), written, given meta, fsynced, renamed over hp, and the
// directory fsynced. A reader sees the old bytes or the new ones, never a
// mix; on error hp is untouched and the temp file is gone.
func writeAtomic(hp string, data []byte, meta fileMeta) (err error) {
	if st, err := os.Lstat(hp); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file (mode %v); refusing to replace it", hp, st.Mode())
	}
	dir := filepath.Dir(hp)
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(hp)+".sshconverge-"+hex.EncodeToString(rnd[:])+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := fill(f, data, meta); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", hp, err)
	}
	if err := os.Rename(tmp, hp); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
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
	if meta.uid >= 0 {
		if err := f.Chown(meta.uid, meta.gid); err != nil && !errors.Is(err, syscall.EPERM) {
			return err
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

// WriteAtomic replaces the host file path with data (mode perm, owned by
// the caller), so that a reader sees the old bytes or the new ones, never
// a mix; the directory must exist.
func WriteAtomic(path string, data []byte, perm fs.FileMode) error {
	return writeAtomic(path, data, fileMeta{mode: perm, uid: -1, gid: -1})
}

// syncDir fsyncs a directory so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
