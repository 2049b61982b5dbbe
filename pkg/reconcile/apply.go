package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// System is what Apply changes: the configuration files and the sshd that
// reads them. Host is the real one; wrappers and fakes serve tests.
type System interface {
	// Validate checks that sshd accepts the configuration with the staged
	// changes, as the daemon will read it (sshd -t).
	Validate(ctx context.Context, staged []FileChange) error
	// Write replaces one file with its new content, atomically, keeping
	// its metadata.
	Write(ctx context.Context, f FileChange) error
	// Reload makes sshd re-read its configuration and waits until it
	// serves again.
	Reload(ctx context.Context) error
	// Restore puts back the original content of the files written (the
	// last first; new files are removed) and starts sshd again if a
	// reload took it down.
	Restore(ctx context.Context, written []FileChange) error
}

// ApplyOptions configure Apply.
type ApplyOptions struct {
	// State records a reload that is due; nil records nothing (the caller
	// owns reloading, --reload none).
	State *State
	// Backup keeps the originals of changed files when Backup.Dir is set.
	Backup Backup
	// Log receives one event per file written and per reload.
	Log zerolog.Logger
}

// ApplyResult says what Apply did.
type ApplyResult struct {
	// Written are the configuration paths written, in order.
	Written []string
	// Restored is true when the written files were put back after a
	// failure.
	Restored bool
	// Reloaded is true when sshd re-read its configuration.
	Reloaded bool
	// ReloadPending is true when a reload is still due after the run (as
	// recorded in the State).
	ReloadPending bool
}

// Apply executes the plan and nothing else, as one transaction: it writes
// every changed file, validates the sshd configuration with sshd itself,
// and reloads sshd when a server file changed. If validation or the
// reload fails, every file gets back its exact original bytes (new files
// are removed), and a daemon that died is started again. A plan with
// conflicts is refused before anything is written. A reload recorded as
// pending by an earlier run that died is done even when nothing changes.
func Apply(ctx context.Context, p *Plan, sys System, o ApplyOptions) (ApplyResult, error) {
	if err := p.refuseConflicts(); err != nil {
		return ApplyResult{}, err
	}
	pending, err := o.State.ReloadPending()
	if err != nil {
		return ApplyResult{}, err
	}
	if len(p.Files) == 0 && !pending {
		return ApplyResult{}, nil
	}
	tx := &transaction{sys: sys, state: o.State, log: o.Log, res: ApplyResult{ReloadPending: pending}}
	if err := o.Backup.save(p.Files); err != nil {
		return ApplyResult{}, fmt.Errorf("nothing written: backup: %w", err)
	}
	if err := tx.write(ctx, p.Files); err != nil {
		return tx.res, err
	}
	if !p.ServerChanged() && !pending {
		return tx.res, nil
	}
	return tx.res, tx.reload(ctx, p.ServerChanged())
}

// refuseConflicts returns an error listing every conflict of the plan.
func (p *Plan) refuseConflicts() error {
	var conflicts []string
	for _, c := range p.Changes {
		if c.Status == Conflicted {
			conflicts = append(conflicts, fmt.Sprintf("%s: %s", c.Source, c.Reason))
		}
	}
	if len(conflicts) == 0 {
		return nil
	}
	return fmt.Errorf("nothing written: %d desired value(s) would not take effect:\n%s", len(conflicts), strings.Join(conflicts, "\n"))
}

// transaction is one Apply in progress: what it wrote, to undo it.
type transaction struct {
	sys     System
	state   *State
	log     zerolog.Logger
	written []FileChange
	res     ApplyResult
}

// write writes every file, undoing them all when one fails.
func (tx *transaction) write(ctx context.Context, fs []FileChange) error {
	for _, f := range fs {
		if err := ctx.Err(); err != nil {
			return errors.Join(fmt.Errorf("interrupted before writing %s: %w", f.Path, err), tx.restore(context.WithoutCancel(ctx)))
		}
		if err := tx.sys.Write(ctx, f); err != nil {
			return errors.Join(fmt.Errorf("writing %s: %w", f.Path, err), tx.restore(ctx))
		}
		tx.written = append(tx.written, f)
		tx.res.Written = append(tx.res.Written, f.Path)
		tx.log.Info().Str("file", f.Path).Msg("written")
	}
	return nil
}

// reload validates the written configuration and reloads sshd, recording
// the reload as pending until it is done; on failure it restores the
// files.
func (tx *transaction) reload(ctx context.Context, serverChanged bool) error {
	if serverChanged {
		if err := tx.setPending(true); err != nil {
			return errors.Join(err, tx.restore(ctx))
		}
	}
	if err := tx.sys.Validate(ctx, tx.written); err != nil {
		return errors.Join(fmt.Errorf("sshd rejects the new configuration, so every file was restored and sshd was not reloaded:\n%w", err),
			tx.restore(ctx), tx.setPending(false))
	}
	if err := tx.sys.Reload(ctx); err != nil {
		tx.log.Error().Err(err).Msg("sshd did not come back after the reload; restoring the files")
		return errors.Join(fmt.Errorf("reload failed, every file was restored: %w", err),
			tx.restore(ctx), tx.setPending(false))
	}
	tx.res.Reloaded = true
	return tx.setPending(false)
}

// setPending records whether a reload is due.
func (tx *transaction) setPending(pending bool) error {
	if err := tx.state.SetReloadPending(pending); err != nil {
		return err
	}
	if tx.state != nil {
		tx.res.ReloadPending = pending
	}
	return nil
}

// restore undoes the files written so far.
func (tx *transaction) restore(ctx context.Context) error {
	if len(tx.written) == 0 {
		return nil
	}
	tx.res.Restored = true
	return tx.sys.Restore(ctx, tx.written)
}

// Backup keeps the originals of changed files: each run's in a new
// timestamped directory under Dir, the newest Keep runs of them.
type Backup struct {
	Dir  string
	Keep int
	// Now stamps the run's directory (time.Now when nil).
	Now func() time.Time
}

// save copies the originals of the files about to change (none when Dir
// is empty) and prunes older runs.
func (b Backup) save(fs []FileChange) error {
	if b.Dir == "" || len(fs) == 0 {
		return nil
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	dir := filepath.Join(b.Dir, now().UTC().Format("20060102T150405.000000000Z"))
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
	entries, err := os.ReadDir(b.Dir)
	if err != nil {
		return err
	}
	keep := max(b.Keep, 1)
	for i := 0; i < len(entries)-keep; i++ { // names sort by time
		if err := os.RemoveAll(filepath.Join(b.Dir, entries[i].Name())); err != nil {
			return err
		}
	}
	return nil
}
