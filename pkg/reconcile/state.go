package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"
)

// State is the agent's small persistent record, a JSON file in the state
// directory inside the root: whether a reload of sshd is due because a run
// changed its configuration and did not get to reload it.
type State struct {
	fs   *FS
	path string // configuration path of state.json
}

// stateFile is the record's content.
type stateFile struct {
	ReloadPending bool      `json:"reload_pending"`
	Since         time.Time `json:"since,omitzero"`
}

// OpenState returns the state kept in the directory dir (a configuration
// path; created on the first write).
func OpenState(fsys *FS, dir string) *State {
	return &State{fs: fsys, path: path.Join(dir, "state.json")}
}

// ReloadPending reports whether a reload is due; never for a nil State.
func (s *State) ReloadPending() (bool, error) {
	if s == nil {
		return false, nil
	}
	b, err := s.fs.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state %s: %w", s.path, err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return false, fmt.Errorf("state %s: %w (delete it if it is damaged)", s.path, err)
	}
	return f.ReloadPending, nil
}

// SetReloadPending records whether a reload is due, durably; a nil State
// records nothing.
func (s *State) SetReloadPending(pending bool) error {
	if s == nil {
		return nil
	}
	f := stateFile{ReloadPending: pending}
	if pending {
		f.Since = time.Now().UTC()
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := s.fs.MkdirAll(path.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := s.fs.WriteAtomic(s.path, append(b, '\n'), fileMeta{mode: 0o600, uid: -1, gid: -1}); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// Lock is an exclusive flock(2) on a file that keeps overlapping runs apart.
type Lock struct{ f *os.File }

// AcquireLock takes the lock at the configuration path name inside the
// root, waiting up to timeout for a run that holds it; it fails with a
// message naming the file after that. A symbolic link at name is refused.
func AcquireLock(ctx context.Context, fsys *FS, name string, timeout time.Duration) (*Lock, error) {
	if err := fsys.MkdirAll(path.Dir(name), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if st, err := fsys.Lstat(name); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("lock %s is not a regular file (mode %v); remove it", name, st.Mode())
	}
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("lock %s: not a regular file", name)
	}
	busy := fmt.Errorf("another sshconverge run holds %s; gave up after waiting %s (raise --lock-timeout)", fsys.Root().HostPath(name), timeout)
	err = pollTimeout(ctx, 50*time.Millisecond, timeout, busy, func(context.Context) (bool, error) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		f.Close()
		if err != busy {
			err = fmt.Errorf("lock %s: %w", name, err)
		}
		return nil, err
	}
	return &Lock{f}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error { return l.f.Close() }
