package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort returns a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeFiles writes files (relative paths) under dir.
func writeFiles(t *testing.T, dir string, fs map[string]string) {
	t.Helper()
	for p, c := range fs {
		full := filepath.Join(dir, p)
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, []byte(c), 0o644))
	}
}

// runDaemon starts /usr/sbin/sshd -D with args in a private mount
// namespace where each bind (host directory, mount point) is mounted
// first, logging to logFile; the test stops it by its pid.
func runDaemon(t *testing.T, logFile string, binds [][2]string, args ...string) int {
	t.Helper()
	script := ""
	var shArgs []string
	for i, b := range binds {
		script += fmt.Sprintf(`mount --bind "$%d" "$%d" && `, 2*i+1, 2*i+2)
		shArgs = append(shArgs, b[0], b[1])
	}
	script += fmt.Sprintf(`shift %d && exec "$@"`, len(shArgs))
	argv := append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh"}, shArgs...)
	argv = append(argv, append([]string{"/usr/sbin/sshd", "-D", "-E", logFile}, args...)...)
	cmd := exec.Command("unshare", argv...)
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// TestDaemonReadsOtherFiles is issue 8's first defect: an sshd started as
// `sshd -f ROOT/etc/ssh/sshd_config -o ClientAliveCountMax=7`, whose
// configuration includes the absolute /etc/ssh/sshd_config.d/*.conf (the
// host's, not ROOT's), with a pid file the agent does not know. The agent
// finds it by its configuration file, reloads it, then asks it: three of
// the desired values are not what it uses, and the run says so (exit 1),
// naming the -o option and the other files; --check reports drift (2).
func TestDaemonReadsOtherFiles(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "ssh-keygen", "unshare", "nsenter")
	root, other := t.TempDir(), t.TempDir()
	port := freePort(t)
	hostKey := filepath.Join(root, "etc/ssh/ssh_host_ed25519_key")
	writeFiles(t, root, map[string]string{
		"etc/ssh/sshd_config": fmt.Sprintf("Include /etc/ssh/sshd_config.d/*.conf\nListenAddress 127.0.0.1:%d\nHostKey %s\nPidFile %s\nUsePAM no\n",
			port, hostKey, filepath.Join(root, "run/elsewhere.pid")),
		"etc/ssh/sshd_config.d/50-image.conf": "ClientAliveInterval 120\n",
	})
	// What the daemon sees as /etc/ssh: another directory.
	writeFiles(t, other, map[string]string{"sshd_config.d/10-host.conf": "ClientAliveInterval 45\n"})
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	log := filepath.Join(root, "sshd.log")
	pid := runDaemon(t, log, [][2]string{{other, "/etc/ssh"}}, "-f", filepath.Join(root, "etc/ssh/sshd_config"), "-o", "ClientAliveCountMax=7")
	s := &testSSHD{t: t, tree: root, port: port}
	s.waitBanner()

	desired := "version: 1\nsshd:\n  settings: {ClientAliveInterval: 300, ClientAliveCountMax: 2, MaxAuthTries: 4}\n"
	code, stdout, stderr := s.agentWith(desired, "--reload", "auto")
	if code != exitError {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		fmt.Sprintf(`"pid":%d`, pid),
		"the running sshd does not use 3 desired value(s)", // MaxAuthTries went into the agent's drop-in, which it does not read
		fmt.Sprintf("global MaxAuthTries: the running sshd (pid %d) uses 6: it reads other files", pid),
		fmt.Sprintf("global ClientAliveInterval: the running sshd (pid %d) uses 45: it reads other files than the agent edited", pid),
		fmt.Sprintf("global ClientAliveCountMax: the running sshd (pid %d) uses 7: its command line overrides the files with -o ClientAliveCountMax=7", pid),
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if b, _ := os.ReadFile(log); !strings.Contains(string(b), "Received SIGHUP") {
		t.Errorf("the daemon found by its configuration file was not reloaded:\n%s", b)
	}
	code, stdout, _ = s.agentWith(desired, "--check")
	if code != exitDrift || !strings.Contains(stdout, "ClientAliveCountMax") {
		t.Fatalf("--check exit %d, want 2\n%s", code, stdout)
	}
}

// TestReloadOutcomes is issue 8's fourth defect: sshd writes a pid file
// other than the one its configuration names. Every reload outcome is
// said, and a reload that did not happen stays recorded.
func TestReloadOutcomes(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "ssh-keygen", "unshare", "nsenter")
	tree := t.TempDir()
	port := freePort(t)
	writeFiles(t, tree, map[string]string{
		"etc/ssh/sshd_config":                 fmt.Sprintf("Include /etc/ssh/sshd_config.d/*.conf\nListenAddress 127.0.0.1:%d\nHostKey /etc/ssh/ssh_host_ed25519_key\nPidFile /run/sshd.pid\nUsePAM no\n", port),
		"etc/ssh/sshd_config.d/50-image.conf": "ClientAliveInterval 120\n",
	})
	must(t, os.MkdirAll(filepath.Join(tree, "run/sshd"), 0o755))
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(tree, "etc/ssh/ssh_host_ed25519_key")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	log := filepath.Join(tree, "run/sshd.log")
	pid := runDaemon(t, "/run/sshd.log", [][2]string{{filepath.Join(tree, "etc/ssh"), "/etc/ssh"}, {filepath.Join(tree, "run"), "/run"}},
		"-f", "/etc/ssh/sshd_config", "-o", "PidFile=/run/other.pid")
	s := &testSSHD{t: t, tree: tree, port: port}
	s.waitBanner()
	sighups := func() int { b, _ := os.ReadFile(log); return strings.Count(string(b), "Received SIGHUP") }
	desired := func(v int) string {
		return fmt.Sprintf("version: 1\nsshd:\n  settings: {ClientAliveInterval: %d}\n", v)
	}

	// auto: found by its configuration file, reloaded, verified.
	code, stdout, stderr := s.agentWith(desired(300), "--reload", "auto", "--format", "json")
	if code != exitOK || sighups() != 1 || !strings.Contains(stderr, fmt.Sprintf(`"pid":%d,`, pid)) || !strings.Contains(stdout, `"verified": "daemon"`) {
		t.Fatalf("auto: exit %d, %d SIGHUP\n%s\n%s", code, sighups(), stdout, stderr)
	}
	// none, with sshd running: said, recorded, reported by --check.
	code, _, stderr = s.agentWith(desired(301), "--reload", "none")
	if code != exitOK || sighups() != 1 || !strings.Contains(stderr, "sshd runs and was not reloaded (--reload none)") {
		t.Fatalf("none: exit %d, %d SIGHUP\n%s", code, sighups(), stderr)
	}
	if code, stdout, _ := s.agentWith(desired(301), "--check"); code != exitDrift || !strings.Contains(stdout, "reload pending") {
		t.Fatalf("--check after none: exit %d\n%s", code, stdout)
	}
	// The daemon stops. An explicit signal reload has nothing to signal:
	// an error, and the record stays.
	must(t, syscall.Kill(pid, syscall.SIGTERM))
	for alive("/proc", pid) {
		time.Sleep(10 * time.Millisecond)
	}
	code, _, stderr = s.agentWith(desired(301), "--reload", "signal")
	if code != exitError || !strings.Contains(stderr, "no running sshd was found to reload") {
		t.Fatalf("signal without sshd: exit %d\n%s", code, stderr)
	}
	if code, stdout, _ := s.agentWith(desired(301), "--check"); code != exitDrift || !strings.Contains(stdout, "reload pending") {
		t.Fatalf("--check after a failed explicit reload: exit %d\n%s", code, stdout)
	}
	// auto without sshd: the change takes effect when sshd starts, and
	// nothing is recorded for it.
	must(t, os.Remove(filepath.Join(tree, "var/lib/sshconverge/state.json")))
	code, _, stderr = s.agentWith(desired(302), "--reload", "auto")
	if code != exitOK || !strings.Contains(stderr, "no sshd runs: the new configuration takes effect when sshd starts") {
		t.Fatalf("auto without sshd: exit %d\n%s", code, stderr)
	}
	if code, stdout, _ := s.agentWith(desired(302), "--check"); code != exitOK {
		t.Fatalf("--check: exit %d\n%s", code, stdout)
	}
}

// alive reports whether pid runs (not a zombie).
func alive(proc string, pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", proc, pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}
