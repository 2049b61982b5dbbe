package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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

// SSHD is the sshd serving a configuration: the running listener found
// through its pid file, or none. It validates, reloads and restarts it.
type SSHD struct {
	// Root is the filesystem root the configuration lives under.
	Root *files.Root
	// Mode is the reload mode in force (never ReloadAuto).
	Mode ReloadMode
	// PidFile is the pid file's configuration path.
	PidFile string
	// PID is the listener's process id, 0 when none runs.
	PID int
	// Exe and Args are the listener's binary and original arguments (from
	// its process title), to validate with and to start it again.
	Exe  string
	Args []string
	// Unit is the systemd unit (systemd mode).
	Unit string
	// Timeout bounds the wait for sshd to serve again.
	Timeout time.Duration
	// Log receives progress.
	Log zerolog.Logger

	mntNS *os.File // the listener's mount namespace, held open
}

// FindSSHD finds the sshd of root: the listener whose pid is in pidFile (a
// configuration path), and the reload mode (mode ReloadAuto picks systemd
// when PID 1 is systemd and root is "/", else the signal when a listener
// runs, else service(8) when root is "/" and it exists, else none).
func FindSSHD(root *files.Root, pidFile string, mode ReloadMode, log zerolog.Logger) (*SSHD, error) {
	if mode > ReloadNone {
		return nil, fmt.Errorf("reload mode %d: want auto, systemd, service, signal or none", mode)
	}
	s := &SSHD{Root: root, PidFile: pidFile, Timeout: 15 * time.Second, Log: log}
	if err := s.findListener(); err != nil {
		return nil, err
	}
	s.Mode = s.resolve(mode)
	if s.Mode == ReloadSystemd {
		s.findUnit()
	}
	if s.Mode == ReloadSignal && s.PID == 0 {
		log.Info().Str("pidfile", pidFile).Msg("no sshd is running; it reads the new configuration when it starts")
	}
	return s, nil
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
	case s.PID != 0:
		return ReloadSignal
	case hostRoot && haveCommand("service"):
		return ReloadService
	}
	return ReloadNone
}

// findUnit picks ssh.service (Debian, Ubuntu) or sshd.service, and warns
// about socket activation.
func (s *SSHD) findUnit() {
	s.Unit = "ssh.service"
	if out, _ := exec.Command("systemctl", "show", "-p", "LoadState", "--value", s.Unit).Output(); strings.TrimSpace(string(out)) != "loaded" {
		s.Unit = "sshd.service"
	}
	if out, _ := exec.Command("systemctl", "is-active", "ssh.socket").Output(); strings.TrimSpace(string(out)) == "active" {
		s.Log.Warn().Msg("sshd runs socket-activated (ssh.socket): a reload does not apply Port or ListenAddress changes; those need systemctl daemon-reload and a restart of ssh.socket")
	}
}

func pid1IsSystemd() bool {
	b, err := os.ReadFile("/proc/1/comm")
	return err == nil && strings.TrimSpace(string(b)) == "systemd"
}

func haveCommand(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// findListener reads the pid file and, when a live sshd listener has that
// pid, records its binary, arguments and mount namespace.
func (s *SSHD) findListener() error {
	pid, err := s.readPidFile()
	if err != nil || pid == 0 {
		return err
	}
	exe, args, ok := listenerCommand(pid)
	if !ok {
		s.Log.Warn().Int("pid", pid).Str("pidfile", s.PidFile).Msg("the pid file names no running sshd listener; ignoring it")
		return nil
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return fmt.Errorf("sshd %d: %w", pid, err)
	}
	s.PID, s.Exe, s.Args, s.mntNS = pid, exe, args, ns
	return nil
}

// readPidFile returns the pid the pid file holds, 0 when there is none.
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
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("sshd pid file %s: %q is not a pid", s.PidFile, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// listenerCommand returns the binary and original arguments of the sshd
// listener with pid: its process title reads
// "sshd: BINARY ARGS [listener] N of A-B startups".
func listenerCommand(pid int) (exe string, args []string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "", nil, false
	}
	title := strings.TrimRight(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), " ")
	rest, ok := strings.CutPrefix(title, "sshd: ")
	if !ok {
		return "", nil, false
	}
	cmd, _, ok := strings.Cut(rest, " [listener]")
	if !ok {
		return "", nil, false
	}
	fields := strings.Fields(cmd)
	if len(fields) == 0 {
		return "", nil, false
	}
	return fields[0], fields[1:], true
}

