package files

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Root maps the absolute paths a configuration names (/etc/ssh/sshd_config,
// Include globs) onto a directory of the host, as chroot(2) would: the same
// code serves "/", a mounted disk image and a test tree. Symbolic links are
// followed inside the root (an absolute target restarts at the root, ".."
// stops at it), so no path resolves outside it.
//
// A Root remembers the directories it has seen (never a link, never a file
// that may yet appear), so a load of thousands of drop-ins costs one lstat
// per file, not one per path component.
type Root struct {
	dir string

	mu      sync.Mutex
	dirs    map[string]bool     // configuration paths seen to be real directories
	osRoot  *os.Root            // opened on the first read
	dirFile map[string]*os.File // real directories opened for reading their files, by path
}

// maxSymlinks bounds symbolic-link resolution, as the kernel's ELOOP does.
const maxSymlinks = 40

// NewRoot returns a Root for the host directory dir.
func NewRoot(dir string) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", dir, unwrapPathError(err))
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("root %s: not a directory", dir)
	}
	return &Root{dir: abs, dirs: map[string]bool{}, dirFile: map[string]*os.File{}}, nil
}

// knownDir reports whether the configuration path p was seen to be a
// directory (not a link).
func (r *Root) knownDir(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dirs[p]
}

func (r *Root) sawDir(p string) {
	r.mu.Lock()
	r.dirs[p] = true
	r.mu.Unlock()
}

// open returns the os.Root of the directory, opened once.
func (r *Root) open() (*os.Root, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.osRoot == nil {
		root, err := os.OpenRoot(r.dir)
		if err != nil {
			return nil, err
		}
		r.osRoot = root
	}
	return r.osRoot, nil
}

// Dir returns the host directory the root stands for.
func (r *Root) Dir() string { return r.dir }

// HostPath returns the host path of the absolute configuration path name,
// without resolving symbolic links.
func (r *Root) HostPath(name string) string {
	return filepath.Join(r.dir, filepath.FromSlash(path.Clean("/"+name)))
}

