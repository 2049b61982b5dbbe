package packaging_test

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

// treeSSHD is a real sshd serving a test tree: it runs in a private mount
// namespace where the tree's etc/ssh and run are /etc/ssh and /run, and
// listens on 127.0.0.1 and a free port.
type treeSSHD struct {
	tree string
	port int
}

// startTreeSSHD writes sshd_config (plus files) into tree, makes a host
// key, starts sshd and stops it, by its pid, when the test ends.
func startTreeSSHD(t *testing.T, tree string, files map[string]string) *treeSSHD {
	t.Helper()
	need(t, "/usr/sbin/sshd", "ssh-keygen", "unshare", "nsenter", "mount")
	needRoot(t, "sshd runs in a private mount namespace")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	all := map[string]string{
		"etc/ssh/sshd_config": fmt.Sprintf("Include /etc/ssh/sshd_config.d/*.conf\nListenAddress 127.0.0.1:%d\nHostKey /etc/ssh/ssh_host_ed25519_key\nPidFile /run/sshd.pid\nUsePAM no\n", port),
	}
	for p, c := range files {
		all[p] = c
	}
	for p, c := range all {
		full := filepath.Join(tree, p)
		mustDo(t, os.MkdirAll(filepath.Dir(full), 0o755))
		mustDo(t, os.WriteFile(full, []byte(c), 0o644))
	}
	mustDo(t, os.MkdirAll(filepath.Join(tree, "etc/ssh/sshd_config.d"), 0o755))
	mustDo(t, os.MkdirAll(filepath.Join(tree, "run/sshd"), 0o755))
	if code, out := run(t, exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(tree, "etc/ssh/ssh_host_ed25519_key"))); code != 0 {
		t.Fatalf("ssh-keygen: exit %d\n%s", code, out)
	}
	s := &treeSSHD{tree: tree, port: port}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount --bind "$1/etc/ssh" /etc/ssh && mount --bind "$1/run" /run && exec /usr/sbin/sshd -D -E /run/sshd.log -f /etc/ssh/sshd_config`, "sh", tree)
	mustDo(t, cmd.Start())
	started := cmd.Process.Pid
	t.Cleanup(func() {
		if pid := s.pid(); pid > 0 && pid != started {
			syscall.Kill(pid, syscall.SIGTERM) // one the agent started again
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for !s.greets() {
		if time.Now().After(deadline) {
			t.Fatalf("sshd on port %d does not greet; log:\n%s", port, s.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.pid() != started {
		t.Fatalf("pid file says %d, started %d", s.pid(), started)
	}
	return s
}

func mustDo(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (s *treeSSHD) pid() int {
	b, err := os.ReadFile(filepath.Join(s.tree, "run/sshd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (s *treeSSHD) greets() bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-2.0-")
}

func (s *treeSSHD) log() string {
	b, _ := os.ReadFile(filepath.Join(s.tree, "run/sshd.log"))
	return string(b)
}

func (s *treeSSHD) sighups() int { return strings.Count(s.log(), "Received SIGHUP") }

// effective runs sshd -T in the daemon's mount namespace and returns the
// value of keyword (lower case), as the daemon now uses it.
func (s *treeSSHD) effective(t *testing.T, keyword string) string {
	t.Helper()
	code, out := run(t, exec.Command("nsenter", "-t", strconv.Itoa(s.pid()), "-m", "/usr/sbin/sshd", "-T", "-f", "/etc/ssh/sshd_config"))
	if code != 0 {
		t.Fatalf("sshd -T: exit %d\n%s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == keyword {
			return v
		}
	}
	return ""
}

// sandbox is sshconverge.service's sandbox, as far as it can be built
// without systemd, applied to a --root tree: the parts that decide
// whether the agent can do its work.
//   - its own mount namespace (every ProtectSystem=/ReadWritePaths= unit
//     has one), so that validation must enter sshd's namespace;
//   - the tree read-only, except ReadWritePaths= and StateDirectory=
//     (mapped under the tree), as ProtectSystem=strict leaves it;
//   - /proc mounted with hidepid=invisible,subset=pid (ProtectProc=,
//     ProcSubset=);
//   - no_new_privs, and exactly the capability bounding set, with no
//     inheritable or ambient capabilities (NoNewPrivileges=,
//     CapabilityBoundingSet=, AmbientCapabilities=).
//
// The system call filter, the address family list, PrivateNetwork= and
// the other namespaces are not reproduced: systemd alone applies them.
type sandbox struct {
	tree    string
	rw      []string // tree-relative writable paths
	caps    []string // CAP_… names
	command []string // the agent's argv
}

// sandboxFromUnit reads the sandbox and the command line from the
// service, with the command rewritten for the tree: the agent built from
// this tree, --root TREE, the desired file given, and --reload signal (no
// systemd here; a SIGHUP is what ssh.service's ExecReload sends).
func sandboxFromUnit(t *testing.T, tree, desired string) *sandbox {
	t.Helper()
	u := parseUnit(t, unitPath(t, serviceName))
	sb := &sandbox{tree: tree, caps: u.words("Service", "CapabilityBoundingSet")}
	for _, p := range u.words("Service", "ReadWritePaths") {
		sb.rw = append(sb.rw, strings.TrimPrefix(p, "-"))
	}
	for _, d := range u.words("Service", "StateDirectory") {
		sb.rw = append(sb.rw, "/var/lib/"+d)
	}
	// The writable paths exist, as systemd-tmpfiles makes them at boot
	// and systemd makes StateDirectory=.
	created := tmpfilesCreated(t)
	for _, p := range sb.rw {
		full := filepath.Join(tree, p)
		if created[p] == "f" {
			mustDo(t, os.MkdirAll(filepath.Dir(full), 0o755))
			mustDo(t, os.WriteFile(full, nil, 0o600))
			continue
		}
		mustDo(t, os.MkdirAll(full, 0o755))
	}
	args := strings.Fields(u.get("Service", "ExecStart"))
	cmd := []string{agentBinary(t), "--root", tree}
	for i := 1; i < len(args); i++ {
		switch {
		case args[i] == desiredPath:
			cmd = append(cmd, desired)
		case args[i] == "--reload" && i+1 < len(args):
			cmd = append(cmd, "--reload", "signal")
			i++
		default:
			cmd = append(cmd, args[i])
		}
	}
	sb.command = cmd
	return sb
}

// run runs the agent (with extra arguments before the desired file) in the
// sandbox with the given capabilities.
func (sb *sandbox) run(t *testing.T, caps []string, extra ...string) (int, string) {
	t.Helper()
	need(t, "unshare", "mount", "setpriv")
	bounding := []string{"-all"}
	for _, c := range caps {
		bounding = append(bounding, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	script := `set -e
