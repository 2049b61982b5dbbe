package main

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/reconcile"
)

// applyTimeout bounds an apply: validation, writes, reload and the wait
// for sshd to serve again.
const applyTimeout = 5 * time.Minute

// converge is one run of the main command, in the order of its steps.
type converge struct {
	args    convergeArgs
	log     zerolog.Logger
	stderr  io.Writer
	start   time.Time
	desired *desired.State
	root    *files.Root
	fs      *reconcile.FS
	sshd    *reconcile.SSHD // nil when the desired state has no sshd side
	version files.Version   // the OpenSSH version configured (zero: unknown)
	state   *reconcile.State
	plan    *reconcile.Plan
	pending bool // a reload is due (as recorded before the run, then after it)
	result  reconcile.ApplyResult
	early   *earlyCheck // sshd -t started before the files were read (--check)
}

func runConverge(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	a, err := parseConvergeArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK, runHelp(nil, stdout)
	}
	if err != nil {
		return exitError, err
	}
	c := &converge{args: a, log: newLogger(stderr, a.logLevel), stderr: stderr, start: time.Now()}
	if a.root != "/" {
		c.log = c.log.With().Str("root", a.root).Logger()
	}
	switch {
	case a.splay > 0:
		catchInterrupts(ctx) // SIGTERM interrupts the sleep
	case !a.check:
		startCatching(ctx) // caught before the lock is taken
	}
	if err := c.splay(ctx); err != nil {
		return exitError, err
	}
	code, err := c.run(ctx, stdout)
	if merr := c.writeMetrics(ctx, err); merr != nil {
		err = errors.Join(err, merr)
		code = exitError
	}
	if c.fs != nil {
		c.fs.Close()
	}
	if c.desired != nil {
		// Past the desired file, errors are about the root's files: on
		// stderr they name the root (the JSON report has it as "root").
		err = underRoot(a.root, err)
	}
	return code, err
}

// run reads, plans, checks or applies, verifies against the running sshd
// and reports (in JSON, a failed run too).
func (c *converge) run(ctx context.Context, stdout io.Writer) (int, error) {
	err := c.execute(ctx)
	c.logChanges(err)
	if rerr := c.report(stdout, err); rerr != nil {
		return exitError, errors.Join(err, rerr)
	}
	return c.exitCode(err), err
}

// execute runs the steps up to the verification.
func (c *converge) execute(ctx context.Context) error {
	defer func() { c.early.stop() }() // c.early is set by prepare
	if err := c.prepare(ctx); err != nil {
		return err
	}
	return c.converge(ctx)
}

// converge locks (to apply), plans, checks or applies, and verifies.
func (c *converge) converge(ctx context.Context) error {
	if !c.args.check {
		catchInterrupts(ctx)
		release, err := c.lock(ctx)
		if err != nil {
			return err
		}
		defer release()
	}
	if err := c.compute(ctx); err != nil {
		return err
	}
	if err := c.findSSHD(ctx); err != nil {
		return err
	}
	defer c.closeSSHD()
	if c.args.check {
		if err := c.checkCurrent(ctx); err != nil {
			return err
		}
	} else if err := c.apply(ctx); err != nil {
		c.plan.MarkFailed()
		return err
	}
	return c.verify(ctx)
}

// sshdAccepts has the root's sshd check the configuration whose main file
// is main, as it stands.
func (c *converge) sshdAccepts(ctx context.Context, main string) error {
	pidFile, _ := reconcile.DaemonDefaults()
	s, err := reconcile.FindSSHD(reconcile.SSHDOptions{Root: c.root, Config: main, PidFile: pidFile, Mode: reconcile.ReloadNone, Binary: c.args.sshd, Log: zerolog.Nop()})
	if err != nil {
		return err
	}
	defer s.Close()
	catchInterrupts(ctx)
	return s.Validate(ctx, nil)
}

