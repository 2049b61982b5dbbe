package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/sshconverge/agent/pkg/files"
)

// ReloadMode is how sshd is made to re-read its configuration (--reload).
type ReloadMode uint8

// The reload modes.
const (
	// ReloadAuto picks one of the others (see FindSSHD).
	ReloadAuto ReloadMode = iota // auto
	// ReloadSystemd runs systemctl reload on sshd's unit.
	ReloadSystemd // systemd
	// ReloadService runs service(8) reload.
	ReloadService // service
	// ReloadSignal sends SIGHUP to the listener.
	ReloadSignal // signal
	// ReloadNone leaves reloading to the caller.
	ReloadNone // none
)

// MarshalText returns the mode's flag spelling.
func (m ReloadMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses a flag spelling: auto, systemd, service, signal or
// none.
func (m *ReloadMode) UnmarshalText(b []byte) error {
	for c := ReloadAuto; c <= ReloadNone; c++ {
		if c.String() == string(b) {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("--reload %q: want auto, systemd, service, signal or none", b)
}

// SSHDOptions configure FindSSHD.
type SSHDOptions struct {
	// Root is the filesystem root the configuration lives under.
	Root *files.Root
	// Config is the main configuration file's configuration path.
	Config string
	// PidFile is the pid file's configuration path.
	PidFile string
	// Mode is the reload mode asked for (--reload).
	Mode ReloadMode
	// Binary is the sshd to check configurations with when no daemon
	// runs (--sshd, a host path); "" means the root's own.
	Binary string
	// HostKeys are the host key files the configuration names; when none
	// exists, validation uses an ephemeral key.
	HostKeys []string
	// ListenChanged is true when the change touches Port or
	// ListenAddress (with socket activation, the socket must be
	// restarted).
	ListenChanged bool
	// Release is the OpenSSH release the configuration is read for (a
	// running daemon's files are read with its keywords).
	Release files.Version
	// FilesDigest is the digest of Config's files as the agent read them
	// in Root (Plan.ServerDigest), before it changed any. A daemon that
	// reads those very files (readsAgentFiles) is keyed with it instead
	// of a read of its own (daemonKey). FilesChanged clears it.
	FilesDigest string
	// Tools are the external commands' paths (DefaultTools when zero).
	Tools Tools
	// Log receives progress.
	Log zerolog.Logger
}

// SSHD is the sshd serving a configuration: the running listener found
// through its pid file, or none. It validates, reloads and restarts it.
type SSHD struct {
	SSHDOptions
	// Listener is the running daemon, nil when none runs; Found says how
	// it was found.
	Listener *Listener
	Found    string
	// Unit is the systemd unit (systemd mode); Socket is the socket unit
	// that starts it when sshd is socket-activated (Ubuntu 22.10 and
	// later), "" otherwise. Both are learnt when systemd is first asked to
	// reload or start sshd.
	Unit, Socket string
	// Did says what the last reload did, in words.
	Did string
	// Timeout bounds the wait for sshd to serve again.
	Timeout time.Duration

	read   *daemonRead // the daemon's files as last read (daemonFiles)
	exe    *os.File    // the listener's binary, held open
	mntNS  *os.File    // the listener's mount namespace, held open
	netNS  *os.File    // its network namespace
	cgroup *os.File    // its cgroup (v2) directory, nil when unknown
}

// FindSSHD finds the sshd of a configuration: the listener whose pid is in
// the pid file, checked against the kernel's facts (see Listener), and
// the reload mode (ReloadAuto picks systemd when PID 1 is systemd and root
// is "/", else the signal when a listener runs, else service(8) when root
// is "/" and it exists, else none). A pid file others could have written,
// or one naming a live process that is not a trustworthy sshd listener,
// is an error: nothing is run with such a process's binary.
func FindSSHD(o SSHDOptions) (*SSHD, error) {
	if o.Mode > ReloadNone {
		return nil, fmt.Errorf("reload mode %d: want auto, systemd, service, signal or none", o.Mode)
	}
	if o.Tools == (Tools{}) {
		o.Tools = DefaultTools()
	}
	s := &SSHD{SSHDOptions: o, Timeout: 15 * time.Second}
	if err := s.findListener(); err != nil {
		return nil, err
	}
	s.Mode = s.resolve(o.Mode)
	if s.Listener == nil && s.Mode != ReloadSystemd && s.Mode != ReloadService {
		s.Log.Debug().Str("pidfile", s.PidFile).Msg("no sshd runs for this configuration")
	}
	return s, nil
}

// PID returns the listener's pid, 0 when none runs.
func (s *SSHD) PID() int {
	if s.Listener == nil {
		return 0
	}
	return s.Listener.PID
}

// resolve turns ReloadAuto into the mode that fits this host.
func (s *SSHD) resolve(mode ReloadMode) ReloadMode {
	if mode != ReloadAuto {
		return mode
	}
	hostRoot := s.Root.Dir() == "/"
	switch {
	case hostRoot && pid1IsSystemd():
		return ReloadSystemd
	case s.Listener != nil:
		return ReloadSignal
	case hostRoot && isFile(s.Tools.Service):
		return ReloadService
	}
	return ReloadNone
}

// findUnit picks ssh.service (Debian, Ubuntu) or sshd.service, and learns
// whether ssh.socket activates it, the first time systemd is to reload or
// start it: two systemctl calls that an audit, or a run with nothing to
// reload, does not make.
func (s *SSHD) findUnit(ctx context.Context) {
	if s.Mode != ReloadSystemd || s.Unit != "" {
		return
	}
	s.Unit = "ssh.service"
	if out, _ := output(command(ctx, s.Tools.Systemctl, "show", "-p", "LoadState", "--value", s.Unit)); strings.TrimSpace(out) != "loaded" {
		s.Unit = "sshd.service"
	}
	if out, _ := output(command(ctx, s.Tools.Systemctl, "is-active", "ssh.socket")); strings.TrimSpace(out) == "active" {
		s.Socket = "ssh.socket"
	}
}

func pid1IsSystemd() bool {
	b, err := os.ReadFile("/proc/1/comm")
	return err == nil && strings.TrimSpace(string(b)) == "systemd"
}

// statInRootOf returns the status of the path p as the process pid sees
// it in its root, symbolic links resolved inside that root (followed on
// the host, an absolute link would name a host file).
func statInRootOf(pid int, p string) (fs.FileInfo, error) {
	root, err := rootOf(pid)
	if err != nil {
		return nil, err
	}
	return root.Stat(p)
}

// rootOf is the root directory of the process pid (/proc/PID/root), in
// which paths resolve as that process sees them.
func rootOf(pid int) (*files.Root, error) {
	return files.NewRoot(fmt.Sprintf("/proc/%d/root", pid))
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// findListener finds the running sshd: the one the pid file names, or
// else, among the sshd listeners on the host, the one whose own view of
// its configuration file (its root and its -f) is the file under the
// root. It holds the listener's binary and mount namespace.
func (s *SSHD) findListener() error {
	pid, err := s.readPidFile()
	if err != nil {
		return err
	}
	if pid != 0 {
		l, err := inspectListener("/proc", pid)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			s.Log.Info().Int("pid", pid).Str("pidfile", s.PidFile).Msg("the pid file names no running process")
		case err != nil:
			return fmt.Errorf("sshd pid file %s names process %d, which is %v; nothing is run with its binary and it is not signalled (remove the stale pid file, or name the right one with --sshd-pidfile)", s.PidFile, pid, err)
		default:
			return s.hold(l, "pid file "+s.PidFile)
		}
	}
	if l := s.scan(); l != nil {
		return s.hold(l, "its configuration file (no pid file named it)")
	}
	return nil
}

// hold records l as the listener, found as how says, and opens its binary
// and mount namespace.
func (s *SSHD) hold(l *Listener, how string) error {
	var err error
	if s.exe, err = os.Open(fmt.Sprintf("/proc/%d/exe", l.PID)); err != nil {
		return fmt.Errorf("sshd %d: %w", l.PID, err)
	}
	if s.mntNS, err = os.Open(fmt.Sprintf("/proc/%d/ns/mnt", l.PID)); err != nil {
		return fmt.Errorf("sshd %d: %w", l.PID, err)
	}
	if s.netNS, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", l.PID)); err != nil {
		return fmt.Errorf("sshd %d: %w", l.PID, err)
	}
	s.cgroup = cgroupOf(l.PID)
	s.Listener, s.Found = l, how
	s.Log.Info().Int("pid", l.PID).Str("exe", l.Exe).Strs("args", l.Args).Str("found", how).Msg("found sshd")
	return nil
}

// scan looks through /proc for a trustworthy sshd listener that reads the
// configuration file under the root, and returns the first.
func (s *SSHD) scan() *Listener {
	if s.Config == "" {
		return nil
	}
	ours, err := s.Root.Stat(s.Config)
	if err != nil {
		return nil
	}
	proc, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer proc.Close()
	pids, _ := proc.Readdirnames(-1)
	slices.Sort(pids)
	procFd := int(proc.Fd())
	for _, name := range pids {
		pid, err := strconv.Atoi(name)
		if err != nil || !exeNamed(procFd, name, "sshd") {
			continue
		}
		l, err := inspectListener("/proc", pid)
		if err != nil {
			continue
		}
		if st, err := statInRootOf(pid, l.ConfigFile()); err == nil && os.SameFile(st, ours) {
			return l
		}
	}
	return nil
}

// exeNamed reports whether the binary process pid runs (its exe link in
// the proc directory procFd, which the kernel keeps) is named name, as
// binaryName reads the link. It is a first filter, one system call a
// process, as a scan asks it of every process of the host; trustedBinary
// asks the same of a listener. The process's own name (comm) would not
// do: a process sets it itself, and it is the name it was run by, a
// link's say.
func exeNamed(procFd int, pid, name string) bool {
	var buf [512]byte
	n, err := unix.Readlinkat(procFd, pid+"/exe", buf[:])
	if err != nil {
		return false
	}
	if n == len(buf) {
		return true // a longer path: trustedBinary reads it whole
	}
	return binaryName(string(buf[:n])) == name
}

// readPidFile returns the pid the pid file holds, 0 when there is none.
// A pid file others could have written is refused.
func (s *SSHD) readPidFile() (int, error) {
	hp, err := hostTarget(s.Root, s.PidFile)
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(hp)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sshd pid file: %w", err)
	}
	if err := trustedPidFile(hp); err != nil {
		return 0, fmt.Errorf("sshd pid file %s cannot be trusted: %v; only root may write it", s.PidFile, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("sshd pid file %s: %q is not a pid", s.PidFile, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// ReloadOutcome is what a reload did.
type ReloadOutcome uint8

// The outcomes.
const (
	// Reloaded: sshd re-read its configuration and serves again.
	Reloaded ReloadOutcome = iota + 1 // reloaded
	// NotRunning: no sshd runs; it reads the configuration when it starts.
	NotRunning // not running
	// LeftToCaller: sshd runs and was not reloaded (--reload none).
	LeftToCaller // left to the caller
)

// MarshalText returns the outcome's words.
func (o ReloadOutcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// ErrNoDaemon is a reload asked for explicitly (--reload signal) with no
// sshd found to reload.
var ErrNoDaemon = errors.New("no running sshd was found to reload")

// Reload makes sshd re-read its configuration and waits until it serves
// again.
func (s *SSHD) Reload(ctx context.Context) (ReloadOutcome, error) {
	switch {
	case s.Mode == ReloadNone && s.Listener != nil:
		return LeftToCaller, nil
	case s.Mode == ReloadNone:
		return NotRunning, nil
	case s.Mode == ReloadSignal && s.Listener == nil:
		return 0, fmt.Errorf("%w: the pid file %s names none, and no sshd listener reads %s", ErrNoDaemon, s.PidFile, s.Config)
	}
	s.findUnit(ctx)
	if s.Mode == ReloadSystemd && s.Socket != "" {
		return s.reloadSocket(ctx)
	}
	if handled, err := s.viaManager(ctx, "reload"); handled {
		return Reloaded, err
	}
	pid := s.Listener.PID
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return 0, fmt.Errorf("SIGHUP to sshd %d: %w", pid, err)
	}
	s.Log.Info().Int("pid", pid).Msg("sent SIGHUP to sshd")
	return Reloaded, s.waitListening(ctx, s.Listener)
}

// reloadSocket does what a socket-activated sshd needs: Port and
// ListenAddress live in the socket unit (the generator writes them there),
// so a change of them needs daemon-reload and a restart of the socket;
// anything else a reload of the service, if it runs (else the next
// connection starts it with the new configuration).
func (s *SSHD) reloadSocket(ctx context.Context) (ReloadOutcome, error) {
	run := func(args ...string) error {
		if _, err := output(command(ctx, s.Tools.Systemctl, args...)); err != nil {
			return fmt.Errorf("systemctl %s: %w", strings.Join(args, " "), err)
		}
		return nil
	}
	if s.ListenChanged {
		s.Did = "daemon-reload and a restart of " + s.Socket + " (Port or ListenAddress changed)"
		return Reloaded, errors.Join(run("daemon-reload"), run("restart", s.Socket))
	}
	if out, _ := output(command(ctx, s.Tools.Systemctl, "is-active", s.Unit)); strings.TrimSpace(out) != "active" {
		s.Did = s.Unit + " is not running: the next connection through " + s.Socket + " starts it with the new configuration"
		return NotRunning, nil
	}
	s.Did = "systemctl reload " + s.Unit
	if err := run("reload", s.Unit); err != nil {
		return Reloaded, err
	}
	return Reloaded, s.waitActive(ctx)
}

// pidFileStamp identifies the pid file's current version (sshd removes it
// on SIGHUP and writes it anew once it listens again).
func (s *SSHD) pidFileStamp() string {
	hp, err := hostTarget(s.Root, s.PidFile)
	if err != nil {
		return ""
	}
	st, err := os.Stat(hp)
	if err != nil {
		return ""
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	if sys == nil {
		return st.ModTime().String()
	}
	return fmt.Sprintf("%d/%d.%d", sys.Ino, sys.Ctim.Sec, sys.Ctim.Nsec)
}

// waitListening waits until the listener that was sent SIGHUP listens
// again: the same process, still a trustworthy sshd listener, holding new
// listening sockets (sshd closes its sockets and re-executes itself on
// SIGHUP). It then checks that it stays up for a moment.
func (s *SSHD) waitListening(ctx context.Context, was *Listener) error {
	pid := was.PID
	err := pollTimeout(ctx, 20*time.Millisecond, s.Timeout, fmt.Errorf("sshd %d did not listen again within %s", pid, s.Timeout),
		func(context.Context) (bool, error) {
			if !alive("/proc", pid) {
				return false, fmt.Errorf("sshd %d exited", pid)
			}
			l, err := inspectListener("/proc", pid)
			if err != nil || slices.ContainsFunc(l.Sockets, func(ino string) bool { return slices.Contains(was.Sockets, ino) }) {
				return false, nil
			}
			s.Listener = l
			return true, nil
		})
	if err != nil {
		return err
	}
	// A daemon that dies right after coming back is a failed reload too.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(500 * time.Millisecond):
	}
	if !alive("/proc", pid) {
		return fmt.Errorf("sshd %d exited right after the reload", pid)
	}
	return nil
}

// waitActive waits until the unit is active; failed or inactive is an
// error.
func (s *SSHD) waitActive(ctx context.Context) error {
	return pollTimeout(ctx, 100*time.Millisecond, s.Timeout, fmt.Errorf("%s did not become active within %s", s.Unit, s.Timeout),
		func(ctx context.Context) (bool, error) {
			out, _ := output(command(ctx, s.Tools.Systemctl, "is-active", s.Unit))
			switch state := strings.TrimSpace(out); state {
			case "active":
				return true, nil
			case "failed", "inactive":
				return false, fmt.Errorf("%s is %s after the reload", s.Unit, state)
			}
			return false, nil
		})
}

func serviceName() string {
	if _, err := os.Stat("/etc/init.d/ssh"); err == nil {
		return "ssh"
	}
	return "sshd"
}

// viaManager asks systemd or service(8) to do verb ("reload" or "start")
// to sshd and waits for the result; handled is false in signal mode, which
// the caller does itself, and true (doing nothing) in none mode.
func (s *SSHD) viaManager(ctx context.Context, verb string) (handled bool, err error) {
	switch s.Mode {
	case ReloadSystemd:
		s.findUnit(ctx)
		if _, err := output(command(ctx, s.Tools.Systemctl, verb, s.Unit)); err != nil {
			return true, fmt.Errorf("systemctl %s %s: %w", verb, s.Unit, err)
		}
		return true, s.waitActive(ctx)
	case ReloadService:
		if _, err := output(command(ctx, s.Tools.Service, serviceName(), verb)); err != nil {
			return true, fmt.Errorf("service %s %s: %w", serviceName(), verb, err)
		}
		return true, nil
	}
	return false, nil
}

// Restart starts sshd again: systemctl start, service start, or (signal
// mode) its original command line in its mount namespace, detached. The
// binary at the listener's path must still be the file it ran.
func (s *SSHD) Restart(ctx context.Context) error {
	if handled, err := s.viaManager(ctx, "start"); handled {
		return err
	}
	if s.Listener == nil || alive("/proc", s.Listener.PID) {
		return nil // nothing ran, or it survived after all
	}
	before := s.pidFileStamp()
	cmd, err := s.startAgain()
	if err != nil {
		return err
	}
	argv := cmd.Args[4:]
	s.Log.Warn().Int("pid", cmd.Process.Pid).Strs("argv", argv).Msg("started sshd again")
	go cmd.Wait() //nolint:errcheck // reap it if it exits while we run
	timeout := fmt.Errorf("sshd started again (%s) but did not listen within %s", strings.Join(argv, " "), s.Timeout)
	return pollTimeout(ctx, 20*time.Millisecond, s.Timeout, timeout, func(context.Context) (bool, error) {
		return s.newListener(before), nil
	})
}

// startAgain starts the listener's command line again, detached, in its
// mount and network namespaces and its cgroup, so that it listens where it
// did and its service manager still owns it (not tied to any context: the
// daemon must outlive this run).
func (s *SSHD) startAgain() (*exec.Cmd, error) {
	start := func(cgroup bool) (*exec.Cmd, error) {
		cmd := command(context.Background(), s.Tools.Nsenter, append([]string{"--mount=/proc/self/fd/3", "--net=/proc/self/fd/4", "--", s.Listener.Exe}, s.Listener.Args...)...)
		cmd.ExtraFiles = []*os.File{s.mntNS, s.netNS}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if cgroup {
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(s.cgroup.Fd())
		}
		return cmd, cmd.Start()
	}
	if s.cgroup != nil {
		cmd, err := start(true)
		if err == nil {
			return cmd, nil
		}
		s.Log.Warn().Err(err).Msg("could not start sshd in its own cgroup; starting it in the agent's")
	}
	cmd, err := start(false)
	if err != nil {
		return nil, fmt.Errorf("starting sshd again (%s): %w", strings.Join(cmd.Args[4:], " "), err)
	}
	return cmd, nil
}

// newListener reports whether a new listener serves the configuration
// (named by a new pid file, other than the one stamped before, or found by
// its configuration file), and records it.
func (s *SSHD) newListener(before string) bool {
	var l *Listener
	if stamp := s.pidFileStamp(); stamp != "" && stamp != before {
		if pid, err := s.readPidFile(); err == nil && pid != 0 {
			l, _ = inspectListener("/proc", pid)
		}
	}
	if l == nil {
		l = s.scan()
	}
	if l == nil || !alive("/proc", l.PID) {
		return false
	}
	s.Listener = l
	return true
}

// cgroupOf opens the cgroup v2 directory of process pid, or returns nil
// (no unified hierarchy at /sys/fs/cgroup).
func cgroupOf(pid int) *os.File {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok && strings.HasPrefix(p, "/") {
			f, err := os.Open(filepath.Join("/sys/fs/cgroup", filepath.Clean(p)))
			if err != nil {
				return nil
			}
			var st unix.Statfs_t
			if unix.Fstatfs(int(f.Fd()), &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
				f.Close()
				return nil
			}
			return f
		}
	}
	return nil
}

// Close releases the listener's binary and namespace handles.
func (s *SSHD) Close() error {
	var errs []error
	for _, f := range []*os.File{s.exe, s.mntNS, s.netNS, s.cgroup} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}
