package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
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
	// serves again, or says why it did not (no sshd runs; reloading is
	// left to the caller). ErrNoDaemon: none was found to reload. Did
	// says what it did, in words ("" when there is nothing to add).
	Reload(ctx context.Context) (ReloadOutcome, error)
	Did() string
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
	// Reload is what the reload did (0 when none was due).
	Reload ReloadOutcome
	// ReloadPending is true when a reload is still due after the run (as
	// recorded in the State).
	ReloadPending bool
}

// Apply executes the plan and nothing else, as one transaction. sshd
// checks the new configuration first, with the changes staged where they
// will stand (nothing on disk changes when it refuses them); then the
// pending reload is recorded, every changed file is written atomically,
// and sshd is reloaded when a server file changed. If a write or the
// reload fails, every file gets back its exact original bytes (new files
// are removed) and a daemon that died is started again. A plan with
// conflicts is refused before anything is written. A reload recorded as
// pending by an earlier run is done even when nothing changes, and no
// failure erases a record this run did not write.
func Apply(ctx context.Context, p *Plan, sys System, o ApplyOptions) (ApplyResult, error) {
	if err := p.refuseConflicts(); err != nil {
		return ApplyResult{}, err
	}
	pending, err := o.State.ReloadPending()
	if err != nil {
		return ApplyResult{}, err
	}
	tx := &transaction{sys: sys, state: o.State, log: o.Log, res: ApplyResult{ReloadPending: pending}}
	serverChanged := p.ServerChanged()
	if !serverChanged && !pending {
		return tx.res, tx.write(ctx, p.Files, o.Backup)
	}
	if err := sys.Validate(ctx, p.Files); err != nil {
		if ctx.Err() != nil {
			return tx.res, fmt.Errorf("interrupted while sshd checked the new configuration; nothing was written: %w", ctx.Err())
		}
		var rejected *RejectedError
		if errors.As(err, &rejected) {
			return tx.res, fmt.Errorf("sshd rejects the new configuration, so nothing was written and sshd was not reloaded:\n%w", err)
		}
		return tx.res, fmt.Errorf("the new configuration could not be checked with sshd, so nothing was written and sshd was not reloaded: %w", err)
	}
	if serverChanged && !pending {
		if err := tx.setPending(true); err != nil {
			return tx.res, fmt.Errorf("nothing written: %w", err)
		}
		tx.ownRecord = true
	}
	if err := tx.write(ctx, p.Files, o.Backup); err != nil {
		return tx.res, errors.Join(err, tx.dropOwnRecord())
	}
	return tx.res, tx.reload(ctx)
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
	sys       System
	state     *State
	log       zerolog.Logger
	written   []FileChange
	res       ApplyResult
	ownRecord bool // this run wrote the pending-reload record
}

// write backs the originals up, then writes every file, undoing them all
// when one fails or the run is interrupted.
func (tx *transaction) write(ctx context.Context, fs []FileChange, b Backup) error {
	if err := b.save(fs); err != nil {
		return fmt.Errorf("nothing written: backup: %w", err)
	}
	for _, f := range fs {
		if err := ctx.Err(); err != nil {
			return errors.Join(fmt.Errorf("interrupted before writing %s: %w", f.Path, err), tx.restore(context.WithoutCancel(ctx)))
		}
		if err := tx.sys.Write(ctx, f); err != nil {
			return errors.Join(fmt.Errorf("writing %s: %w", f.Path, err), tx.restore(ctx))
		}
		tx.written = append(tx.written, f)
		tx.res.Written = append(tx.res.Written, f.Path)
		tx.log.Info().Str("file", f.Path).Str("target", f.Target).Msg("written")
	}
	return nil
}

