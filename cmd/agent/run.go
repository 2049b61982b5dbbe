package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sshconverge/agent/pkg/files"
)

// Exit codes, decided here and nowhere else.
const (
	exitOK    = 0
	exitError = 1
	exitDrift = 2 // --check: the configuration differs from the desired state
)

// progName prefixes every message; it is the installed command's name.
const progName = "sshconverge"

// usageError is a command-line mistake; Run prints usage with it.
type usageError struct{ msg string }

// Error returns the message.
func (e usageError) Error() string { return e.msg }

const usage = `usage:
  sshconverge [flags] DESIRED.yaml           converge (the default), or audit with --check
  sshconverge validate DESIRED.yaml          check a desired-state file
  sshconverge show [flags] sshd [-C user=U,host=H,addr=A,laddr=L,lport=P]
  sshconverge show [flags] ssh HOST          effective values with their origins
  sshconverge version                        the version, commit and build date
  sshconverge help [COMMAND]                 this text, or a command's flags
`

// Run runs the agent with args (without the program name), writing the
// report to stdout and diagnostics to stderr, and returns the exit code.
// Cancelling ctx (SIGINT, SIGTERM) stops the run cleanly.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	code, err := run(ctx, args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return code
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		printError(stderr, err)
		fmt.Fprint(stderr, usage)
	default:
		printError(stderr, err)
	}
	return exitError
}

// printError writes err with the program's name on every line.
func printError(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "%s: %s\n", progName, line)
	}
}

// underRoot names the root on every line of err when it is not /: the
// paths in messages are the root's own (/etc/ssh/...), and a reader must
// know which tree they are in.
func underRoot(root string, err error) error {
	if err == nil || root == "/" || root == "" {
		return err
	}
	return files.Prefix("root "+root+": ", err)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 {
		return exitError, usageError{"no desired-state file or command"}
	}
	switch args[0] {
	case "show":
		return exitOK, runShow(ctx, args[1:], stdout, stderr)
	case "validate":
		return exitOK, runValidate(args[1:], stdout)
	case "version", "--version", "-version":
		return exitOK, runVersion(stdout)
	case "help", "--help", "-help", "-h":
		return exitOK, runHelp(args[1:], stdout)
	}
	return runConverge(ctx, args, stdout, stderr)
}

// runHelp prints the usage, or one command's flags with their defaults.
func runHelp(args []string, stdout io.Writer) error {
	var fs *flag.FlagSet
	switch {
	case len(args) == 0:
		fmt.Fprint(stdout, usage+"\nConverge flags:\n")
		fs = convergeFlags(&convergeArgs{})
	case args[0] == "show":
		fs = showFlags(&showArgs{})
	case args[0] == "validate", args[0] == "version":
		_, err := io.WriteString(stdout, usage)
		return err
	default:
		return usageError{fmt.Sprintf("help: unknown command %q", args[0])}
	}
	fs.SetOutput(stdout)
	fs.PrintDefaults()
	return nil
}
