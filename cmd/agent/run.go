package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sshconverge/agent/pkg/files"
)

// Exit codes, decided here and nowhere else.
const (
	exitOK    = 0
	exitError = 1
	exitDrift = 2 // --check: the configuration differs from the desired state
)

// usageError is a command-line mistake; Run prints usage with it.
type usageError struct{ msg string }

// Error returns the message.
func (e usageError) Error() string { return e.msg }

const usage = `usage:
  agent [--check] [--diff] [--root DIR] [--format text|json] [--log-level LEVEL] [--reload MODE] [...] DESIRED.yaml
  agent validate DESIRED.yaml
  agent show [--root DIR] [--format text|json] sshd [-C user=U,host=H,addr=A,laddr=L,lport=P]
  agent show [--root DIR] [--format text|json] ssh HOST
  agent version
`

// Run runs the agent with args (without the program name), writing the
// report to stdout and diagnostics to stderr, and returns the exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	code, err := run(args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "agent: %v\n%s", err, usage)
	default:
		fmt.Fprintf(stderr, "agent: %v\n", err)
	}
	return exitError
}

func run(args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 {
		return exitError, usageError{"no desired-state file or command"}
	}
	switch args[0] {
	case "show":
		return exitOK, runShow(args[1:], stdout, stderr)
	case "validate":
		return exitOK, runValidate(args[1:], stdout)
	case "version":
		v := "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
		fmt.Fprintf(stdout, "sshconverge agent %s\n", v)
		return exitOK, nil
	}
	return runConverge(args, stdout, stderr)
}

// showArgs are the parsed arguments of "agent show".
type showArgs struct {
	root    string
	format  string
	dialect files.Dialect
	conn    files.Conn
	host    string
}

func parseShowArgs(args []string) (showArgs, error) {
	a := showArgs{}
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.root, "root", "/", "filesystem root for every path")
	fs.StringVar(&a.format, "format", "text", "text or json")
	spec := fs.String("C", "", "sshd connection criteria")
	rest, err := parseInterspersed(fs, args)
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
		conn, err := parseConn(*spec)
		if err != nil {
			return a, usageError{err.Error()}
		}
		a.conn = conn
	case "ssh":
		a.dialect = files.Client
		if len(rest) != 2 {
			return a, usageError{"show ssh: name exactly one HOST"}
		}
		if *spec != "" {
			return a, usageError{"show ssh: -C is for sshd"}
		}
		a.host = rest[1]
	default:
		return a, usageError{fmt.Sprintf("show: unknown side %q; say sshd or ssh", rest[0])}
	}
	return a, nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
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
				return c, fmt.Errorf("-C lport=%s: not a port number", v)
			}
			c.LPort = p
		default:
			return c, fmt.Errorf("-C: unknown key %q (want user, host, addr, laddr, lport or rdomain)", k)
		}
	}
	return c, nil
}

// shownValue is one line of "agent show" output.
type shownValue struct {
	Keyword string   `json:"keyword"`
	Value   []string `json:"value"`
	Origin  string   `json:"origin"`
	Origins []string `json:"origins,omitempty"`
}

func runShow(args []string, stdout, stderr io.Writer) error {
	a, err := parseShowArgs(args)
	if err != nil {
		return err
	}
	root, err := files.NewRoot(a.root)
	if err != nil {
		return err
	}
	main := files.SSHDir + "/sshd_config"
	if a.dialect == files.Client {
		main = files.SSHDir + "/ssh_config"
	}
	cfg, err := files.Load(root, main, a.dialect)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "agent: warning: %v\n", w)
	}
	var eff *files.Effective
	if a.dialect == files.Server {
		eff = cfg.Server(a.conn)
	} else {
		eff = cfg.Client(files.Target{Host: a.host, LocalUser: localUser()})
	}
	var out []shownValue
	for _, v := range eff.Values() {
		sv := shownValue{Keyword: v.Keyword.Name, Value: v.Args, Origin: v.Origin().String()}
		if len(v.From) > 1 {
			for _, en := range v.From {
				sv.Origins = append(sv.Origins, en.Pos().String())
			}
		}
		out = append(out, sv)
	}
	if a.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"config": a.dialect.String(), "values": out})
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	for i, v := range eff.Values() {
		origin := out[i].Origin
		if len(out[i].Origins) > 0 {
			origin = strings.Join(out[i].Origins, ", ")
		}
		fmt.Fprintf(tw, "%s %s\t# %s\n", v.Keyword.Name, files.FormatValue(v.Keyword, v.Args), origin)
	}
	for _, p := range eff.Unknown {
		fmt.Fprintf(tw, "# %s: Match exec not evaluated; taken as not matching\n", p)
	}
	return tw.Flush()
}

func localUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}
