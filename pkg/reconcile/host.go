package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/hashicorp/go-multierror"
	"github.com/rs/zerolog"
)

// Host is the real System: configuration files under a root, and the sshd
// that reads them.
type Host struct {
	// FS writes the files, inside the root only.
	FS *FS
	// SSHD validates and reloads the daemon.
	SSHD *SSHD
	// Log receives an event per file restored.
	Log zerolog.Logger

	reloaded bool // a reload was attempted: Restore may have to start sshd
}

// Validate runs sshd -t on the configuration with the staged changes, as
// the daemon will read it.
func (h *Host) Validate(ctx context.Context, staged []FileChange) error {
	if h.SSHD == nil {
		return nil // no sshd side
	}
	return h.SSHD.Validate(ctx, staged)
}

// Write writes one planned file, keeping its metadata (a new file takes
// the metadata of the side's main file). The files then differ from those
// the plan read: the daemon's are read again when it is asked.
func (h *Host) Write(_ context.Context, f FileChange) error {
	h.filesChange()
	return writeFile(h.FS, f)
}

// filesChange tells the sshd that its files are written.
func (h *Host) filesChange() {
	if h.SSHD != nil {
		h.SSHD.FilesChanged()
	}
}

// Reload makes sshd re-read its configuration.
func (h *Host) Reload(ctx context.Context) (ReloadOutcome, error) {
	if h.SSHD == nil {
		return NotRunning, nil
	}
	h.reloaded = true
	return h.SSHD.Reload(ctx)
}

// Did says what the last reload did.
func (h *Host) Did() string {
	if h.SSHD == nil {
		return ""
	}
	return h.SSHD.Did
}

// Restore puts back the files written, the last first, and starts sshd
// again if a reload took it down.
func (h *Host) Restore(ctx context.Context, written []FileChange) error {
	errs := &multierror.Error{ErrorFormat: joinLines}
	h.filesChange()
	for i := len(written) - 1; i >= 0; i-- {
		if err := restoreFile(h.FS, written[i]); err != nil {
			errs = multierror.Append(errs, err)
		} else {
			h.Log.Warn().Str("file", written[i].Path).Msg("restored original")
		}
	}
	if h.reloaded && h.SSHD != nil {
		if err := h.SSHD.Restart(ctx); err != nil {
			errs = multierror.Append(errs, err)
		} else {
			h.Log.Warn().Msg("sshd runs with the restored configuration")
		}
	}
	return errs.ErrorOrNil()
}

// joinLines formats several errors one per line, as the rest of the
// agent's messages are.
func joinLines(errs []error) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// writeFile writes one planned file, keeping its metadata (a new file takes
// the metadata of the side's main file).
func writeFile(fsys *FS, f FileChange) error {
	like := f.Path
	if f.New {
		like = f.Like
	}
	meta, err := fsys.meta(like)
	if err != nil {
		return err
	}
	if err := unchangedSincePlan(fsys, f); err != nil {
		return err
	}
	return fsys.WriteAtomic(f.Path, f.After(), meta)
}

// unchangedSincePlan refuses to clobber a file that changed on disk (or
// appeared) since the plan read it.
func unchangedSincePlan(fsys *FS, f FileChange) error {
	cur, err := fsys.ReadFile(f.Path)
	switch {
	case f.New && err == nil:
		return errors.New("appeared on disk since the plan was made; run again")
	case f.New && errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case string(cur) != f.Before:
		return errors.New("changed on disk since it was read; run again")
	}
	return nil
}

// restoreFile puts back a file's original bytes, or removes a new file.
func restoreFile(fsys *FS, f FileChange) error {
	if f.New {
		if err := fsys.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", f.Path, err)
		}
		return nil
	}
	meta, err := fsys.meta(f.Path)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", f.Path, err)
	}
	if err := fsys.WriteAtomic(f.Path, []byte(f.Before), meta); err != nil {
		return fmt.Errorf("restoring %s: %w", f.Path, err)
	}
	return nil
}
