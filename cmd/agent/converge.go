package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/reconcile"
)

// convergeArgs are the parsed arguments of the main command.
type convergeArgs struct {
	check, diff, detailed bool
	root                  string
	format                string
	logLevel              zerolog.Level
	desired               string
	reload                string
	pidFile               string
	stateDir              string
	backup                bool
	backupKeep            int
	lock                  string
	lockTimeout           time.Duration
}

func parseConvergeArgs(args []string) (convergeArgs, error) {
	a := convergeArgs{}
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&a.check, "check", false, "change nothing; exit 0 in sync, 2 drift, 1 error")
	fs.BoolVar(&a.diff, "diff", false, "print a unified diff of every file change")
	fs.BoolVar(&a.detailed, "detailed-exitcode", false, "exit 2 when a run changed something")
	fs.StringVar(&a.root, "root", "/", "filesystem root for every path")
	fs.StringVar(&a.format, "format", "text", "text or json")
	level := fs.String("log-level", "info", "trace, debug, info, warn, error or disabled")
	fs.StringVar(&a.reload, "reload", reconcile.ReloadAuto, "auto, systemd, service, signal or none")
	fs.StringVar(&a.pidFile, "sshd-pidfile", "", "sshd's pid file (default: the PidFile the configuration names, under --root)")
	fs.StringVar(&a.stateDir, "state-dir", "", "state directory (default var/lib/sshconverge under --root)")
	fs.BoolVar(&a.backup, "backup", false, "keep the originals of changed files under the state directory")
	fs.IntVar(&a.backupKeep, "backup-keep", 10, "with --backup, how many runs' originals to keep")
	fs.StringVar(&a.lock, "lock", "", "lock file (default run/sshconverge.lock under --root)")
	fs.DurationVar(&a.lockTimeout, "lock-timeout", time.Minute, "how long to wait for another run's lock")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return a, err
	}
	if a.format != "text" && a.format != "json" {
		return a, usageError{fmt.Sprintf("--format %q: want text or json", a.format)}
	}
	if a.logLevel, err = zerolog.ParseLevel(*level); err != nil || *level == "" {
		return a, usageError{fmt.Sprintf("--log-level %q: want trace, debug, info, warn, error or disabled", *level)}
	}
	switch a.reload {
	case reconcile.ReloadAuto, reconcile.ReloadSystemd, reconcile.ReloadService, reconcile.ReloadSignal, reconcile.ReloadNone:
	default:
		return a, usageError{fmt.Sprintf("--reload %q: want auto, systemd, service, signal or none", a.reload)}
	}
	if len(rest) != 1 {
		return a, usageError{"name exactly one desired-state file"}
	}
	a.desired = rest[0]
	return a, nil
}

// newLogger returns a zerolog logger on w: a human console on a terminal,
// JSON lines otherwise.
func newLogger(w io.Writer, level zerolog.Level) zerolog.Logger {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			w = zerolog.ConsoleWriter{Out: f, TimeFormat: time.TimeOnly}
		}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// loadDesired reads and validates a desired-state file.
func loadDesired(name string) (*desired.State, error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("desired state: %w", err)
	}
	return desired.Parse(name, src)
}

func runValidate(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usageError{"validate: name exactly one desired-state file"}
	}
	if _, err := loadDesired(args[0]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: valid\n", args[0])
	return nil
}

func runConverge(args []string, stdout, stderr io.Writer) (int, error) {
	a, err := parseConvergeArgs(args)
	if err != nil {
		return exitError, err
	}
	log := newLogger(stderr, a.logLevel)
	st, err := loadDesired(a.desired)
	if err != nil {
		return exitError, err
	}
	root, err := files.NewRoot(a.root)
	if err != nil {
		return exitError, err
	}
	underRoot := func(flagValue, def string) string {
		if flagValue != "" {
			return flagValue
		}
		return root.HostPath(def)
	}
	if !a.check {
		lock, err := reconcile.AcquireLock(underRoot(a.lock, "/run/sshconverge.lock"), a.lockTimeout)
		if err != nil {
			return exitError, err
		}
		defer lock.Release()
	}
	plan, err := reconcile.Compute(st, reconcile.Options{Root: root, Log: log})
	if err != nil {
		return exitError, err
	}
	stateDir := underRoot(a.stateDir, "/var/lib/sshconverge")
	state := reconcile.OpenState(stateDir)
	pending, err := state.ReloadPending()
	if err != nil {
		return exitError, err
	}
	mode := "check"
	var applyErr error
	if !a.check {
		mode = "apply"
		applyErr = apply(a, plan, root, state, stateDir, log)
		if applyErr == nil {
			pending, _ = state.ReloadPending()
		}
	}
	for _, c := range plan.Changes {
		if c.Action == reconcile.None {
			continue
		}
		ev := log.Debug()
		if !a.check && applyErr == nil {
			ev = log.Info()
		}
		file := ""
		if len(c.Edits) > 0 {
			file = c.Edits[0].File
		}
		ev.Str("side", c.Side).Stringer("scope", c.Scope).Str("key", c.Keyword).Str("file", file).
			Strs("old", c.Effective).Strs("new", c.Desired).Str("origin", c.Origin).
			Str("action", string(c.Action)).Msg(map[bool]string{true: "drift", false: "changed"}[a.check])
	}
	if err := report(stdout, a, plan, root, mode, pending); err != nil {
		return exitError, err
	}
	switch {
	case applyErr != nil:
		return exitError, applyErr
	case a.check && (!plan.InSync() || pending):
		return exitDrift, nil
	case !a.check && a.detailed && len(plan.Files) > 0:
		return exitDrift, nil
	}
	return exitOK, nil
}

// apply executes the plan with the reload and safety options of a.
func apply(a convergeArgs, plan *reconcile.Plan, root *files.Root, state *reconcile.State, stateDir string, log zerolog.Logger) error {
	pidFile := plan.PidFile
	if pidFile == "" {
		pidFile = "/run/sshd.pid"
	}
	if a.pidFile != "" {
		pidFile = a.pidFile
	}
	sshd, err := reconcile.FindSSHD(root, pidFile, a.reload, log)
	if err != nil {
		return err
	}
	defer sshd.Close()
	o := reconcile.ApplyOptions{Root: root, Validate: sshd.Validate, Daemon: sshd, State: state, Log: log}
	if sshd.Mode == reconcile.ReloadNone {
		o.Daemon, o.State = nil, nil // the caller owns reloading
	}
	if a.backup {
		o.BackupDir, o.BackupKeep = filepath.Join(stateDir, "backup"), a.backupKeep
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err = reconcile.Apply(ctx, plan, o)
	return err
}

// report prints the plan as text (with the diff first when asked) or as
// one JSON document.
func report(w io.Writer, a convergeArgs, plan *reconcile.Plan, root *files.Root, mode string, pending bool) error {
	if a.format == "json" {
		host, _ := os.Hostname()
		r := plan.Report(host, mode, root.Dir(), a.desired, time.Now(), a.diff)
		r.ReloadPending = pending
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	if a.diff {
		io.WriteString(w, plan.Diff())
	}
	if pending {
		fmt.Fprintln(w, "reload pending: an earlier run changed the sshd configuration and did not reload sshd")
	}
	return plan.WriteText(w)
}
