package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

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
	reload                reconcile.ReloadMode
	pidFile               string
	sshd                  string
	stateDir              string
	backup                bool
	backupKeep            int
	lock                  string
	lockTimeout           time.Duration
	splay                 time.Duration
	insecureDesired       bool
	editForeign           bool
	opensshVersion        string
	metricsFile           string
}

// convergeFlags defines the main command's flags on a new FlagSet that
// fills a.
func convergeFlags(a *convergeArgs) *flag.FlagSet {
	fs := flag.NewFlagSet(progName, flag.ContinueOnError)
	fs.BoolVar(&a.check, "check", false, "change nothing; exit 0 in sync, 2 drift or reload pending, 1 error")
	fs.BoolVar(&a.diff, "diff", false, "print a unified diff of every file change")
	fs.BoolVar(&a.detailed, "detailed-exitcode", false, "apply: exit 2 when the run changed something")
	fs.StringVar(&a.root, "root", "/", "filesystem root for every path, Include and default")
	fs.StringVar(&a.format, "format", "text", "report format: text or json")
	fs.Func("log-level", "log level on stderr: trace, debug, info, warn, error or disabled (default info)", func(s string) error {
		l, err := zerolog.ParseLevel(s)
		if err != nil || s == "" {
			return fmt.Errorf("--log-level %q: want trace, debug, info, warn, error or disabled", s)
		}
		a.logLevel = l
		return nil
	})
	fs.TextVar(&a.reload, "reload", reconcile.ReloadAuto, "how to reload sshd: auto, systemd, service, signal or none")
	fs.StringVar(&a.pidFile, "sshd-pidfile", "", "sshd's pid file under --root (default: the PidFile the configuration names)")
	fs.StringVar(&a.sshd, "sshd", "", "sshd binary to check configurations with when no daemon runs (default: the root's own /usr/sbin/sshd)")
	fs.StringVar(&a.stateDir, "state-dir", "/var/lib/sshconverge", "state directory under --root")
	fs.BoolVar(&a.backup, "backup", false, "keep the originals of changed files under the state directory")
	fs.IntVar(&a.backupKeep, "backup-keep", 10, "with --backup, how many runs' originals to keep")
	fs.StringVar(&a.lock, "lock", "/run/sshconverge.lock", "lock file under --root")
	fs.DurationVar(&a.lockTimeout, "lock-timeout", time.Minute, "how long to wait for another run's lock")
	fs.DurationVar(&a.splay, "splay", 0, "sleep a random time up to this long before starting (SIGTERM interrupts it)")
	fs.StringVar(&a.opensshVersion, "openssh-version", "", "the OpenSSH version the configuration is for (default: what the root's sshd -V says)")
	fs.BoolVar(&a.editForeign, "edit-foreign-files", false, "edit files packages or cloud-init own in place, even when the agent's drop-in could set the value")
	fs.BoolVar(&a.insecureDesired, "insecure-desired", false, "accept a desired-state file that others than root could change (warns)")
	fs.StringVar(&a.metricsFile, "metrics-file", "", "write Prometheus text metrics here (under --root), e.g. for node_exporter's textfile collector")
	return fs
}

// parseConvergeArgs parses the main command's arguments; flags may come
// before or after the desired-state file.
func parseConvergeArgs(args []string) (convergeArgs, error) {
	a := convergeArgs{logLevel: zerolog.InfoLevel}
	fs := convergeFlags(&a)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return a, err
	}
	if a.format != "text" && a.format != "json" {
		return a, usageError{fmt.Sprintf("--format %q: want text or json", a.format)}
	}
	if a.splay < 0 || a.backupKeep < 1 {
		return a, usageError{"--splay must not be negative and --backup-keep must be at least 1"}
	}
	if len(rest) != 1 {
		return a, usageError{"name exactly one desired-state file"}
	}
	a.desired = rest[0]
	return a, nil
}

// showArgs are the parsed arguments of "show".
type showArgs struct {
	root    string
	format  string
	dialect files.Dialect
	conn    files.Conn
	host    string
	spec    string // -C as given
	version string // --openssh-version
}

// showFlags defines show's flags on a new FlagSet that fills a.
func showFlags(a *showArgs) *flag.FlagSet {
	fs := flag.NewFlagSet(progName+" show", flag.ContinueOnError)
	fs.StringVar(&a.root, "root", "/", "filesystem root for every path")
	fs.StringVar(&a.format, "format", "text", "text or json")
	fs.StringVar(&a.spec, "C", "", "sshd connection criteria: user=U,host=H,addr=A,laddr=L,lport=P,rdomain=R")
	fs.StringVar(&a.version, "openssh-version", "", "the OpenSSH version the configuration is for (default: what the root's sshd -V says)")
	return fs
}

func parseShowArgs(args []string) (showArgs, error) {
	a := showArgs{}
	rest, err := parseInterspersed(showFlags(&a), args)
	if err != nil {
		return a, err
	}
	if a.format != "text" && a.format != "json" {
		return a, usageError{fmt.Sprintf("--format %q: want text or json", a.format)}
	}
	if len(rest) == 0 {
		return a, usageError{"show: say sshd or ssh"}
	}
	switch rest[0] {
	case "sshd":
		a.dialect = files.Server
		if len(rest) > 1 {
			return a, usageError{fmt.Sprintf("show sshd: unexpected %q", rest[1])}
		}
		if a.conn, err = parseConn(a.spec); err != nil {
			return a, usageError{err.Error()}
		}
	case "ssh":
		a.dialect = files.Client
		if len(rest) != 2 {
			return a, usageError{"show ssh: name exactly one HOST"}
		}
		if a.spec != "" {
			return a, usageError{"show ssh: -C is for sshd"}
		}
		a.host = rest[1]
	default:
		return a, usageError{fmt.Sprintf("show: unknown side %q; say sshd or ssh", rest[0])}
	}
	return a, nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, and returns the positional ones. -h and --help
// print the flags on stdout and return flag.ErrHelp.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseConn parses sshd -C style criteria: user=U,host=H,addr=A,laddr=L,lport=P,rdomain=R.
func parseConn(spec string) (files.Conn, error) {
	var c files.Conn
	if spec == "" {
		return c, nil
	}
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return c, fmt.Errorf("-C %q: want key=value", kv)
		}
		if err := setConnField(&c, k, v); err != nil {
			return c, err
		}
	}
	return c, nil
}

func setConnField(c *files.Conn, k, v string) error {
	switch k {
	case "user":
		c.User = v
	case "host":
		c.Host = v
	case "addr":
		c.Addr = v
	case "laddr":
		c.LAddr = v
	case "rdomain":
		c.RDomain = v
	case "lport":
		p, err := strconv.Atoi(v)
		if err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("-C lport=%s: not a port number", v)
		}
		c.LPort = p
	default:
		return fmt.Errorf("-C: unknown key %q (want user, host, addr, laddr, lport or rdomain)", k)
	}
	return nil
}
