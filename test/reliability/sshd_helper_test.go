package reliability_test

import (
	"bufio"
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
)

// testSSHD is a real sshd serving a copy of a tree on 127.0.0.1, in a
// private mount namespace where the tree's etc/ssh and run are /etc/ssh
// and /run.
type testSSHD struct {
	t       *testing.T
	tree    string
	port    int
	started int // the pid the test started
}

// startSSHD copies template into a new tree, adds a drop-in
// 00-listen.conf that makes it listen on 127.0.0.1 and a free port, and
// starts exe (default /usr/sbin/sshd) -D on it. The daemon (and any the
// agent started again) is stopped by its pid when the test ends.
func startSSHD(t *testing.T, template, exe string) *testSSHD {
	t.Helper()
	sshdAvailable(t)
	if exe == "" {
		exe = "/usr/sbin/sshd"
	}
	tree := t.TempDir()
	copyTree(t, template, tree)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	writeFiles(t, tree, map[string]string{
		"etc/ssh/sshd_config.d/00-listen.conf": fmt.Sprintf("ListenAddress 127.0.0.1:%d\n", port),
	})
	must(t, os.MkdirAll(filepath.Join(tree, "run/sshd"), 0o755))
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount --bind "$1/etc/ssh" /etc/ssh && mount --bind "$1/run" /run && exec "$2" -D -E /run/sshd.log -f /etc/ssh/sshd_config`, "sh", tree, exe)
	must(t, cmd.Start())
	s := &testSSHD{t: t, tree: tree, port: port, started: cmd.Process.Pid}
	t.Cleanup(func() {
		if pid := s.pidFromFile(); pid > 0 && pid != s.started && isSSHD(pid) {
			syscall.Kill(pid, syscall.SIGTERM)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	s.waitBanner()
	if got := s.pidFromFile(); got != s.started {
		t.Fatalf("pid file says %d, started %d", got, s.started)
	}
	return s
}

// isSSHD reports whether pid runs an sshd (so cleanup never signals a
// recycled pid of something else).
func isSSHD(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), "sshd")
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

// waitBanner waits until sshd greets.
func (s *testSSHD) waitBanner() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := s.banner()
		if err == nil && strings.HasPrefix(b, "SSH-2.0-") {
			return
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

// hups counts the SIGHUPs sshd logged.
func (s *testSSHD) hups() int { return strings.Count(s.log(), "Received SIGHUP") }
