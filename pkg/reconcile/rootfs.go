package reconcile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sshconverge/agent/pkg/files"
)

// FS changes files inside a root, and only there: every name is a
// configuration path (e.g. /etc/ssh/sshd_config, /var/lib/sshconverge),
// resolved as files.Root resolves it (symbolic links followed inside the
// root, an absolute target starting again at the root), then operated on
// through os.Root, which refuses to leave the root even when a link is
// swapped in between. Nothing the agent writes (configuration, state,
// lock, backups, metrics, temp files) lands outside the root.
type FS struct {
	root *files.Root
	os   *os.Root
}

// OpenFS opens the root for writing.
func OpenFS(root *files.Root) (*FS, error) {
	r, err := os.OpenRoot(root.Dir())
	if err != nil {
		return nil, err
	}
	return &FS{root: root, os: r}, nil
}

// Close releases the root.
func (f *FS) Close() error { return f.os.Close() }

// Root returns the root the FS writes under.
func (f *FS) Root() *files.Root { return f.root }

// rel resolves the configuration path name inside the root and returns it
// relative to the root, as os.Root takes it.
func (f *FS) rel(name string) (string, error) {
	r, err := f.root.Resolve(name)
	if err != nil {
		return "", err
	}
	if r = strings.TrimPrefix(r, "/"); r == "" {
		r = "."
	}
	return r, nil
}

// MkdirAll makes directory name and its parents (mode perm for new ones).
func (f *FS) MkdirAll(name string, perm fs.FileMode) error {
	r, err := f.rel(name)
	if err != nil {
		return err
	}
	return f.os.MkdirAll(r, perm)
}

// ReadFile reads the regular file name.
func (f *FS) ReadFile(name string) ([]byte, error) { return f.root.ReadFile(name) }

// OpenFile opens name inside the root.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	r, err := f.rel(name)
	if err != nil {
		return nil, err
	}
	return f.os.OpenFile(r, flag|syscall.O_NOFOLLOW, perm)
}

// Lstat stats name without following a final symbolic link.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	r, err := f.rel(path.Dir(name))
	if err != nil {
		return nil, err
	}
	return f.os.Lstat(path.Join(r, path.Base(name)))
}

// Remove removes the file or empty directory name (a final symbolic link
// itself, never its target).
func (f *FS) Remove(name string) error {
	r, err := f.rel(path.Dir(name))
	if err != nil {
		return err
	}
	return f.os.Remove(path.Join(r, path.Base(name)))
}

// RemoveAll removes name and everything under it, never following a
// symbolic link.
func (f *FS) RemoveAll(name string) error {
	r, err := f.rel(path.Dir(name))
	if err != nil {
		return err
	}
	return f.os.RemoveAll(path.Join(r, path.Base(name)))
}

// ReadDir lists directory name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	d, err := f.OpenFile(name, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

// meta reads the metadata of the file name (a final symbolic link is
// followed inside the root).
func (f *FS) meta(name string) (fileMeta, error) {
	file, err := f.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fileMeta{}, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return fileMeta{}, err
	}
	m := fileMeta{mode: st.Mode().Perm(), uid: -1, gid: -1}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		m.uid, m.gid = int(sys.Uid), int(sys.Gid)
	}
	if n, err := unix.Fgetxattr(int(file.Fd()), selinuxXattr, nil); err == nil && n > 0 {
		label := make([]byte, n)
		if n, err = unix.Fgetxattr(int(file.Fd()), selinuxXattr, label); err == nil {
			m.label = label[:n]
		}
	}
	return m, nil
}

// tempRE matches the names of the agent's temp files: a dot, the target's
// name, ".sshconverge-", 12 hex digits, ".tmp" (no Include glob such as
// *.conf matches them).
var tempRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\..+\.sshconverge-[0-9a-f]{12}\.tmp$`) })

// WriteAtomic replaces the file name with data: a temp file in the same
// directory, written, given meta, fsynced, renamed over name, and the
// directory fsynced. A reader sees the old bytes or the new ones, never a
// mix; on error name is untouched and the temp file is gone. A symbolic
// link named is followed inside the root, so the link stays a link and
// its target is written; a target that is not a regular file is refused.
func (f *FS) WriteAtomic(name string, data []byte, meta fileMeta) error {
	r, err := f.rel(name)
	if err != nil {
		return err
	}
	if st, err := f.os.Lstat(r); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file (mode %v); refusing to replace it", name, st.Mode())
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	dir := path.Dir(r)
	tmp := path.Join(dir, "."+path.Base(r)+".sshconverge-"+hex.EncodeToString(rnd[:])+".tmp")
	file, err := f.os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		if "/"+r != name {
			return fmt.Errorf("%s, a link to /%s inside the root: %w", name, r, unwrapPathErr(err))
		}
		return fmt.Errorf("%s: %w", name, unwrapPathErr(err))
	}
	if err := fill(file, data, meta); err != nil {
		file.Close()
		return errors.Join(fmt.Errorf("%s: %w", name, err), f.os.Remove(tmp))
	}
	if err := f.os.Rename(tmp, r); err != nil {
		return errors.Join(err, f.os.Remove(tmp))
	}
	return f.syncDir(dir)
}

// WriteFile replaces the file name with data atomically (see
// WriteAtomic), mode perm, owned by the agent.
func (f *FS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	return f.WriteAtomic(name, data, fileMeta{mode: perm, uid: -1, gid: -1})
}

// syncDir fsyncs the directory rel so that a rename in it is durable.
func (f *FS) syncDir(rel string) error {
	d, err := f.os.Open(rel)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// unwrapPathErr drops os.Root's relative path from an error, so that
// messages name configuration paths.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// SweepTemp removes the agent's own temp files (see tempRE) that a
// killed run left in the directories dirs, and returns how many. The
// caller holds the lock, so none belongs to a run in progress.
func (f *FS) SweepTemp(dirs []string) (int, error) {
	n := 0
	var errs []error
	for _, d := range dirs {
		temps, err := f.tempFiles(d)
		if err != nil {
			continue // a directory that is gone holds no temp files
		}
		for _, name := range temps {
			if err := f.Remove(path.Join(d, name)); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// tempFiles returns the names of the agent's temp files in the directory
// dir: regular files named as tempRE says. It looks further only at the
// names that start with a dot, among the thousands of drop-ins a
// directory may hold.
func (f *FS) tempFiles(dir string) ([]string, error) {
	d, err := f.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fd := int(d.Fd())
	var temps []string
	err = direntries(fd, func(name []byte, dtype byte) error {
		if len(name) == 0 || name[0] != '.' || !tempRE().Match(name) {
			return nil
		}
		if typ, err := direntType(fd, name, dtype); err != nil || typ != 0 {
			return err
		}
		temps = append(temps, string(name))
		return nil
	})
	return temps, err
}
