package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-multierror"
	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/files"
)

// Host is the real System: configuration files under a root, and the sshd
// that reads them.
type Host struct {
	// Root is the filesystem root every path resolves under.
	Root *files.Root
	// SSHD validates and reloads the daemon.
	SSHD *SSHD
	// Log receives an event per file restored.
	Log zerolog.Logger

	reloaded bool // a reload was attempted: Restore may have to start sshd
}

// Validate runs sshd -t as the daemon will read the configuration.
func (h *Host) Validate(ctx context.Context, staged []FileChange) error {
	return h.SSHD.Validate(ctx, staged)
}

// Write writes one planned file, keeping its metadata (a new file takes
// the metadata of the side's main file).
func (h *Host) Write(_ context.Context, f FileChange) error { return writeFile(h.Root, f) }

// Reload makes sshd re-read its configuration.
func (h *Host) Reload(ctx context.Context) error {
	h.reloaded = true
	return h.SSHD.Reload(ctx)
}

// Restore puts back the files written, the last first, and starts sshd
// again if a reload took it down.
func (h *Host) Restore(ctx context.Context, written []FileChange) error {
	var errs *multierror.Error
	for i := len(written) - 1; i >= 0; i-- {
		if err := restoreFile(h.Root, written[i]); err != nil {
			errs = multierror.Append(errs, err)
		} else {
			h.Log.Warn().Str("file", written[i].Path).Msg("restored original")
		}
	}
	if h.reloaded {
		if err := h.SSHD.Restart(ctx); err != nil {
			errs = multierror.Append(errs, err)
		} else {
			h.Log.Warn().Msg("sshd runs with the restored configuration")
		}
	}
	return errs.ErrorOrNil()
}

// writeFile writes one planned file, keeping its metadata (a new file takes
// the metadata of the side's main file).
func writeFile(root *files.Root, f FileChange) error {
	hp, err := hostTarget(root, f.Path)
	if err != nil {
		return err
	}
	like := hp
	if f.Before == nil {
		if like, err = hostTarget(root, f.Like); err != nil {
			return err
		}
	}
	meta, err := metaOf(like)
	if err != nil {
		return err
	}
	if err := unchangedSincePlan(hp, f); err != nil {
		return err
	}
	return writeAtomic(hp, f.After, meta)
}

// unchangedSincePlan refuses to clobber a file that changed on disk (or
// appeared) since the plan read it.
func unchangedSincePlan(hp string, f FileChange) error {
	if f.Before == nil {
		if _, err := os.Lstat(hp); err == nil {
			return errors.New("appeared on disk since the plan was made; run again")
		}
		return nil
	}
	cur, err := os.ReadFile(hp)
	if err != nil {
		return err
	}
	if string(cur) != string(f.Before) {
		return errors.New("changed on disk since it was read; run again")
	}
	return nil
}

// restoreFile puts back a file's original bytes, or removes a new file.
func restoreFile(root *files.Root, f FileChange) error {
	hp, err := hostTarget(root, f.Path)
	if err != nil {
		return err
	}
	if f.Before == nil {
		if err := os.Remove(hp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", f.Path, err)
		}
		return syncDir(filepath.Dir(hp))
	}
	meta, err := metaOf(hp)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", f.Path, err)
	}
	if err := writeAtomic(hp, f.Before, meta); err != nil {
		return fmt.Errorf("restoring %s: %w", f.Path, err)
	}
	return nil
}
