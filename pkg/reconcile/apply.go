package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/files"
)

// Daemon is the sshd whose configuration a plan changes.
type Daemon interface {
	// Validate checks the configuration as the daemon will read it
	// (sshd -t with the daemon's own binary and options).
	Validate(ctx context.Context) error
	// Reload makes the daemon re-read its configuration and waits until it
	// listens again; an error means it did not come back.
	Reload(ctx context.Context) error
	// Restart starts the daemon again (after its files were restored).
	Restart(ctx context.Context) error
}

// ApplyOptions configure Apply.
type ApplyOptions struct {
	// Root is the filesystem root every path resolves under.
	Root *files.Root
	// Validate checks a changed sshd configuration; nil skips the check.
	Validate func(ctx context.Context) error
	// Daemon reloads sshd after its configuration changed; nil means the
	// caller owns reloading (--reload none).
	Daemon Daemon
	// State records a reload that is due; nil records nothing.
	State *State
	// BackupDir keeps the originals of changed files when not empty, the
	// newest BackupKeep runs of them.
	BackupDir  string
	BackupKeep int
	// Log receives one event per file written and per key changed.
	Log zerolog.Logger
	// Now stamps backups (time.Now when nil).
	Now func() time.Time
}

// ApplyResult says what Apply did.
type ApplyResult struct {
	// Written are the configuration paths written, in order.
	Written []string
	// Reloaded is true when sshd re-read its configuration.
	Reloaded bool
}

// Apply executes the plan and nothing else, as one transaction: it writes
// every changed file atomically, validates the sshd configuration with
// sshd itself, and reloads sshd when a server file changed. If validation
// or the reload fails, every file gets back its exact original bytes (new
// files are removed), and a daemon that died is started again. A plan with
// conflicts is refused before anything is written. A reload recorded as
// pending by an earlier run that died is done even when nothing changes.
func Apply(ctx context.Context, p *Plan, o ApplyOptions) (ApplyResult, error) {
	var res ApplyResult
	var conflicts []string
	for _, c := range p.Changes {
		if c.Action == Conflict {
			conflicts = append(conflicts, fmt.Sprintf("%s: %s", c.Source, c.Reason))
		}
	}
	if len(conflicts) > 0 {
		return res, fmt.Errorf("nothing written: %d desired value(s) would not take effect:\n%s", len(conflicts), strings.Join(conflicts, "\n"))
	}
	serverChanged := slices.ContainsFunc(p.Files, func(f FileChange) bool { return f.Side == "sshd" })
	pending := false
	if o.State != nil {
		var err error
		if pending, err = o.State.ReloadPending(); err != nil {
			return res, err
		}
	}
	if len(p.Files) == 0 && !pending {
		return res, nil
	}
	if o.BackupDir != "" && len(p.Files) > 0 {
		if err := backup(o, p.Files); err != nil {
			return res, fmt.Errorf("nothing written: backup: %w", err)
		}
	}
	var written []FileChange
	restore := func() error {
		var errs *multierror.Error
		for i := len(written) - 1; i >= 0; i-- {
			if err := restoreFile(o.Root, written[i]); err != nil {
				errs = multierror.Append(errs, err)
			} else {
				o.Log.Warn().Str("file", written[i].Path).Msg("restored original")
			}
		}
		return errs.ErrorOrNil()
	}
	for _, f := range p.Files {
		if err := writeFile(o.Root, f); err != nil {
			if rerr := restore(); rerr != nil {
				err = multierror.Append(err, rerr)
			}
			return res, fmt.Errorf("writing %s: %w", f.Path, err)
		}
		written = append(written, f)
		res.Written = append(res.Written, f.Path)
		o.Log.Info().Str("file", f.Path).Msg("written")
	}
	if !serverChanged && !pending {
		return res, nil
	}
	if serverChanged && o.Daemon != nil && o.State != nil {
		if err := o.State.SetReloadPending(true); err != nil {
			return res, errors.Join(err, restore())
		}
	}
	clearPending := func() error {
		if o.State == nil {
			return nil
		}
		return o.State.SetReloadPending(false)
	}
	if o.Validate != nil {
		if err := o.Validate(ctx); err != nil {
			rerr := restore()
			return res, errors.Join(fmt.Errorf("sshd rejects the new configuration, so every file was restored and sshd was not reloaded:\n%w", err), rerr, clearPending())
		}
	}
	if o.Daemon == nil {
		return res, nil
	}
	if err := o.Daemon.Reload(ctx); err != nil {
		o.Log.Error().Err(err).Msg("sshd did not come back after the reload; restoring the files")
		rerr := restore()
		serr := o.Daemon.Restart(ctx)
		if serr == nil {
			o.Log.Warn().Msg("sshd started again with the restored configuration")
		}
		return res, errors.Join(fmt.Errorf("reload failed, every file was restored: %w", err), rerr, serr, clearPending())
	}
	res.Reloaded = true
	o.Log.Info().Msg("sshd reloaded")
	return res, clearPending()
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
	if f.Before != nil {
		// Refuse to clobber a file that changed since the plan read it.
		cur, err := os.ReadFile(hp)
		if err != nil {
			return err
		}
		if string(cur) != string(f.Before) {
			return fmt.Errorf("changed on disk since it was read; run again")
		}
	} else if _, err := os.Lstat(hp); err == nil {
		return fmt.Errorf("appeared on disk since the plan was made; run again")
	}
	return writeAtomic(hp, f.After, meta)
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

// backup copies the originals of the files about to change into a new
// timestamped directory under o.BackupDir and prunes all but the newest
// o.BackupKeep such directories.
func backup(o ApplyOptions, fs []FileChange) error {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	dir := filepath.Join(o.BackupDir, now().UTC().Format("20060102T150405.000000000Z"))
	for _, f := range fs {
		if f.Before == nil {
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		if err := writeAtomic(dst, f.Before, fileMeta{mode: 0o600, uid: -1, gid: -1}); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(o.BackupDir)
	if err != nil {
		return err
	}
	keep := max(o.BackupKeep, 1)
	for i := 0; i < len(entries)-keep; i++ { // names sort by time
		if err := os.RemoveAll(filepath.Join(o.BackupDir, entries[i].Name())); err != nil {
			return err
		}
	}
	return nil
}
