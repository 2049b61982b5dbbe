package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Tools are the external commands the agent runs, at fixed absolute
// paths: nothing is looked up in PATH, so a directory an unprivileged user
// can write cannot put its own program in front of the agent, which runs
// as root. Tests replace them with stand-ins.
type Tools struct {
	// Systemctl is systemd's control command.
	Systemctl string
	// Service is service(8).
	Service string
	// Nsenter enters another process's mount namespace (util-linux).
	Nsenter string
	// Unshare makes a private copy of a mount namespace (util-linux).
	Unshare string
}

// DefaultTools are the commands' paths on the distributions the agent
// supports (merged /usr or not: the first existing one wins).
func DefaultTools() Tools {
	return Tools{
		Systemctl: firstExisting("/usr/bin/systemctl", "/bin/systemctl"),
		Service:   firstExisting("/usr/sbin/service", "/sbin/service"),
		Nsenter:   firstExisting("/usr/bin/nsenter", "/bin/nsenter"),
		Unshare:   firstExisting("/usr/bin/unshare", "/bin/unshare"),
	}
}

// firstExisting returns the first of paths that is a regular file, or the
// first path (whose absence a run then reports).
func firstExisting(paths ...string) string {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return paths[0]
}

// childEnv is the whole environment of every command the agent runs:
// nothing of the agent's own environment (which may hold secrets or
// LD_PRELOAD) is passed on.
var childEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "LC_ALL=C"}

// command returns a command running the program at the absolute path
// name with args and the fixed environment.
func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = childEnv
	cmd.Dir = "/"
	return cmd
}

// output runs cmd and returns its standard output; a failure carries the
// command's own message (its standard error), never a shell line.
func output(cmd *exec.Cmd) (string, error) {
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := printable(strings.TrimSpace(stderr.String()))
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return string(out), errors.New(msg)
		}
		return string(out), fmt.Errorf("%s: %w", cmd.Path, err)
	}
	return string(out), nil
}

// printable returns a tool's message fit for a terminal and a report:
// sshd ends its lines with CR LF on stderr, and a hostile file name could
// carry escape sequences, so CRs go and other control characters become
// '?' (newlines and tabs stay).
func printable(msg string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r':
			return -1
		case r == '\n' || r == '\t':
			return r
		case r < 0x20 || r == 0x7f:
			return '?'
		}
		return r
	}, msg)
}
