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
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/sshconverge/agent/pkg/files"
)

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

// TestDaemonViewNeedsNamespace: without the running daemon's mount
// namespace held open, nothing is asked, never the agent's own namespace
// in its place.
func TestDaemonViewNeedsNamespace(t *testing.T) {
	s := &SSHD{SSHDOptions: SSHDOptions{Tools: DefaultTools()}}
	if cmd, _, err := s.viewCmd(context.Background(), &view{daemon: true, spec: viewSpec{Argv: []string{"/bin/true"}, Scratch: "/run"}}); err == nil {
		t.Fatalf("no namespace held: %q would be started", cmd.Args)
	}
}

// TestViewStart: a view binds copies of files the agent holds open (a
// staged file, a staged directory) over their targets and writes an
// ephemeral key into its scratch file system, in a private copy of the
// daemon's mount namespace or of the agent's, and the command started
// there reads them, with the agent's /dev/null as its standard input (the
// daemon's is a FIFO here, whose open would never return). The namespace
// copied is left as it was, the agent's mounts are unchanged, and the
// same view can be started again (a second try reads the files afresh).
func TestViewStart(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	daemonNS := holdNamespace(t, dir, `echo daemon > "$1/target" && mkdir "$1/d"`)
	if err := os.WriteFile(target, []byte("agent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	staged := t.TempDir()
	if err := os.WriteFile(filepath.Join(staged, "file"), []byte("staged\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(staged, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staged, "dir", "50-x.conf"), []byte("drop-in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	open := func(p string) *os.File {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	file, stagedDir := open(filepath.Join(staged, "file")), open(filepath.Join(staged, "dir"))
	mounts := func() string {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := mounts()
	scratch := t.TempDir()
	for _, ns := range []*os.File{daemonNS, nil} {
		spec := viewSpec{
			Scratch: scratch,
			Binds:   []viewBind{{File: file, Target: target}, {File: stagedDir, Target: filepath.Join(dir, "d")}},
			Files:   []viewFile{{Data: []byte("key\n"), Name: "key"}},
			Argv:    []string{"/bin/cat", target, filepath.Join(dir, "d", "50-x.conf"), filepath.Join(scratch, "key"), "/proc/self/fd/0"},
		}
		for try := range 2 {
			cmd := command(context.Background(), spec.Argv[0], spec.Argv[1:]...)
			out, err := outputFrom(cmd, func() error { return spec.start(ns, cmd) })
			if want := "staged\ndrop-in\nkey\n"; out != want || err != nil {
				t.Fatalf("namespace %v, try %d: %q, %v; want %q", ns, try, out, err, want)
			}
		}
	}
	if out, err := outputIn(daemonNS, command(context.Background(), "/bin/cat", target)); out != "daemon\n" || err != nil {
		t.Errorf("the daemon's namespace now reads %q, %v; want it unchanged", out, err)
	}
	if b, err := os.ReadFile(target); string(b) != "agent\n" {
		t.Errorf("the agent now reads %q, %v; want it unchanged", b, err)
	}
	if after := mounts(); after != before {
		t.Errorf("the agent's mounts changed:\n%s\nwas:\n%s", after, before)
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

// holdNamespace makes a private mount namespace, held by a process until
// the test ends, with a tmpfs on dir in which script (a shell script; $1
// is dir) makes files, and a FIFO as /dev/null, whose open never returns;
// it returns the namespace, opened.
func holdNamespace(t *testing.T, dir, script string) *os.File {
	t.Helper()
	holder := exec.Command("/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
		`mount -t tmpfs t "$1" && `+script+` && mount -t tmpfs d /dev && mkfifo /dev/null && echo ready && exec sleep 60`, "sh", dir)
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
	t.Cleanup(func() { ns.Close() })
	return ns
}

// TestStartInMountNamespace: a command started in another mount namespace
// reads that namespace's files, with the agent's /dev/null as its
// standard input (the namespace's is a FIFO here, whose open would never
// return), and the agent's own threads stay in their namespace.
func TestStartInMountNamespace(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	ns := holdNamespace(t, dir, `echo inside > "$1/marker"`)
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
	st, err := newStage(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if st.dir != "" || len(st.binds) != 0 {
		t.Fatalf("a stage of no change made %q and %d binds (each an open descriptor)", st.dir, len(st.binds))
	}
}

// TestLinkOut: of the links under a directory bound over /etc/ssh, those
// that lead out of it (absolute elsewhere, relative climbing out, at any
// depth) are found, the first in lexical order named; links that stay in
// are not.
func TestLinkOut(t *testing.T) {
	for _, tt := range []struct {
		name   string
		links  map[string]string // link → target
		link   string
		target string
	}{
		{"none", nil, "", ""},
		{"inside", map[string]string{"a": "sshd_config", "sshd_config.d/b": "../moduli", "c": "/etc/ssh/moduli", "d": "/etc/ssh"}, "", ""},
		{"absolute", map[string]string{"sshd_config": "/srv/sshd_config"}, "sshd_config", "/srv/sshd_config"},
		{"climbing", map[string]string{"sshd_config.d/x.conf": "../../x.conf"}, "sshd_config.d/x.conf", "../../x.conf"},
		{"prefix", map[string]string{"k": "/etc/sshd/k"}, "k", "/etc/sshd/k"},
		{"first of several", map[string]string{"sshd_config.d/z": "/z", "sshd_config.d/a": "/a", "zz": "/zz", "sshd_config.d/n/m": "/m"}, "sshd_config.d/a", "/a"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "sshd_config.d", "n"), 0o755); err != nil {
				t.Fatal(err)
			}
			for l, target := range tt.links {
				if err := os.Symlink(target, filepath.Join(dir, l)); err != nil {
					t.Fatal(err)
				}
			}
			link, target, err := linkOut(dir)
			if link != tt.link || target != tt.target || err != nil {
				t.Fatalf("linkOut = %q, %q, %v; want %q, %q", link, target, err, tt.link, tt.target)
			}
		})
	}
}

// TestLinkOutMany: in a directory of thousands of drop-ins, which takes
// several reads of its entries, the link that leads out is found
// wherever the kernel lists it, and of two the first in lexical order is
// named; a link that stays in is not.
func TestLinkOutMany(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "sshd_config.d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%05d-drop-in-with-a-long-name.conf", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for l, target := range map[string]string{"02999-x.conf": "/srv/b", "01500-x.conf": "/srv/a", "00000-x.conf": "00001-drop-in-with-a-long-name.conf"} {
		if err := os.Symlink(target, filepath.Join(d, l)); err != nil {
			t.Fatal(err)
		}
	}
	link, target, err := linkOut(dir)
	if link != "sshd_config.d/01500-x.conf" || target != "/srv/a" || err != nil {
		t.Fatalf("linkOut = %q, %q, %v; want sshd_config.d/01500-x.conf, /srv/a", link, target, err)
	}
}

// TestDirentTypeUnknown: an entry whose file system records no type
// (DT_UNKNOWN) is typed by fstatat, a link as a link and not as what it
// points to.
func TestDirentTypeUnknown(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{"d", ""}, {"ld", "d"}, {"lf", "f"}} {
		var err error
		if l[1] == "" {
			err = os.Mkdir(filepath.Join(dir, l[0]), 0o755)
		} else {
			err = os.Symlink(l[1], filepath.Join(dir, l[0]))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(dir, "p"), 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for name, want := range map[string]fs.FileMode{"f": 0, "d": fs.ModeDir, "ld": fs.ModeSymlink, "lf": fs.ModeSymlink, "p": fs.ModeIrregular} {
		if got, err := direntType(fd, []byte(name), unix.DT_UNKNOWN); got != want || err != nil {
			t.Errorf("direntType(%s, DT_UNKNOWN) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := direntType(fd, []byte("gone"), unix.DT_UNKNOWN); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("direntType of a missing entry: %v, want ErrNotExist", err)
	}
}

// TestViewAccountFIFO: a view that gives a probe user a group reads the
// namespace's /etc/passwd and /etc/group in the agent itself; where they
// are FIFOs (a hostile image), whose open for reading never returns, the
// view is refused, naming the file, instead of hanging the agent.
func TestViewAccountFIFO(t *testing.T) {
	dir := t.TempDir()
	ns := holdNamespace(t, dir, `mount -t tmpfs e /etc && mkfifo /etc/passwd /etc/group`)
	spec := viewSpec{Scratch: dir, Account: &viewAccount{User: "alice", Groups: []string{"admins"}}, Argv: []string{"/bin/true"}}
	errc := make(chan error, 1)
	go func() { errc <- spec.start(ns, command(context.Background(), "/bin/true")) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "/etc/passwd is not a regular file") {
			t.Fatalf("the view was made: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("making the view hangs on a FIFO /etc/passwd")
	}
}
