package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// testSSHD is a real sshd serving a test tree on 127.0.0.1.
type testSSHD struct {
	t    *testing.T
	tree string // the --root of the tree
	port int
}

// makeHostKey makes an ed25519 host key (and its .pub) at path.
func makeHostKey(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
}

// needTools fails (CI=true) or skips when a tool the test needs is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			opensshtest.Unavailable(t, "%s is missing (apt-get install -y openssh-server util-linux)", tool)
		}
	}
	if os.Geteuid() != 0 {
		opensshtest.Unavailable(t, "needs root: these tests start sshd in a private mount namespace")
	}
}

// startSSHD writes a tree with files (relative paths) plus a host key and
// a main sshd_config that includes sshd_config.d/*.conf, listens on
// 127.0.0.1 and a free port, and starts sshd -D on it in a private mount
// namespace where the tree's etc/ssh and run are /etc/ssh and /run. The
// daemon is stopped by its own pid when the test ends.
func startSSHD(t *testing.T, extra map[string]string) *testSSHD {
	needTools(t, "/usr/sbin/sshd", "ssh-keygen", "unshare", "nsenter")
	tree := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	files := map[string]string{
		"etc/ssh/sshd_config": fmt.Sprintf("Include /etc/ssh/sshd_config.d/*.conf\nListenAddress 127.0.0.1:%d\nHostKey /etc/ssh/ssh_host_ed25519_key\nPidFile /run/sshd.pid\nUsePAM no\n", port),
	}
	for p, c := range extra {
		files[p] = c
	}
	for p, c := range files {
		full := filepath.Join(tree, p)
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, []byte(c), 0o644))
	}
	must(t, os.MkdirAll(filepath.Join(tree, "etc/ssh/sshd_config.d"), 0o755))
	must(t, os.MkdirAll(filepath.Join(tree, "run/sshd"), 0o755)) // privilege separation
	makeHostKey(t, filepath.Join(tree, "etc/ssh/ssh_host_ed25519_key"))
	s := &testSSHD{t: t, tree: tree, port: port}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount --bind "$1/etc/ssh" /etc/ssh && mount --bind "$1/run" /run && exec /usr/sbin/sshd -D -E /run/sshd.log -f /etc/ssh/sshd_config`, "sh", tree)
	must(t, cmd.Start())
	started := cmd.Process.Pid
	t.Cleanup(func() {
		// Stop what this test started: the daemon it ran, and the one the
		// agent may have started again (named in the pid file).
		if pid := s.pidFromFile(); pid > 0 && pid != started {
			syscall.Kill(pid, syscall.SIGTERM)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	s.waitBanner()
	if got := s.pidFromFile(); got != started {
		t.Fatalf("pid file says %d, started %d", got, started)
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (s *testSSHD) pidFromFile() int {
	b, err := os.ReadFile(filepath.Join(s.tree, "run/sshd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// banner connects and returns the server's identification line.
func (s *testSSHD) banner() (string, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// waitBanner waits until sshd accepts a connection and greets.
func (s *testSSHD) waitBanner() string {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := s.banner()
		if err == nil && strings.HasPrefix(b, "SSH-2.0-") {
			return b
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sshd on port %d does not greet: %v\nlog:\n%s", s.port, err, s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *testSSHD) log() string {
	b, _ := os.ReadFile(filepath.Join(s.tree, "run/sshd.log"))
	return string(b)
}

// dumpT runs sshd -T in the running daemon's mount namespace.
func (s *testSSHD) dumpT() string {
	s.t.Helper()
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(s.pidFromFile()), "-m", "/usr/sbin/sshd", "-T", "-f", "/etc/ssh/sshd_config").CombinedOutput()
	if err != nil {
		s.t.Fatalf("sshd -T: %v\n%s", err, out)
	}
	return string(out)
}

// stamps returns every file under the tree's etc/ssh with its inode and
// modification time.
func (s *testSSHD) stamps() map[string]string {
	m := map[string]string{}
	filepath.Walk(filepath.Join(s.tree, "etc/ssh"), func(p string, info os.FileInfo, err error) error {
		if err == nil {
			m[p] = fmt.Sprintf("%d %s", info.Sys().(*syscall.Stat_t).Ino, info.ModTime().Format(time.RFC3339Nano))
		}
		return err
	})
	return m
}

// snapshot returns every file under the tree's etc/ssh with its bytes.
func (s *testSSHD) snapshot() map[string]string {
	m := map[string]string{}
	filepath.Walk(filepath.Join(s.tree, "etc/ssh"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			m[p] = string(b)
		}
		return err
	})
	return m
}

func (s *testSSHD) agent(desired string, args ...string) (code int, stdout, stderr string) {
	return s.agentWith(desired, append([]string{"--reload", "signal"}, args...)...)
}

// agentWith runs the agent on the tree with args and a desired state.
func (s *testSSHD) agentWith(desired string, args ...string) (code int, stdout, stderr string) {
	d := filepath.Join(s.t.TempDir(), "desired.yaml")
	must(s.t, os.WriteFile(d, []byte(desired), 0o644))
	var out, errb bytes.Buffer
	code = Run(context.Background(), append(append([]string{"--root", s.tree}, args...), d), &out, &errb)
	checkReportArgs(s.t, args, out.String())
	return code, out.String(), errb.String()
}

const keepaliveDesired = `version: 1
sshd:
  settings:
    ClientAliveInterval: 5m
    ClientAliveCountMax: 2
  match:
    - criteria: User backup
      settings: {ClientAliveInterval: 60}