// inNamespace returns a command that runs argv in the listener's mount
// namespace (directly when it is ours).
func (s *SSHD) inNamespace(ctx context.Context, argv ...string) *exec.Cmd {
	if s.mntNS != nil {
		self, err1 := os.Readlink("/proc/self/ns/mnt")
		theirs, err2 := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", s.mntNS.Fd()))
		if err1 != nil || err2 != nil || self != theirs {
			cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--mount=/proc/self/fd/3", "--"}, argv...)...)
			cmd.ExtraFiles = []*os.File{s.mntNS}
			return cmd
		}
	}
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// Validate runs sshd -t as the daemon will read the configuration: with
// the listener's own binary and arguments in its mount namespace; with no
// listener, the sshd binary on the configuration under the root (through a
// private mount namespace when the root is not "/").
func (s *SSHD) Validate(ctx context.Context) error {
	var cmd *exec.Cmd
	switch {
	case s.PID != 0:
		cmd = s.inNamespace(ctx, append(append([]string{s.Exe}, validationArgs(s.Args)...), "-t")...)
	case s.Root.Dir() == "/":
		cmd = exec.CommandContext(ctx, sshdBinary(), "-t")
	default:
		cmd = exec.CommandContext(ctx, "unshare", "-m", "--propagation", "private", "sh", "-c",
			`mount --bind "$1/etc/ssh" /etc/ssh && exec "$2" -t`, "sh", s.Root.Dir(), sshdBinary())
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// validationArgs drops the options that would send sshd -t's messages
// away from its stderr (-E log file) or keep it in the foreground.
func validationArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-E" && i+1 < len(args):
			i++
		case strings.HasPrefix(a, "-E"), a == "-D", a == "-d", a == "-e":
		default:
			out = append(out, a)
		}
	}
	return out
}

func sshdBinary() string {
	if p, err := exec.LookPath("sshd"); err == nil {
		return p
	}
	return "/usr/sbin/sshd"
}

// Reload makes sshd re-read its configuration and waits until it listens
// again.
func (s *SSHD) Reload(ctx context.Context) error {
	if handled, err := s.viaManager(ctx, "reload"); handled {
		return err
	}
	if s.PID == 0 {
		return nil // nothing runs: it reads the configuration when it starts
	}
	before := s.pidFileStamp()
	if err := syscall.Kill(s.PID, syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP to sshd %d: %w", s.PID, err)
	}
	s.Log.Info().Int("pid", s.PID).Msg("sent SIGHUP to sshd")
	return s.waitListening(ctx, s.PID, before)
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
			if !alive(pid) {
				return false, fmt.Errorf("sshd %d exited", pid)
			}
			stamp := s.pidFileStamp()
			_, _, listening := listenerCommand(pid)
			return listening && stamp != "" && stamp != before, nil
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
	if !alive(pid) {
		return fmt.Errorf("sshd %d exited right after the reload", pid)
	}
	return nil
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// waitActive waits until the unit is active; failed or inactive is an
// error.
func (s *SSHD) waitActive(ctx context.Context) error {
	return pollTimeout(ctx, 100*time.Millisecond, s.Timeout, fmt.Errorf("%s did not become active within %s", s.Unit, s.Timeout),
		func(ctx context.Context) (bool, error) {
			out, _ := exec.CommandContext(ctx, "systemctl", "is-active", s.Unit).Output()
			switch state := strings.TrimSpace(string(out)); state {
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
		if out, err := exec.CommandContext(ctx, "systemctl", verb, s.Unit).CombinedOutput(); err != nil {
			return true, fmt.Errorf("systemctl %s %s: %w: %s", verb, s.Unit, err, out)
		}
		return true, s.waitActive(ctx)
	case ReloadService:
		if out, err := exec.CommandContext(ctx, "service", serviceName(), verb).CombinedOutput(); err != nil {
			return true, fmt.Errorf("service %s %s: %w: %s", serviceName(), verb, err, out)
		}
		return true, nil
	}
	return false, nil
}

// Restart starts sshd again: systemctl start, service start, or (signal
// mode) its original command line in its mount namespace, detached.
func (s *SSHD) Restart(ctx context.Context) error {
	if handled, err := s.viaManager(ctx, "start"); handled {
		return err
	}
	if s.PID == 0 || alive(s.PID) {
		return nil // nothing ran, or it survived after all
	}
	before := s.pidFileStamp()
	// Not tied to ctx: the daemon must outlive this run.
	cmd := s.inNamespace(context.Background(), append([]string{s.Exe}, s.Args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting sshd again (%s): %w", strings.Join(cmd.Args, " "), err)
	}
	s.Log.Warn().Int("pid", cmd.Process.Pid).Strs("argv", cmd.Args).Msg("started sshd again")
	go cmd.Wait() //nolint:errcheck // reap it if it exits while we run
	timeout := fmt.Errorf("sshd started again (%s) but did not write %s within %s", strings.Join(cmd.Args, " "), filepath.Clean(s.PidFile), s.Timeout)
	return pollTimeout(ctx, 20*time.Millisecond, s.Timeout, timeout, func(context.Context) (bool, error) {
		return s.newListener(before), nil
	})
}

// newListener reports whether a new pid file (other than the one stamped
// before) names a live process, and records it as the listener.
func (s *SSHD) newListener(before string) bool {
	if stamp := s.pidFileStamp(); stamp == "" || stamp == before {
		return false
	}
	pid, err := s.readPidFile()
	if err != nil || pid == 0 || !alive(pid) {
		return false
	}
	s.PID = pid
	return true
}

// Close releases the listener's namespace handle.
func (s *SSHD) Close() error {
	if s.mntNS != nil {
		return s.mntNS.Close()
	}
	return nil
}
