package reconcile

import (
	"bytes"
	"encoding/binary"
	"io/fs"

	"golang.org/x/sys/unix"
)

// linksAndDirs calls fn with the name and type (fs.ModeSymlink or
// fs.ModeDir) of each symbolic link and directory in the directory open
// as fd (direntries).
func linksAndDirs(fd int, fn func(name string, typ fs.FileMode) error) error {
	return direntries(fd, func(name []byte, dtype byte) error {
		typ, err := direntType(fd, name, dtype)
		if err != nil || typ != fs.ModeSymlink && typ != fs.ModeDir {
			return err
		}
		return fn(string(name), typ)
	})
}

// direntries calls fn with the name and d_type of each entry of the
// directory open as fd, in the order the kernel lists them, "." and ".."
// left out. It reads the entries raw, as getdents64 gives them: an entry
// fn passes over costs neither a string nor a stat, which os.ReadDir's
// DirEntry does not spare 5,000 drop-ins (nor, in a directory opened in
// an os.Root, an lstat each). name is valid only during the call.
func direntries(fd int, fn func(name []byte, dtype byte) error) error {
	var buf [32 << 10]byte
	for {
		n, err := unix.Getdents(fd, buf[:])
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		for rec := buf[:n]; len(rec) >= direntNameOff; {
			// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
			// d_type u8, then d_name, NUL-terminated and padded.
			reclen := int(binary.NativeEndian.Uint16(rec[16:]))
			if reclen < direntNameOff || reclen > len(rec) {
				return fs.ErrInvalid
			}
			name := rec[direntNameOff:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			dtype := rec[18]
			rec = rec[reclen:]
			if string(name) == "." || string(name) == ".." {
				continue
			}
			if err := fn(name, dtype); err != nil {
				return err
			}
		}
	}
}

// direntNameOff is where d_name starts in a linux_dirent64.
const direntNameOff = 19

// direntType is the type of the entry name in the directory fd, as its
// d_type gives it (asked with fstatat when it is DT_UNKNOWN): fs.ModeDir,
// fs.ModeSymlink, 0 for a regular file, fs.ModeIrregular for the rest.
func direntType(fd int, name []byte, dtype byte) (fs.FileMode, error) {
	if dtype == unix.DT_UNKNOWN {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, &fs.PathError{Op: "fstatat", Path: string(name), Err: err}
		}
		dtype = uint8(st.Mode & unix.S_IFMT >> 12) // DT_* is S_IF* >> 12
	}
	switch dtype {
	case unix.DT_DIR:
		return fs.ModeDir, nil
	case unix.DT_LNK:
		return fs.ModeSymlink, nil
	case unix.DT_REG:
		return 0, nil
	}
	return fs.ModeIrregular, nil
}

// readlinkAt returns the target of the symbolic link name in the
// directory fd.
func readlinkAt(fd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