`

// TestApplyReloadsSSHD applies changes with --reload signal and proves the
// daemon re-read them: its log says so, it still accepts connections, and
// sshd -T in its namespace shows the new values.
func TestApplyReloadsSSHD(t *testing.T) {
	s := startSSHD(t, map[string]string{"etc/ssh/sshd_config.d/50-image.conf": "ClientAliveInterval 120\n"})
	pid := s.pidFromFile()
	code, stdout, stderr := s.agent(keepaliveDesired)
	if code != 0 {
		t.Fatalf("agent exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "ok=0 changed=3 conflict=0") {
		t.Errorf("report:\n%s", stdout)
	}
	if !strings.Contains(s.log(), "Received SIGHUP") {
		t.Errorf("sshd log has no SIGHUP:\n%s", s.log())
	}
	if b := s.waitBanner(); !strings.HasPrefix(b, "SSH-2.0-OpenSSH") {
		t.Errorf("banner %q", b)
	}
	if got := s.pidFromFile(); got != pid {
		t.Errorf("sshd pid %d after the reload, was %d (a SIGHUP keeps it)", got, pid)
	}
	dump := s.dumpT()
	for _, want := range []string{"clientaliveinterval 300", "clientalivecountmax 2"} {
		if !strings.Contains(dump, want+"\n") {
			t.Errorf("sshd -T lacks %q", want)
		}
	}
	// Nothing left pending; a second run changes nothing and sends no signal.
	before := strings.Count(s.log(), "Received SIGHUP")
	code, stdout, _ = s.agent(keepaliveDesired, "--detailed-exitcode")
	if code != 0 || !strings.Contains(stdout, "ok=3 changed=0 conflict=0") {
		t.Errorf("second run exit %d:\n%s", code, stdout)
	}
	if after := strings.Count(s.log(), "Received SIGHUP"); after != before {
		t.Errorf("second run sent SIGHUP (%d -> %d)", before, after)
	}
}

// TestApplyInvalidConfigIsNeverReloaded breaks the configuration in a line
// the agent does not manage (a second Subsystem sftp, which sshd 9.2
// rejects but the model has no reason to): validation by the daemon's own
// sshd -t fails, the daemon never receives SIGHUP, every file is restored
// byte for byte, and sshd's message is shown. Validation runs before any
// write, so not even an mtime changes.
func TestApplyInvalidConfigIsNeverReloaded(t *testing.T) {
	s := startSSHD(t, map[string]string{
		"etc/ssh/sshd_config.d/50-image.conf": "ClientAliveInterval 120\r\nSubsystem sftp /usr/lib/openssh/sftp-server\r\n",
	})
	// Broken by hand after the daemon started.
	must(t, os.WriteFile(filepath.Join(s.tree, "etc/ssh/sshd_config.d/60-local.conf"), []byte("# local\nSubsystem sftp internal-sftp\n"), 0o640))
	before := s.snapshot()
	stamped := s.stamps()
	pid := s.pidFromFile()
	code, stdout, stderr := s.agent(keepaliveDesired)
	if code != 1 {
		t.Fatalf("agent exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "sshd rejects the new configuration, so nothing was written and sshd was not reloaded") ||
		!strings.Contains(stderr, "Subsystem 'sftp' already defined") {
		t.Errorf("stderr does not show sshd's message:\n%s", stderr)
	}
	if strings.Contains(s.log(), "Received SIGHUP") {
		t.Errorf("sshd received SIGHUP:\n%s", s.log())
	}
	after := s.snapshot()
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s not restored byte for byte", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s left behind", p)
		}
	}
	if diff := cmp.Diff(stamped, s.stamps()); diff != "" {
		t.Errorf("files touched (inode, mtime) (-before +after):\n%s", diff)
	}
	st, err := os.Stat(filepath.Join(s.tree, "etc/ssh/sshd_config.d/60-local.conf"))
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("60-local.conf mode %v, %v", st.Mode(), err)
	}
	if got := s.pidFromFile(); got != pid || !strings.HasPrefix(s.waitBanner(), "SSH-2.0-") {
		t.Errorf("daemon changed or stopped serving: pid %d -> %d", pid, got)
	}
	if _, err := os.Stat(filepath.Join(s.tree, "var/lib/sshconverge/state.json")); err == nil {
		if b, _ := os.ReadFile(filepath.Join(s.tree, "var/lib/sshconverge/state.json")); strings.Contains(string(b), `"reload_pending":true`) {
			t.Errorf("a reload is recorded as pending after the rollback: %s", b)
		}
	}
}

// TestApplyDaemonDiesAfterReload kills the daemon right after it received
// the SIGHUP: the agent notices, restores every file and starts sshd again
// with its original command line, which then serves the old configuration.
func TestApplyDaemonDiesAfterReload(t *testing.T) {
	s := startSSHD(t, map[string]string{"etc/ssh/sshd_config.d/50-image.conf": "ClientAliveInterval 120\n"})
	before := s.snapshot()
	pid := s.pidFromFile()
	killed := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(s.log(), "Received SIGHUP") {
				killed <- syscall.Kill(pid, syscall.SIGKILL) == nil
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		killed <- false
	}()
	code, stdout, stderr := s.agent(keepaliveDesired)
	if !<-killed {
		t.Fatal("the test could not kill sshd after its SIGHUP")
	}
	if code != 1 {
		t.Fatalf("agent exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "reload failed, every file was restored") {
		t.Errorf("stderr:\n%s", stderr)
	}
	after := s.snapshot()
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s not restored byte for byte", p)
		}
	}
	if len(after) != len(before) {
		t.Errorf("files left behind: %d files, had %d", len(after), len(before))
	}
	// The agent waits until the new daemon listens; its pid file follows.
	newPID := s.pidFromFile()
	for deadline := time.Now().Add(5 * time.Second); (newPID == pid || newPID == 0) && time.Now().Before(deadline); newPID = s.pidFromFile() {
		time.Sleep(10 * time.Millisecond)
	}
	if newPID == pid || newPID == 0 {
		t.Fatalf("sshd was not started again (pid file %d, killed %d)\n%s\nlog:\n%s", newPID, pid, stderr, s.log())
	}
	if b := s.waitBanner(); !strings.HasPrefix(b, "SSH-2.0-") {
		t.Errorf("banner %q", b)
	}
	if dump := s.dumpT(); !strings.Contains(dump, "clientaliveinterval 120\n") {
		t.Errorf("restarted sshd does not serve the restored configuration")
	}
}

// TestPendingReloadIsDone: a run that died between writing and reloading
// left "reload pending" in the state directory. --check reports it (exit
// 2); the next run reloads sshd although nothing else changes, and clears
// it.
func TestPendingReloadIsDone(t *testing.T) {
	s := startSSHD(t, map[string]string{
		"etc/ssh/sshd_config.d/50-image.conf": "ClientAliveInterval 120\n",
		"var/lib/sshconverge/state.json":      `{"reload_pending":true,"since":"2026-11-24T10:00:00Z"}` + "\n",
	})
	synced := "version: 1\nsshd:\n  settings: {ClientAliveInterval: 2m}\n"
	code, stdout, _ := s.agent(synced, "--check")
	if code != 2 || !strings.Contains(stdout, "reload pending") {
		t.Fatalf("--check exit %d:\n%s", code, stdout)
	}
	if strings.Contains(s.log(), "Received SIGHUP") {
		t.Fatal("--check reloaded sshd")
	}
	code, stdout, stderr := s.agent(synced)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(s.log(), "Received SIGHUP") {
		t.Errorf("the pending reload was not done:\n%s", s.log())
	}
	s.waitBanner()
	if code, stdout, _ := s.agent(synced, "--check"); code != 0 {
		t.Errorf("still pending after the reload: exit %d\n%s", code, stdout)
	}
}
