package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
// nothing mounted (sshd -t or -T on its files as they stand) runs sshd in
// the daemon's mount namespace through nsenter alone; anything to bind,
// copy, chroot into or make goes through the view helper in a private
// copy of that namespace.
func TestDaemonViewCommand(t *testing.T) {
	s := &SSHD{SSHDOptions: SSHDOptions{Tools: DefaultTools()}}
	argv := []string{"/proc/self/fd/6", "-f", "/etc/ssh/sshd_config", "-T"}
	cmd, err := s.viewCmd(context.Background(), &view{daemon: true, spec: viewSpec{Argv: argv, Scratch: "/run"}})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{s.Tools.Nsenter, "--mount=/proc/self/fd/3", "--"}, argv...)
	if !slices.Equal(cmd.Args, want) {
		t.Fatalf("nothing to mount: got %q, want %q", cmd.Args, want)
	}
	for name, spec := range map[string]viewSpec{
		"a staged file":        {Binds: []viewBind{{FD: 7, Target: "/etc/ssh/sshd_config"}}},
		"an ephemeral key":     {Files: []viewFile{{FD: 7, Name: hostKeyName}}},
		"a privsep directory":  {PrivsepDir: "/run/sshd"},
		"a chroot":             {Chroot: "/srv/image"},
		"a probe user's group": {Account: &viewAccount{User: "alice", Groups: []string{"admins"}}},
	} {
		spec.Argv = argv
		cmd, err := s.viewCmd(context.Background(), &view{daemon: true, spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		if len(cmd.Args) < 2 || cmd.Args[len(cmd.Args)-2] != viewHelperArg || !slices.Contains(cmd.Args, "private") {
			t.Errorf("%s: not through the helper in a private namespace: %q", name, cmd.Args)
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
