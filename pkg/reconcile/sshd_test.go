package reconcile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/files"
)

// TestMain lets the test binary serve as the view helper, as the agent's
// own binary does.
func TestMain(m *testing.M) {
	RunViewHelper(os.Args[1:])
	os.Exit(m.Run())
}

// fakeSystemctl makes a systemctl stand-in that appends its arguments to
// a log and answers is-active with the contents of the file "state", and
// returns Tools using it. There is no systemd on the test machines, so
// this pins the command sequence of the systemd mode; the signal mode is
// tested against a real sshd.
func fakeSystemctl(t *testing.T, state string) (tools Tools, log, stateFile string) {
	dir := t.TempDir()
	log, stateFile = filepath.Join(dir, "calls"), filepath.Join(dir, "state")
	if err := os.WriteFile(stateFile, []byte(state), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
echo "$*" >> ` + log + `
case "$*" in
  "show -p LoadState --value ssh.service") echo loaded ;;
  "is-active ssh.socket") echo inactive; exit 3 ;;
  "is-active ssh.service") cat ` + stateFile + ` ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tools = DefaultTools()
	tools.Systemctl = filepath.Join(dir, "systemctl")
	return tools, log, stateFile
}

func TestSystemdMode(t *testing.T) {
	tools, calls, state := fakeSystemctl(t, "active\n")
	root, err := files.NewRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := FindSSHD(SSHDOptions{Root: root, PidFile: "/run/sshd.pid", Mode: ReloadSystemd, Tools: tools, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	// Finding sshd asks systemd nothing: an audit, or a run with nothing
	// to reload, makes no systemctl call.
	if b, _ := os.ReadFile(calls); len(b) != 0 || s.Unit != "" || s.PID() != 0 {
		t.Fatalf("after FindSSHD: systemctl calls %q, unit %q, pid %d", b, s.Unit, s.PID())
	}
	if _, err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Unit != "ssh.service" {
		t.Fatalf("unit %q", s.Unit)
	}
	// A unit that failed after the reload is an error, and Restart starts it.
	if err := os.WriteFile(state, []byte("failed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "ssh.service is failed after the reload") {
		t.Fatalf("err = %v", err)
	}
	if err := os.WriteFile(state, []byte("active\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(calls)
	want := "show -p LoadState --value ssh.service\nis-active ssh.socket\nreload ssh.service\nis-active ssh.service\nreload ssh.service\nis-active ssh.service\nstart ssh.service\nis-active ssh.service\n"
	if string(b) != want {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", b, want)
	}
	// A start with no reload before it learns the unit first.
	if err := os.Remove(calls); err != nil {
		t.Fatal(err)
	}
	s, err = FindSSHD(SSHDOptions{Root: root, PidFile: "/run/sshd.pid", Mode: ReloadSystemd, Tools: tools, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(calls)
	if want := "show -p LoadState --value ssh.service\nis-active ssh.socket\nstart ssh.service\nis-active ssh.service\n"; string(b) != want {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", b, want)
	}
}

func TestFindSSHDModes(t *testing.T) {
	dir := t.TempDir()
	root, _ := files.NewRoot(dir)
	// Not "/" and no daemon: auto means nothing to reload.
	opts := func(m ReloadMode) SSHDOptions {
		return SSHDOptions{Root: root, PidFile: "/run/sshd.pid", Mode: m, Log: zerolog.Nop()}
	}
	s, err := FindSSHD(opts(ReloadAuto))
	if err != nil || s.Mode != ReloadNone {
		t.Fatalf("mode %v, %v", s.Mode, err)
	}
	// A pid file naming a live process that is not sshd's listener is an
	// error: nothing is run with its binary.
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run/sshd.pid"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = FindSSHD(opts(ReloadSignal)); err == nil || !strings.Contains(err.Error(), "names process 1, which is not an sshd listener") {
		t.Fatalf("err = %v", err)
	}
	// A pid file naming no process: no sshd runs.
	if err := os.WriteFile(filepath.Join(dir, "run/sshd.pid"), []byte("999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err = FindSSHD(opts(ReloadSignal)); err != nil || s.PID() != 0 {
		t.Fatalf("pid %d, %v", s.PID(), err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run/sshd.pid"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = FindSSHD(opts(ReloadSignal)); err == nil || !strings.Contains(err.Error(), `"x" is not a pid`) {
		t.Fatalf("err = %v", err)
	}
	// A pid file others can write is refused.
	if err := os.Chmod(filepath.Join(dir, "run"), 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err = FindSSHD(opts(ReloadSignal)); err == nil || !strings.Contains(err.Error(), "cannot be trusted") {
		t.Fatalf("err = %v", err)
	}
	var m ReloadMode
	if err = m.UnmarshalText([]byte("launchd")); err == nil {
		t.Fatal("unknown mode accepted")
	}
	if err = m.UnmarshalText([]byte("signal")); err != nil || m != ReloadSignal {
		t.Fatalf("signal: %v %v", m, err)
	}
}

func TestDaemonArgs(t *testing.T) {
	got := strings.Join(daemonArgs([]string{"-D", "-E", "/run/log", "-f", "/etc/ssh/x", "-o", "Port=2", "-E/x", "-e"}), " ")
	if got != "-f /etc/ssh/x -o Port=2" {
		t.Fatalf("got %q", got)
	}
}

// TestDaemonViewCommand: a question to a running daemon that needs
// nothing mounted (sshd -t or -T on its files as they stand) starts sshd
// itself in the daemon's mount namespace (startIn); anything to bind,
// copy, chroot into or make goes through the view helper in a private
// copy of that namespace.
func TestDaemonViewCommand(t *testing.T) {
	argv := []string{"/proc/self/fd/6", "-f", "/etc/ssh/sshd_config", "-T"}
	// Without the daemon's namespace held open, nothing is asked (never
	// in the agent's own namespace instead).
	s := &SSHD{SSHDOptions: SSHDOptions{Tools: DefaultTools()}}
	if cmd, in, err := s.viewCmd(context.Background(), &view{daemon: true, spec: viewSpec{Argv: argv, Scratch: "/run"}}); err == nil {
		t.Fatalf("no namespace held: %q started in %v", cmd.Args, in)
	}
	ns, err := os.Open("/proc/self/ns/mnt") // stands for the daemon's
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	s.mntNS = ns
	cmd, in, err := s.viewCmd(context.Background(), &view{daemon: true, spec: viewSpec{Argv: argv, Scratch: "/run"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cmd.Args, argv) || cmd.Path != argv[0] || in != ns {
		t.Fatalf("nothing to mount: got %q (%s) started in %v, want %q started in the daemon's namespace", cmd.Args, cmd.Path, in, argv)
	}
	for name, spec := range map[string]viewSpec{
		"a staged file":        {Binds: []viewBind{{FD: 7, Target: "/etc/ssh/sshd_config"}}},
		"an ephemeral key":     {Files: []viewFile{{FD: 7, Name: hostKeyName}}},
		"a privsep directory":  {PrivsepDir: "/run/sshd"},
		"a chroot":             {Chroot: "/srv/image"},
		"a probe user's group": {Account: &viewAccount{User: "alice", Groups: []string{"admins"}}},
	} {
		spec.Argv = argv
		cmd, in, err := s.viewCmd(context.Background(), &view{daemon: true, spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		if len(cmd.Args) < 2 || cmd.Args[len(cmd.Args)-2] != viewHelperArg || !slices.Contains(cmd.Args, "private") || in != nil {
			t.Errorf("%s: not through nsenter and the helper in a private namespace: %q, started in %v", name, cmd.Args, in)
		}
	}
}

// TestSocketActivation: with ssh.socket active (Ubuntu 22.10 and later),
// a change of Port or ListenAddress needs daemon-reload and a restart of
// the socket; another change a reload of the service when it runs, and
// nothing when it does not (the next connection starts it). Each says so.
func TestSocketActivation(t *testing.T) {
	for _, tt := range []struct {
		name    string
		listen  bool
		service string
		outcome ReloadOutcome
		calls   string // after the unit lookup
		did     string
	}{
		{"Port changed", true, "active", Reloaded, "daemon-reload\nrestart ssh.socket\n", "daemon-reload and a restart of ssh.socket (Port or ListenAddress changed)"},
		{"other change, service running", false, "active", Reloaded, "is-active ssh.service\nreload ssh.service\nis-active ssh.service\n", "systemctl reload ssh.service"},
		{"other change, service idle", false, "inactive", NotRunning, "is-active ssh.service\n", "ssh.service is not running: the next connection through ssh.socket starts it with the new configuration"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "calls")
			script := `#!/bin/sh
echo "$*" >> ` + log + `
case "$*" in
  "show -p LoadState --value ssh.service") echo loaded ;;
  "is-active ssh.socket") echo active ;;
  "is-active ssh.service") echo ` + tt.service + ` ;;
esac
`
			if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			tools := DefaultTools()
			tools.Systemctl = filepath.Join(dir, "systemctl")
			root, _ := files.NewRoot(t.TempDir())
			s, err := FindSSHD(SSHDOptions{Root: root, PidFile: "/run/sshd.pid", Mode: ReloadSystemd, Tools: tools, ListenChanged: tt.listen, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			outcome, err := s.Reload(context.Background())
			if err != nil || outcome != tt.outcome || s.Did != tt.did {
				t.Fatalf("%v %v %q", outcome, err, s.Did)
			}
			if s.Socket != "ssh.socket" {
				t.Fatalf("socket %q", s.Socket)
			}
			b, _ := os.ReadFile(log)
			if got := strings.TrimPrefix(string(b), "show -p LoadState --value ssh.service\nis-active ssh.socket\n"); got != tt.calls {
				t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, tt.calls)
			}
		})
	}
}

// TestStartInMountNamespace: a command started in another mount namespace
// reads that namespace's files, with the agent's /dev/null as its
// standard input (the namespace's is a FIFO here, whose open would never
// return), and the agent's own threads stay in their namespace.
func TestStartInMountNamespace(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	holder := exec.Command("/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
		`mount -t tmpfs t "$1" && echo inside > "$1/marker" && mount -t tmpfs d /dev && mkfifo /dev/null && echo ready && exec sleep 60`, "sh", dir)
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		holder.Process.Kill()
		holder.Wait()
	})
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("the namespace's holder said %q, %v", line, err)
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := outputIn(ns, command(ctx, "/bin/cat", marker, "/proc/self/fd/0"))
		cancel()
		if out != "inside\n" || err != nil {
			t.Fatalf("run %d in the namespace: %q, %v; want the namespace's marker and an empty standard input", i, out, err)
		}
		if _, err := os.Stat(marker); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("after run %d the agent sees the namespace's marker: %v", i, err)
		}
	}
	// Without a namespace the command runs in the agent's.
	if out, err := outputIn(nil, command(context.Background(), "/bin/cat", marker)); err == nil {
		t.Fatalf("in the agent's namespace: %q", out)
	}
}

// TestStageOfNothing: sshd asked about the files as they stand (every
// audit's question) stages nothing, so no directory is made and removed
// on the host for it.
func TestStageOfNothing(t *testing.T) {
	st, err := newStage(nil, nil, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if st.dir != "" || len(st.fds) != 0 || len(st.binds) != 0 {
		t.Fatalf("a stage of no change made %q, %d descriptors, %d binds", st.dir, len(st.fds), len(st.binds))
	}
}
