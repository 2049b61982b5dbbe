package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// State is the agent's small persistent record, a JSON file in the state
// directory: today only whether a reload of sshd is due because a run wrote
// the configuration and did not get to reload it.
type State struct {
	path string
}

// stateFile is the record's content.
type stateFile struct {
	ReloadPending bool      `json:"reload_pending"`
	Since         time.Time `json:"since,omitzero"`
}

// OpenState returns the state kept in dir (created on the first write).
func OpenState(dir string) *State {
	return &State{path: filepath.Join(dir, "state.json")}
}

// ReloadPending reports whether a reload is due; never for a nil State.
func (s *State) ReloadPending() (bool, error) {
	if s == nil {
		return false, nil
	}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state: %w", err)
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
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := writeAtomic(s.path, append(b, '\n'), fileMeta{mode: 0o600, uid: -1, gid: -1}); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// Lock is an exclusive flock(2) on a file that keeps overlapping runs apart.
type Lock struct{ f *os.File }

// AcquireLock takes the lock at path, waiting up to timeout for a run that
// holds it; it fails with a message naming the file after that.
func AcquireLock(ctx context.Context, path string, timeout time.Duration) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	busy := fmt.Errorf("another sshconverge run holds %s; gave up after waiting %s (raise --lock-timeout)", path, timeout)
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
			err = fmt.Errorf("lock %s: %w", path, err)
		}
		return nil, err
	}
	return &Lock{f}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error { return l.f.Close() }