// lock takes the run lock and returns its release.
func (c *converge) lock(ctx context.Context) (func(), error) {
	lock, err := reconcile.AcquireLock(ctx, c.fs, c.args.lock, c.args.lockTimeout)
	if err != nil {
		return nil, err
	}
	return func() {
		if err := lock.Release(); err != nil {
			c.log.Warn().Err(err).Msg("releasing the lock")
		}
	}, nil
}

// detectVersion learns which OpenSSH the root has: --openssh-version, or
// what its ssh -V says (remembered in the state directory while its
// binaries stay the same).
func (c *converge) detectVersion(ctx context.Context) error {
	s := c.args.opensshVersion
	if s == "" {
		var err error
		if s, err = c.rootVersion(ctx); err != nil {
			c.log.Warn().Err(err).Msgf("the OpenSSH version is unknown; the model assumes %s (say it with --openssh-version)", files.DefaultVersion())
			return nil
		}
	}
	v, err := files.ParseVersion(s)
	if err != nil {
		return fmt.Errorf("--openssh-version: %w", err)
	}
	c.version = v
	c.log = c.log.With().Stringer("openssh", v).Logger()
	return nil
}

// rootVersion asks the root's OpenSSH its release, unless an earlier run
// asked the same binaries.
func (c *converge) rootVersion(ctx context.Context) (string, error) {
	sshd := reconcile.RootSSHD(c.root, c.args.sshd)
	memo := reconcile.OpenMemo(c.fs, c.args.stateDir, "openssh")
	key, err := sshd.VersionKey()
	if err != nil {
		c.log.Debug().Err(err).Msg("the OpenSSH release cannot be remembered")
	}
	if v, ok := memo.Get(key); ok {
		c.log.Debug().Str("release", v).Msg("the OpenSSH binaries are those an earlier run asked: release not asked again")
		return v, nil
	}
	catchInterrupts(ctx)
	v, err := sshd.Version(ctx)
	if err != nil {
		return "", err
	}
	if err := memo.Put(key, v); err != nil {
		c.log.Debug().Err(err).Msg("the OpenSSH release is not remembered")
	}
	return v, nil
}

// findSSHD finds the sshd serving the configuration (when the desired
// state has an sshd side).
func (c *converge) findSSHD(ctx context.Context) error {
	if c.plan.ServerConfig == "" {
		return nil
	}
	var err error
	c.sshd, err = reconcile.FindSSHD(reconcile.SSHDOptions{Root: c.root, Config: c.plan.ServerConfig, PidFile: c.pidFile(),
		Mode: c.args.reload, Binary: c.args.sshd, HostKeys: c.plan.HostKeys, ListenChanged: c.plan.ListenChanged(), Release: c.version, FilesDigest: c.plan.ServerDigest, Log: c.log})
	if err == nil && c.sshd.Listener != nil {
		startCatching(ctx) // the daemon is asked (verify)
	}
	return err
}

func (c *converge) closeSSHD() {
	if c.sshd != nil {
		c.sshd.Close()
	}
}