// reload makes sshd re-read its configuration and clears the pending
// record; on failure it restores the files. With no sshd found for an
// explicit reload, the files stay and so does the record.
func (tx *transaction) reload(ctx context.Context) error {
	outcome, err := tx.sys.Reload(ctx)
	tx.res.Reload = outcome
	switch {
	case errors.Is(err, ErrNoDaemon):
		what := "the configuration was written, but "
		if len(tx.written) == 0 {
			what = "a reload is due, but " // recorded by an earlier run
		}
		return errors.Join(fmt.Errorf("%s%w; the reload stays recorded as pending", what, err), tx.setPending(true))
	case err != nil:
		tx.log.Error().Err(err).Msg("sshd did not come back after the reload; restoring the files")
		rerr := tx.restore(context.WithoutCancel(ctx))
		if rerr == nil {
			rerr = tx.dropOwnRecord()
		}
		return errors.Join(fmt.Errorf("reload failed, every file was restored: %w", err), rerr)
	case outcome == LeftToCaller:
		tx.log.Warn().Msg("sshd runs and was not reloaded (--reload none): the change takes effect when it is reloaded; recorded as pending")
		return tx.setPending(true)
	case outcome == NotRunning:
		tx.log.Info().Msg("no sshd runs: the new configuration takes effect when sshd starts")
	default:
		tx.res.Reloaded = true
		tx.log.Info().Msg("sshd reloaded")
	}
	if did := tx.sys.Did(); did != "" {
		tx.log.Info().Str("did", did).Msg("reload")
	}
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

// dropOwnRecord removes the pending-reload record when this run wrote it
// (the files are as they were before the run); a record an earlier run
// left stays.
func (tx *transaction) dropOwnRecord() error {
	if !tx.ownRecord {
		return nil
	}
	return tx.setPending(false)
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
// directory under Dir (a configuration path inside the root) named
// backupPrefix plus the time, with a MANIFEST of the files it holds; the
// newest Keep runs are kept. Pruning removes only directories it
// recognises as its own (the prefix and a MANIFEST, no symbolic link),
// never the current run's, and never follows a link.
type Backup struct {
	FS   *FS
	Dir  string
	Keep int
	// Now stamps the run's directory (time.Now when nil).
	Now func() time.Time
}

const (
	backupPrefix   = "sshconverge-backup-"
	backupManifest = "MANIFEST"
)

// save copies the originals of the files about to change (nothing when
// Dir is empty) and prunes older runs.
func (b Backup) save(fs []FileChange) error {
	var paths []string
	for _, f := range fs {
		if !f.New {
			paths = append(paths, f.Path)
		}
	}
	if b.Dir == "" || len(paths) == 0 {
		return nil
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	name := backupPrefix + now().UTC().Format("20060102T150405.000000000Z")
	dir := path.Join(b.Dir, name)
	priv := fileMeta{mode: 0o600, uid: -1, gid: -1}
	// The manifest first: a run killed half-way leaves a directory pruning
	// still recognises.
	if err := b.FS.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := b.FS.WriteAtomic(path.Join(dir, backupManifest), []byte(strings.Join(paths, "\n")+"\n"), priv); err != nil {
		return err
	}
	for _, f := range fs {
		if f.New {
			continue
		}
		dst := path.Join(dir, f.Path)
		if err := b.FS.MkdirAll(path.Dir(dst), 0o700); err != nil {
			return err
		}
		if err := b.FS.WriteAtomic(dst, []byte(f.Before), priv); err != nil {
			return err
		}
	}
	return b.prune(name)
}

// prune removes all but the newest Keep backup directories, never current.
func (b Backup) prune(current string) error {
	entries, err := b.FS.ReadDir(b.Dir)
	if err != nil {
		return err
	}
	var ours []string
	for _, e := range entries {
		if e.Name() == current || !e.IsDir() || e.Type()&fs.ModeSymlink != 0 || !strings.HasPrefix(e.Name(), backupPrefix) {
			continue
		}
		if st, err := b.FS.Lstat(path.Join(b.Dir, e.Name(), backupManifest)); err != nil || !st.Mode().IsRegular() {
			continue
		}
		ours = append(ours, e.Name())
	}
	slices.Sort(ours) // names sort by time
	var errs []error
	for i := 0; i < len(ours)-(max(b.Keep, 1)-1); i++ {
		errs = append(errs, b.FS.RemoveAll(path.Join(b.Dir, ours[i])))
	}
	return errors.Join(errs...)
}