// Resolve returns name (an absolute configuration path) with every
// symbolic link resolved inside the root, still as a configuration path.
// A missing component ends resolution: the rest is appended as written.
func (r *Root) Resolve(name string) (string, error) {
	if !path.IsAbs(name) {
		return "", fmt.Errorf("%s: not an absolute path", name)
	}
	todo := strings.Split(strings.TrimPrefix(path.Clean(name), "/"), "/")
	var done []string
	for links := 0; len(todo) > 0; {
		comp := todo[0]
		todo = todo[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		target, isLink, err := r.component("/" + path.Join(append(done, comp)...))
		switch {
		case err != nil:
			return "", fmt.Errorf("%s: %w", name, err)
		case !isLink:
			done = append(done, comp)
			continue
		case target == "": // missing: the rest as written
			done, todo = append(append(done, comp), todo...), nil
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", name)
		}
		if path.IsAbs(target) {
			done = nil
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return "/" + path.Join(done...), nil
}

// component looks at the configuration path cur: a symbolic link gives its
// target; a missing path isLink with an empty target (resolution stops);
// anything else is taken as it is.
func (r *Root) component(cur string) (target string, isLink bool, err error) {
	if r.knownDir(cur) {
		return "", false, nil
	}
	st, err := os.Lstat(r.HostPath(cur))
	switch {
	case err != nil:
		return "", true, nil
	case st.IsDir():
		r.sawDir(cur)
		return "", false, nil
	case st.Mode()&fs.ModeSymlink == 0:
		return "", false, nil
	}
	target, err = os.Readlink(r.HostPath(cur))
	return target, true, err
}

// ReadFile returns the contents of the regular file at the configuration
// path name. Directories, FIFOs, devices and sockets are refused without
// being read, so a FIFO cannot hang the reader.
//
// A file in a directory already seen to be real (the drop-ins of a
// directory after the first) is opened with one openat(2) on that
// directory, refusing a link, and read with one read(2) when it has the
// size fstat(2) gave; a link, or any other file, is resolved component by
// component inside the root first.
func (r *Root) ReadFile(name string) ([]byte, error) {
	b, _, err := r.readFile(name)
	return b, err
}

// readFile is ReadFile, which also returns the file's change time (its
// ctime, from the same fstat(2)).
func (r *Root) readFile(name string) ([]byte, time.Time, error) {
	if b, changed, ok, err := r.readInKnownDir(name); ok {
		return b, changed, err
	}
	f, st, err := r.openRegular(name)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	b, err := readSized(st.Size(), func(b []byte) (int, error) {
		n, err := f.Read(b)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return n, unwrapPathError(err)
	})
	return b, changeTime(st), err
}

// changeTime returns a file's change time (ctime); zero when st has none.
func changeTime(st fs.FileInfo) time.Time {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return ctime(sys)
	}
	return time.Time{}
}

// ctime is the change time fstat(2) gave.
func ctime(st *syscall.Stat_t) time.Time { return time.Unix(st.Ctim.Unix()) }

// Open opens the regular file at the configuration path name for
// reading, resolved inside the root as ReadFile resolves it, for a file
// too large to read whole (a package database). Directories, FIFOs,
// devices and sockets are refused without being read.
func (r *Root) Open(name string) (*os.File, error) {
	f, _, err := r.openRegular(name)
	return f, err
}

// openRegular opens the regular file at the configuration path name,
// resolved component by component inside the root, and returns it with
// its status.
func (r *Root) openRegular(name string) (*os.File, fs.FileInfo, error) {
	resolved, err := r.Resolve(name)
	if err != nil {
		return nil, nil, err
	}
	rel := strings.TrimPrefix(resolved, "/")
	if rel == "" {
		rel = "."
	}
	root, err := r.open()
	if err != nil {
		return nil, nil, err
	}
	f, err := root.OpenFile(rel, fileFlags, 0)
	if err != nil {
		return nil, nil, unwrapPathError(err)
	}
	st, err := f.Stat()
	if err == nil {
		err = checkRegular(st.Mode())
	}
	if err != nil {
		f.Close()
		return nil, nil, unwrapPathError(err)
	}
	return f, st, nil
}

// fileFlags open a configuration file: O_NONBLOCK so that opening a FIFO
// does not wait for a writer, O_NOCTTY so that a terminal is not taken.
const fileFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY

// readInKnownDir reads name when its directory is known to be a real
// directory and its last component is not a link, with four system calls
// (openat, fstat, read, close), and returns its change time too. ok is
// false when the caller must take the general path.
func (r *Root) readInKnownDir(name string) (b []byte, changed time.Time, ok bool, err error) {
	name = path.Clean(name)
	dir, base := path.Split(name)
	dir = path.Clean(dir)
	if !path.IsAbs(name) || base == "" || base == ".." || !r.knownDir(dir) {
		return nil, changed, false, nil
	}
	d, err := r.dirHandle(dir)
	if err != nil {
		return nil, changed, false, nil // the general path reports what is wrong
	}
	var fd int
	err = ignoringEINTR(func() error {
		fd, err = syscall.Openat(int(d.Fd()), base, fileFlags|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		return err
	})
	switch {
	case errors.Is(err, syscall.ENOENT):
		return nil, changed, true, fs.ErrNotExist
	case err != nil: // ELOOP (a link) and the rest: the general path decides
		return nil, changed, false, nil
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := ignoringEINTR(func() error { return syscall.Fstat(fd, &st) }); err != nil {
		return nil, changed, true, err
	}
	if err := checkRegular(modeOf(st.Mode)); err != nil {
		return nil, changed, true, err
	}
	b, err = readSized(st.Size, func(b []byte) (n int, err error) {
		err = ignoringEINTR(func() error {
			n, err = syscall.Read(fd, b)
			return err
		})
		return max(n, 0), err
	})
	return b, ctime(&st), true, err
}

// dirHandle returns the real directory dir of the root, opened once.
func (r *Root) dirHandle(dir string) (*os.File, error) {
	r.mu.Lock()
	d := r.dirFile[dir]
	r.mu.Unlock()
	if d != nil {
		return d, nil
	}
	root, err := r.open()
	if err != nil {
		return nil, err
	}
	rel := strings.TrimPrefix(dir, "/")
	if rel == "" {
		rel = "."
	}
	d, err = root.OpenFile(rel, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev := r.dirFile[dir]; prev != nil {
		d.Close()
		return prev, nil
	}
	r.dirFile[dir] = d
	return d, nil
}

// readSized reads a file whose fstat(2) size is size through read (which
// returns 0 and no error at the end). A file that still has that size
// takes one read; one that grew is read to its end, up to MaxFileSize.
func readSized(size int64, read func([]byte) (int, error)) ([]byte, error) {
	if size > MaxFileSize {
		return nil, fileTooLarge(size)
	}
	buf := populated[byte](int(size)+1, int(size)+1) // one byte more shows that it grew
	n := 0
	for {
		if n == len(buf) {
			if n > MaxFileSize {
				return nil, fileTooLarge(int64(n))
			}
			buf = append(buf, make([]byte, max(n/2, 512))...)
		}
		m, err := read(buf[n:])
		if err != nil {
			return nil, err
		}
		n += m
		if m == 0 || n == int(size) && size > 0 {
			return buf[:n:n], nil
		}
	}
}

// modeOf is the fs.FileMode type bits of a stat(2) mode.
func modeOf(m uint32) fs.FileMode {
	switch m & syscall.S_IFMT {
	case syscall.S_IFREG:
		return 0
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	default:
		return fs.ModeDevice
	}
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Stat returns the file info of the configuration path name, following
// symbolic links inside the root.
func (r *Root) Stat(name string) (fs.FileInfo, error) {
	resolved, err := r.Resolve(name)
	if err != nil {
		return nil, err
	}
	st, err := os.Lstat(r.HostPath(resolved))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	return st, nil
}

// errIsDir is a directory where a file was to be read.
var errIsDir = errors.New("is a directory, not a file")

func checkRegular(m fs.FileMode) error {
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return errIsDir
	case m&fs.ModeNamedPipe != 0:
		return errors.New("is a FIFO, not a regular file")
	default:
		return fmt.Errorf("is not a regular file (mode %v)", m)
	}
}

// unwrapPathError drops the host path from an *fs.PathError so that
// messages name configuration paths only.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, syscall.ENOENT) {
			return fs.ErrNotExist
		}
		return pe.Err
	}
	return err
}

// Glob returns the configuration paths matching the absolute pattern, in
// byte order, as glob(3) finds them: '*', '?' and '[...]' within one path
// component, a leading '.' matched only explicitly, no match an empty
// result.
func (r *Root) Glob(pattern string) ([]string, error) {
	m, _, err := r.glob(pattern)
	return m, err
}

// glob is Glob, which also returns the newest change time (ctime) of the
// directories whose entries decide the matches: those a wildcard
// component listed, and those a literal last component was looked up in.
// A file added to or removed from one of them changes it.
func (r *Root) glob(pattern string) ([]string, time.Time, error) {
	var newest time.Time
	if !path.IsAbs(pattern) {
		return nil, newest, fmt.Errorf("%s: not an absolute path", pattern)
	}
	comps := strings.Split(strings.Trim(pattern, "/"), "/")
	matches := []string{"/"}
	literalLast := true // the last component had no wildcard: its matches are unchecked
	for i, comp := range comps {
		if comp == "" {
			continue
		}
		var next []string
		for _, base := range matches {
			found, changed, err := r.globComponent(base, comp, i == len(comps)-1)
			if err != nil {
				return nil, newest, fmt.Errorf("bad glob pattern %q: %w", pattern, err)
			}
			next = append(next, found...)
			newest = later(newest, changed)
		}
		matches, literalLast = next, !hasMeta(comp)
	}
	// Literal components were taken on trust: keep what exists. (A match
	// of a wildcard was listed by its directory: it exists.)
	out := matches[:0]
	for _, m := range matches {
		if !literalLast {
			out = append(out, m)
		} else if _, err := r.Stat(m); err == nil {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out, newest, nil
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// globComponent returns the paths under the directory base that the one
// path component comp matches (comp itself when it has no wildcard), and
// base's change time when its entries decide them (comp has a wildcard,
// or is the pattern's last).
func (r *Root) globComponent(base, comp string, last bool) ([]string, time.Time, error) {
	if !hasMeta(comp) {
		var changed time.Time
		if last {
			if st, err := r.Stat(base); err == nil {
				changed = changeTime(st)
			}
		}
		return []string{path.Join(base, comp)}, changed, nil
	}
	names, changed, err := r.readDirNames(base)
	if err != nil {
		return nil, changed, nil // glob(3) without GLOB_ERR skips unreadable directories
	}
	pat := strings.ReplaceAll(comp, "[!", "[^")
	var out []string
	for _, name := range names {
		if name[0] == '.' && comp[0] != '.' {
			continue
		}
		ok, err := path.Match(pat, name)
		if err != nil {
			return nil, changed, err
		}
		if ok {
			out = append(out, path.Join(base, name))
		}
	}
	return out, changed, nil
}

// readDirNames returns the names in the directory name, and its change
// time.
func (r *Root) readDirNames(name string) ([]string, time.Time, error) {
	var changed time.Time
	resolved, err := r.Resolve(name)
	if err != nil {
		return nil, changed, err
	}
	d, err := os.OpenFile(r.HostPath(resolved), os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, changed, err
	}
	defer d.Close()
	if st, err := d.Stat(); err == nil {
		changed = changeTime(st)
	}
	names, err := d.Readdirnames(-1)
	return names, changed, err
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// globMatch reports whether the absolute path name matches the absolute
// glob pattern component by component, as Glob would find it.
func globMatch(pattern, name string) bool {
	pc := strings.Split(strings.Trim(path.Clean(pattern), "/"), "/")
	nc := strings.Split(strings.Trim(path.Clean(name), "/"), "/")
	if len(pc) != len(nc) {
		return false
	}
	for i := range pc {
		if nc[i] != "" && nc[i][0] == '.' && (pc[i] == "" || pc[i][0] != '.') {
			return false
		}
		if ok, err := path.Match(strings.ReplaceAll(pc[i], "[!", "[^"), nc[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

// MaxFileSize is the largest configuration file Root.ReadFile reads:
// sshd keeps its configuration in one buffer of at most 128 MiB and
// refuses a larger one, so no working configuration has a larger file.
const MaxFileSize = 128 << 20

func fileTooLarge(size int64) error {
	return fmt.Errorf("%d bytes: larger than any configuration OpenSSH reads (sshd refuses more than %d MiB)", size, MaxFileSize>>20)
}