// checkCurrent has sshd check the configuration as it stands (--check):
// one sshd rejects is an error, whatever the desired state says. sshd's
// verdict on files it accepted is remembered in the state directory (see
// reconcile.Memo), so an audit of an unchanged host does not ask again.
func (c *converge) checkCurrent(ctx context.Context) error {
	if c.sshd == nil {
		return nil
	}
	memo := reconcile.OpenMemo(c.fs, c.args.stateDir, "accepted")
	key, err := c.sshd.AcceptKey(c.plan.ServerDigest)
	if err != nil {
		c.log.Debug().Err(err).Msg("sshd's verdict cannot be remembered")
	}
	if _, ok := memo.Get(key); ok {
		c.log.Debug().Msg("sshd accepted these files before, with the same binary and host keys: not asked again")
		return nil
	}
	catchInterrupts(ctx)
	early, err := c.early.verdict(c.sshd, logWriter(c.stderr))
	if early {
		c.log.Debug().Msg("sshd's verdict was asked while the files were read: not asked again")
	} else {
		err = c.sshd.Validate(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("sshd rejects the configuration as it stands:\n%w", err)
	}
	if early && !c.early.readBefore(c.plan.ServerFilesChanged) {
		c.log.Debug().Msg("a file changed while sshd and the agent read them: sshd's verdict is not remembered")
		return nil
	}
	if !c.sshd.AcceptKeyStands(key) {
		c.log.Debug().Msg("the daemon's files changed since they were read: sshd's verdict is not remembered")
		return nil
	}
	if err := memo.Put(key, "accepted"); err != nil {
		c.log.Debug().Err(err).Msg("sshd's verdict is not remembered")
	}
	return nil
}

// verify asks the running sshd whether it uses the desired values. After
// an apply that left the reload to the caller it is not asked (it has not
// read the files yet). A value it does not use is an error after an
// apply, and drift in --check.
func (c *converge) verify(ctx context.Context) error {
	if !c.args.check && c.result.Reload == reconcile.LeftToCaller {
		return nil
	}
	o := reconcile.VerifyOptions{Applied: !c.args.check}
	if c.sshd != nil && c.sshd.Listener != nil {
		catchInterrupts(ctx)
		o.Memo = reconcile.OpenMemo(c.fs, c.args.stateDir, "daemon-values")
	}
	if err := reconcile.VerifyDaemon(ctx, c.plan, c.sshd, o); err != nil {
		return err
	}
	bad := c.plan.Mismatches()
	if c.args.check || len(bad) == 0 {
		return nil
	}
	msgs := make([]string, len(bad))
	for i, ch := range bad {
		msgs[i] = fmt.Sprintf("%s: %s %s: %s", ch.Source, ch.Scope, ch.Keyword, ch.Reason)
	}
	return fmt.Errorf("the running sshd does not use %d desired value(s):\n%s", len(bad), strings.Join(msgs, "\n"))
}

// splay sleeps a random time up to --splay, so that a fleet started by
// the same timer does not converge in the same second.
func (c *converge) splay(ctx context.Context) error {
	if c.args.splay <= 0 {
		return nil
	}
	d := rand.N(c.args.splay)
	c.log.Debug().Dur("sleep", d).Msg("splay")
	select {
	case <-ctx.Done():
		return fmt.Errorf("interrupted during --splay: %w", ctx.Err())
	case <-time.After(d):
		return nil
	}
}

// prepare opens the root and the state, learns the OpenSSH version and
// reads the desired state for it.
func (c *converge) prepare(ctx context.Context) error {
	root, err := files.NewRoot(c.args.root)
	if err != nil {
		return err
	}
	if c.fs, err = reconcile.OpenFS(root); err != nil {
		return err
	}
	c.root = root
	c.state = reconcile.OpenState(c.fs, c.args.stateDir)
	accepted := ""
	switch {
	case c.args.insecureDesired:
		accepted = "--insecure-desired"
	case c.args.check:
		accepted = "an audit changes nothing"
	}
	src, err := readDesired(c.args.desired, accepted, c.log)
	if err != nil {
		return err
	}
	c.startEarlyCheck(ctx, src)
	if err := c.detectVersion(ctx); err != nil {
		return err
	}
	c.desired, err = desired.ParseFor(c.args.desired, src, c.version)
	return err
}

// compute plans the run and reads whether a reload is due.
func (c *converge) compute(ctx context.Context) error {
	accepts := func(main string) error { return c.sshdAccepts(ctx, main) }
	plan, err := reconcile.Compute(c.desired, reconcile.Options{Root: c.root, Version: c.version, SSHDAccepts: accepts,
		EditForeign: c.args.editForeign, Log: c.log})
	if err != nil {
		return err
	}
	c.plan = plan
	c.pending, err = c.state.ReloadPending()
	return err
}

// apply executes the plan with the reload and safety options.
func (c *converge) apply(ctx context.Context) error {
	sys := &reconcile.Host{FS: c.fs, SSHD: c.sshd, Log: c.log}
	o := reconcile.ApplyOptions{State: c.state, Log: c.log}
	if c.sshd == nil || c.sshd.Listener == nil && c.sshd.Mode == reconcile.ReloadNone {
		o.State = nil // nothing runs that could miss the change
	}
	if c.args.backup {
		o.Backup = reconcile.Backup{FS: c.fs, Dir: path.Join(c.args.stateDir, "backup"), Keep: c.args.backupKeep}
	}
	if n, err := c.fs.SweepTemp(c.plan.Dirs); n > 0 || err != nil {
		c.log.Warn().Err(err).Int("files", n).Msg("removed temp files an interrupted run left behind")
	}
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	var err error
	c.result, err = reconcile.Apply(ctx, c.plan, sys, o)
	if err == nil && o.State != nil {
		c.pending = c.result.ReloadPending
	}
	return err
}

// pidFile is the sshd pid file: --sshd-pidfile, else the PidFile the
// configuration names, else OpenSSH's default.
func (c *converge) pidFile() string {
	if c.args.pidFile != "" {
		return c.args.pidFile
	}
	return c.plan.PidFile
}

// logChanges logs each key that drifted (--check, at debug) or changed.
func (c *converge) logChanges(applyErr error) {
	if c.plan == nil {
		return
	}
	msg := "changed"
	if c.args.check {
		msg = "drift"
	}
	for _, ch := range c.plan.Changes {
		if ch.Status == reconcile.InSync {
			continue
		}
		ev := c.log.Debug()
		if !c.args.check && applyErr == nil {
			ev = c.log.Info()
		}
		file := ""
		if len(ch.Edits) > 0 {
			file = ch.Edits[0].File
		}
		ev.Stringer("side", ch.Side).Stringer("scope", ch.Scope).Str("keyword", ch.Keyword).Str("file", file).
			Strs("old", ch.Effective).Strs("new", ch.Desired).Str("origin", ch.Origin).
			Stringer("action", ch.Action).Msg(msg)
	}
}

// report prints the run as text (nothing when it failed before planning)
// or as one JSON document (always).
func (c *converge) report(w io.Writer, runErr error) error {
	o := reconcile.Outcome{Check: c.args.check, Plan: c.plan, Apply: c.result, SSHD: c.sshd, Pending: c.pending, Err: runErr}
	if !c.version.IsZero() {
		o.OpenSSH = c.version.String()
	}
	if c.args.format != "json" {
		return o.WriteText(w, c.args.diff)
	}
	host, _ := os.Hostname()
	root := c.args.root
	if c.root != nil {
		root = c.root.Dir()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(o.Report(host, root, c.args.desired, time.Now(), c.args.diff))
}

func (c *converge) mode() string {
	if c.args.check {
		return "check"
	}
	return "apply"
}

// exitCode decides the exit code from the run's outcome.
func (c *converge) exitCode(runErr error) int {
	switch {
	case runErr != nil:
		return exitError
	case c.args.check && (!c.plan.InSync() || c.pending):
		return exitDrift
	case !c.args.check && c.args.detailed && len(c.plan.Files) > 0:
		return exitDrift
	}
	return exitOK
}

// newLogger returns a zerolog logger on w: a human console on a terminal,
// JSON lines otherwise (one per event, for journald or syslog), each with
// the host and the run's id, so that a log pipeline can pick one run of
// one host out of a fleet's.
func newLogger(w io.Writer, level zerolog.Level) zerolog.Logger {
	host, _ := os.Hostname()
	return zerolog.New(logWriter(w)).Level(level).With().Timestamp().Str("host", host).Str("run", runID()).Logger()
}

// logWriter is where the log's events written to w go: w itself, or on a
// terminal a writer that formats them for people.
func logWriter(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return zerolog.ConsoleWriter{Out: f, TimeFormat: time.TimeOnly}
		}
	}
	return w
}

// runID is a random identifier of this run.
func runID() string {
	var b [6]byte
	if _, err := cryptorand.Read(b[:]); err != nil {
		return "unknown"
	}
	return hex.EncodeToString(b[:])
}

func runValidate(args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] == "--help" || args[0] == "-h" {
		return usageError{"validate: name exactly one desired-state file"}
	}
	if _, err := loadDesired(args[0], "validate only reads it", files.Version{}, zerolog.Nop()); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "%s: valid\n", args[0])
	return err
}
