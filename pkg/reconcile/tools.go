package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
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
	// Nsenter enters another process's namespaces (util-linux), to start
	// a daemon again where it ran.
	Nsenter string
}

// DefaultTools are the commands' paths on the distributions the agent
// supports (merged /usr or not: the first existing one wins).
func DefaultTools() Tools {
	return Tools{
		Systemctl: firstExisting("/usr/bin/systemctl", "/bin/systemctl"),
		Service:   firstExisting("/usr/sbin/service", "/sbin/service"),
		Nsenter:   firstExisting("/usr/bin/nsenter", "/bin/nsenter"),
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
func output(cmd *exec.Cmd) (string, error) { return outputFrom(cmd, cmd.Start) }

// outputIn is output with cmd started in the mount namespace ns (see
// startIn).
func outputIn(ns *os.File, cmd *exec.Cmd) (string, error) {
	return outputFrom(cmd, func() error { return startIn(ns, cmd) })
}

// outputFrom is output with cmd started by start.
func outputFrom(cmd *exec.Cmd, start func() error) (string, error) {
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := start()
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		msg := printable(strings.TrimSpace(stderr.String()))
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return stdout.String(), errors.New(msg)
		}
		return stdout.String(), fmt.Errorf("%s: %w", cmd.Path, err)
	}
	return stdout.String(), nil
}

// startIn starts cmd in the mount namespace ns as nsenter --mount would,
// without a process of its own (see inNamespace); nil ns is the agent's
// own.
func startIn(ns *os.File, cmd *exec.Cmd) error {
	if ns == nil {
		return cmd.Start()
	}
	done, err := nullStdin(cmd)
	if err != nil {
		return err
	}
	defer done()
	return inNamespace(ns, unix.CLONE_NEWNS, cmd.Start)
}

// nullStdin gives cmd, when it has no standard input, /dev/null opened
// here, before it is started from another mount namespace: there, a
// hostile image's /dev/null could be a FIFO whose open never returns.
// done closes the descriptor once cmd has started (or failed to).
func nullStdin(cmd *exec.Cmd) (done func(), err error) {
	if cmd.Stdin != nil {
		return func() {}, nil
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	cmd.Stdin = null
	return func() { null.Close() }, nil
}

// inNamespace runs f on an OS thread of its own (onThread) that has
// entered the namespace ns of type nstype (unix.CLONE_NEWNS or
// unix.CLONE_NEWNET), and returns f's error. Before a mount namespace,
// the thread stops sharing its root and working directory with the others
// (unshare CLONE_FS), as setns(2) requires.
func inNamespace(ns *os.File, nstype int, f func() error) error {
	return onThread(func() error {
		if nstype == unix.CLONE_NEWNS {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare(CLONE_FS): %w", err)
			}
		}
		if err := unix.Setns(int(ns.Fd()), nstype); err != nil {
			return fmt.Errorf("entering %s: %w", ns.Name(), err)
		}
		return f()
	})
}

// onThread runs f on an OS thread of its own, for f to change what only
// that thread sees (its namespaces, its root), and returns f's error. The
// thread is never unlocked: it ends with its goroutine, so no other code
// of the agent ever runs with what f changed. (Threads the runtime starts
// meanwhile are cloned from its template thread, not from this one.)
//
// f never runs on the process's main thread: that one cannot end, and
// would stay, wedged, with f's changes, which /proc/self (the main
// thread's view) would then show. When the goroutine lands there, it
// holds the main thread while another goroutine, which must then run
// elsewhere, runs f.
func onThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			defer runtime.UnlockOSThread()
			errc <- onThread(f)
			return
		}
		errc <- f()
	}()
	return <-errc
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