tree=$1; shift
mount --bind "$tree" "$tree"
mount -o remount,bind,ro "$tree"
while [ "$1" != -- ]; do
	mount --bind "$tree$1" "$tree$1"
	mount -o remount,bind,rw "$tree$1"
	shift
done
shift
mount -t proc -o hidepid=invisible,subset=pid proc /proc
exec setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set="$@"`
	argv := []string{"-m", "--propagation", "private", "sh", "-c", script, "sh", sb.tree}
	argv = append(argv, sb.rw...)
	argv = append(argv, "--", strings.Join(bounding, ","), "--")
	n := len(sb.command)
	argv = append(argv, sb.command[:n-1]...)
	argv = append(argv, extra...)
	argv = append(argv, sb.command[n-1])
	return run(t, exec.Command("unshare", argv...))
}

func without(caps []string, drop string) []string {
	var out []string
	for _, c := range caps {
		if c != drop {
			out = append(out, c)
		}
	}
	return out
}

// TestServiceSandbox runs the agent as sshconverge.service runs it —
// the unit's own command line and capability set, no_new_privs, a
// read-only tree with the unit's writable holes, in a mount namespace of
// its own — against a real sshd, and proves:
//   - the sandbox is enough: the run converges, validates inside sshd's
//     namespace, reloads sshd, keeps the owner and mode of a drop-in that
//     another user owns, and a --check afterwards is in sync;
//   - the capabilities it keeps are needed: without CAP_SYS_ADMIN,
//     CAP_SYS_CHROOT or CAP_SYS_PTRACE the run cannot validate (nothing
//     is changed and sshd is not reloaded), without CAP_DAC_OVERRIDE it
//     cannot read that drop-in, and without CAP_CHOWN the drop-in does not
//     keep its owner.
//
// CAP_FOWNER is needed only to label a file given to another owner with
// SELinux, which this machine does not have.
func TestServiceSandbox(t *testing.T) {
	tree := t.TempDir()
	const delegated = "etc/ssh/sshd_config.d/40-delegated.conf"
	original := "ClientAliveInterval 120\n"
	s := startTreeSSHD(t, tree, map[string]string{delegated: original})
	// A drop-in another account owns, readable by that account only.
	reset := func() {
		t.Helper()
		p := filepath.Join(tree, delegated)
		mustDo(t, os.WriteFile(p, []byte(original), 0o600))
		mustDo(t, os.Chown(p, 1000, 1000))
		mustDo(t, os.Chmod(p, 0o600))
		os.Remove(filepath.Join(tree, "etc/ssh/sshd_config.d/00-sshconverge.conf"))
		os.RemoveAll(filepath.Join(tree, "var/lib/sshconverge"))
		mustDo(t, os.MkdirAll(filepath.Join(tree, "var/lib/sshconverge"), 0o700))
	}
	reset()
	desired := filepath.Join(tree, "etc/sshconverge/desired.yaml")
	mustDo(t, os.MkdirAll(filepath.Dir(desired), 0o755))
	mustDo(t, os.WriteFile(desired, []byte("version: 1\nsshd:\n  settings:\n    ClientAliveInterval: 300\n    ClientAliveCountMax: 2\n"), 0o600))
	sb := sandboxFromUnit(t, tree, desired)
	caps := sb.caps
	t.Logf("command: %s", strings.Join(sb.command, " "))
	t.Logf("capabilities: %v; writable: %v", caps, sb.rw)

	before := s.sighups()
	code, out := sb.run(t, caps)
	if code != 0 {
		t.Fatalf("the agent in the unit's sandbox: exit %d\n%s", code, out)
	}
	if s.sighups() != before+1 {
		t.Errorf("sshd was not reloaded; its log:\n%s", s.log())
	}
	if !s.greets() {
		t.Errorf("sshd does not greet after the reload")
	}
	if got := s.effective(t, "clientaliveinterval"); got != "300" {
		t.Errorf("sshd uses ClientAliveInterval %s, want 300", got)
	}
	if got := s.effective(t, "clientalivecountmax"); got != "2" {
		t.Errorf("sshd uses ClientAliveCountMax %s, want 2", got)
	}
	if info, err := os.Stat(filepath.Join(tree, delegated)); err != nil {
		t.Error(err)
	} else if ownerOf(info) != "1000:1000" || info.Mode().Perm() != 0o600 {
		t.Errorf("%s: owner %s mode %v after the run, want 1000:1000 -rw-------", delegated, ownerOf(info), info.Mode().Perm())
	}
	if code, out := sb.run(t, caps, "--check"); code != 0 {
		t.Errorf("--check after the run: exit %d, want 0 (in sync)\n%s", code, out)
	}

	for _, drop := range []string{"CAP_SYS_ADMIN", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE"} {
		t.Run("without_"+drop, func(t *testing.T) {
			reset()
			files := treeDigest(t, filepath.Join(tree, "etc/ssh"))
			before := s.sighups()
			code, out := sb.run(t, without(caps, drop))
			t.Logf("exit %d\n%s", code, out)
			if code == 0 {
				t.Errorf("the run succeeded without %s: the unit need not keep it", drop)
			}
			if d := diffDigests(files, treeDigest(t, filepath.Join(tree, "etc/ssh"))); len(d) > 0 {
				t.Errorf("a failed run left changes: %v", d)
			}
			if s.sighups() != before {
				t.Errorf("sshd was reloaded by a failed run")
			}
		})
	}
	t.Run("without_CAP_CHOWN", func(t *testing.T) {
		reset()
		code, out := sb.run(t, without(caps, "CAP_CHOWN"))
		t.Logf("exit %d\n%s", code, out)
		info, err := os.Stat(filepath.Join(tree, delegated))
		if err != nil {
			t.Fatal(err)
		}
		if code == 0 && ownerOf(info) == "1000:1000" {
			t.Errorf("the drop-in kept its owner without CAP_CHOWN: the unit need not keep it")
		}
	})
}
