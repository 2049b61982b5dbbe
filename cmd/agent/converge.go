package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/reconcile"
)

// convergeArgs are the parsed arguments of the main command.
type convergeArgs struct {
	check, diff bool
	root        string
	format      string
	logLevel    zerolog.Level
	desired     string
}

func parseConvergeArgs(args []string) (convergeArgs, error) {
	a := convergeArgs{}
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&a.check, "check", false, "change nothing; exit 0 in sync, 2 drift, 1 error")
	fs.BoolVar(&a.diff, "diff", false, "print a unified diff of every file change")
	fs.StringVar(&a.root, "root", "/", "filesystem root for every path")
	fs.StringVar(&a.format, "format", "text", "text or json")
	level := fs.String("log-level", "info", "trace, debug, info, warn, error or disabled")
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
	if !a.check {
		return exitError, fmt.Errorf("applying changes is not available yet; run with --check to audit")
	}
	root, err := files.NewRoot(a.root)
	if err != nil {
		return exitError, err
	}
	plan, err := reconcile.Compute(st, reconcile.Options{Root: root, Log: log})
	if err != nil {
		return exitError, err
	}
	for _, c := range plan.Changes {
		if c.Action != reconcile.None {
			log.Debug().Str("side", c.Side).Stringer("scope", c.Scope).Str("key", c.Keyword).
				Strs("old", c.Effective).Strs("new", c.Desired).Str("origin", c.Origin).
				Str("action", string(c.Action)).Msg("drift")
		}
	}
	if a.format == "json" {
		host, _ := os.Hostname()
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(plan.Report(host, "check", root.Dir(), a.desired, time.Now(), a.diff)); err != nil {
			return exitError, err
		}
	} else {
		if a.diff {
			io.WriteString(stdout, plan.Diff())
		}
		if err := plan.WriteText(stdout); err != nil {
			return exitError, err
		}
	}
	if !plan.InSync() {
		return exitDrift, nil
	}
	return exitOK, nil
}
