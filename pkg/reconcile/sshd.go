package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

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
	// Tools are the external commands' paths (DefaultTools when zero).
	Tools Tools
	// Log receives progress.
	Log zerolog.Logger
}

// SSHD is the sshd serving a configuration: the running listener found
// through its pid file, or none. It validates, reloads and restarts it.
type SSHD struct {
	SSHDOptions
	// Listener is the running daemon, nil when none runs.
	Listener *Listener
	// Unit is the systemd unit (systemd mode).
	Unit string
	// Timeout bounds the wait for sshd to serve again.
	Timeout time.Duration

	exe   *os.File // the listener's binary, held open
	mntNS *os.File // the listener's mount namespace, held open
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
	if s.Mode == ReloadSystemd {
		s.findUnit()
	}
	if s.Mode == ReloadSignal && s.Listener == nil {
		s.Log.Info().Str("pidfile", s.PidFile).Msg("no sshd is running; it reads the new configuration when it starts")
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

// findUnit picks ssh.service (Debian, Ubuntu) or sshd.service, and warns
// about socket activation.
func (s *SSHD) findUnit() {
	s.Unit = "ssh.service"
	if out, _ := output(command(context.Background(), s.Tools.Systemctl, "show", "-p", "LoadState", "--value", s.Unit)); strings.TrimSpace(out) != "loaded" {
		s.Unit = "sshd.service"
	}
	if out, _ := output(command(context.Background(), s.Tools.Systemctl, "is-active", "ssh.socket")); strings.TrimSpace(out) == "active" {
		s.Log.Warn().Msg("sshd runs socket-activated (ssh.socket): a reload does not apply Port or ListenAddress changes; those need systemctl daemon-reload and a restart of ssh.socket")
	}
}

func pid1IsSystemd() bool {
	b, err := os.ReadFile("/proc/1/comm")
	return err == nil && strings.TrimSpace(string(b)) == "systemd"
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// findListener reads the pid file and, when a trustworthy sshd listener
// has that pid, records it and holds its binary and mount namespace.
func (s *SSHD) findListener() error {
	pid, err := s.readPidFile()
	if err != nil || pid == 0 {
		return err
	}
	l, err := inspectListener("/proc", pid)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.Log.Info().Int("pid", pid).Str("pidfile", s.PidFile).Msg("the pid file names no running process; no sshd runs")
		return nil
	case err != nil:
		return fmt.Errorf("sshd pid file %s names process %d, which is %v; nothing is run with its binary and it is not signalled (remove the stale pid file, or name the right one with --sshd-pidfile)", s.PidFile, pid, err)
	}
	if s.exe, err = os.Open(fmt.Sprintf("/proc/%d/exe", pid)); err != nil {
		return fmt.Errorf("sshd %d: %w", pid, err)
	}
	if s.mntNS, err = os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err != nil {
		return fmt.Errorf("sshd %d: %w", pid, err)
	}
	s.Listener = l
	s.Log.Debug().Int("pid", pid).Str("exe", l.Exe).Strs("args", l.Args).Int("sockets", l.Sockets).Msg("found sshd")
	return nil
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

// Reload makes sshd re-read its configuration and waits until it listens
// again.
func (s *SSHD) Reload(ctx context.Context) error {
	if handled, err := s.viaManager(ctx, "reload"); handled {
		return err
	}
	if s.Listener == nil {
		return nil // nothing runs: it reads the configuration when it starts
	}
	pid := s.Listener.PID
	before := s.pidFileStamp()
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP to sshd %d: %w", pid, err)
	}
	s.Log.Info().Int("pid", pid).Msg("sent SIGHUP to sshd")
	return s.waitListening(ctx, pid, before)
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

// waitListening waits until process pid is an sshd listener again and has
// written a new pid file, then checks that it stays up for a moment.
func (s *SSHD) waitListening(ctx context.Context, pid int, before string) error {
	err := pollTimeout(ctx, 20*time.Millisecond, s.Timeout, fmt.Errorf("sshd %d did not listen again within %s", pid, s.Timeout),
		func(context.Context) (bool, error) {
			if !alive("/proc", pid) {
				return false, fmt.Errorf("sshd %d exited", pid)
			}
			stamp := s.pidFileStamp()
			_, err := inspectListener("/proc", pid)
			return err == nil && stamp != "" && stamp != before, nil
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
	case ReloadNone:
		return true, nil
	case ReloadSystemd:
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
	// Not tied to ctx: the daemon must outlive this run.
	cmd := command(context.Background(), s.Tools.Nsenter, append([]string{"--mount=/proc/self/fd/3", "--", s.Listener.Exe}, s.Listener.Args...)...)
	cmd.ExtraFiles = []*os.File{s.mntNS}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting sshd again (%s): %w", strings.Join(cmd.Args[3:], " "), err)
	}
	s.Log.Warn().Int("pid", cmd.Process.Pid).Strs("argv", cmd.Args[3:]).Msg("started sshd again")
	go cmd.Wait() //nolint:errcheck // reap it if it exits while we run
	timeout := fmt.Errorf("sshd started again (%s) but did not write %s within %s", strings.Join(cmd.Args[3:], " "), filepath.Clean(s.PidFile), s.Timeout)
	return pollTimeout(ctx, 20*time.Millisecond, s.Timeout, timeout, func(context.Context) (bool, error) {
		return s.newListener(before), nil
	})
}

// newListener reports whether a new pid file (other than the one stamped
// before) names a trustworthy listener, and records it.
func (s *SSHD) newListener(before string) bool {
	if stamp := s.pidFileStamp(); stamp == "" || stamp == before {
		return false
	}
	pid, err := s.readPidFile()
	if err != nil || pid == 0 {
		return false
	}
	l, err := inspectListener("/proc", pid)
	if err != nil {
		return false
	}
	s.Listener = l
	return true
}

// Close releases the listener's binary and namespace handles.
func (s *SSHD) Close() error {
	var errs []error
	for _, f := range []*os.File{s.exe, s.mntNS} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}
