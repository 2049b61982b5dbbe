package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files"
)

// maxDesiredSize bounds a desired-state file: one with every keyword of
// both configurations in a hundred blocks is well under it.
const maxDesiredSize = 4 << 20

// loadDesired reads (readDesired) and validates a desired-state file for
// the OpenSSH release v.
func loadDesired(name, accepted string, v files.Version, log zerolog.Logger) (*desired.State, error) {
	src, err := readDesired(name, accepted, log)
	if err != nil {
		return nil, err
	}
	return desired.ParseFor(name, src, v)
}

// readDesired reads a desired-state file. Only a regular file is read (a
// FIFO or a device is refused at once, without waiting on it), of at most
// maxDesiredSize bytes. Running as root, a file that anyone but root could
// change is refused (it would own sshd) unless accepted says why it is
// accepted all the same (an audit, which changes nothing;
// --insecure-desired): then a warning is logged instead.
func readDesired(name, accepted string, log zerolog.Logger) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("desired state %s: not a regular file (mode %v)", name, st.Mode())
	case st.Size() > maxDesiredSize:
		return nil, fmt.Errorf("desired state %s: %d bytes, more than the %d a desired state may have", name, st.Size(), maxDesiredSize)
	}
	if os.Geteuid() == 0 {
		if err := onlyRootCanChange(name, st); err != nil {
			if accepted == "" {
				return nil, fmt.Errorf("desired state %s: %v; whoever can change it controls sshd (fix the ownership and modes, or run with --insecure-desired)", name, err)
			}
			log.Warn().Str("desired", name).Msgf("insecure desired state: %v (accepted: %s)", err, accepted)
		}
	}
	src, err := io.ReadAll(io.LimitReader(f, maxDesiredSize+1))
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	if len(src) > maxDesiredSize {
		return nil, fmt.Errorf("desired state %s: more than the %d bytes a desired state may have", name, maxDesiredSize)
	}
	return src, nil
}

// onlyRootCanChange checks, as sshd's StrictModes reasons about
// authorized_keys, that the file (opened, with info st) and every
// directory above it, on the path as given and on its resolved path, are
// owned by root and writable by no one else; a root-owned sticky
// directory (/tmp) is fine, as others cannot replace root's file there.
func onlyRootCanChange(name string, st fs.FileInfo) error {
	if err := rootOwnedNotShared(st, false); err != nil {
		return fmt.Errorf("the file %v", err)
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	for _, p := range []string{abs, real} {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			dst, err := os.Stat(d)
			if err != nil {
				return err
			}
			if err := rootOwnedNotShared(dst, true); err != nil {
				return fmt.Errorf("the directory %s %v", d, err)
			}
			if d == "/" {
				break
			}
		}
	}
	return nil
}

// rootOwnedNotShared checks owner and mode; a sticky directory may be
// writable by others.
func rootOwnedNotShared(st fs.FileInfo, dir bool) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !ok:
		return errors.New("has no owner")
	case sys.Uid != 0:
		return fmt.Errorf("is owned by uid %d, not root", sys.Uid)
	case st.Mode().Perm()&0o022 != 0 && (!dir || st.Mode()&fs.ModeSticky == 0):
		return fmt.Errorf("is writable by others (mode %v)", st.Mode().Perm())
	}
	return nil
}
