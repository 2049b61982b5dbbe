package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sshconverge/agent/pkg/reconcile"
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
	return runDaemonAs(t, "/usr/sbin/sshd", logFile, binds, args...)
}

// runDaemonAs is runDaemon with the sshd binary executed as the path
// binary (a link to it, say).
func runDaemonAs(t *testing.T, binary, logFile string, binds [][2]string, args ...string) int {
	t.Helper()
	script := ""
	var shArgs []string
	for i, b := range binds {
		script += fmt.Sprintf(`mount --bind "$%d" "$%d" && `, 2*i+1, 2*i+2)
		shArgs = append(shArgs, b[0], b[1])
	}
	script += fmt.Sprintf(`shift %d && exec "$@"`, len(shArgs))
	argv := append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh"}, shArgs...)
	argv = append(argv, append([]string{binary, "-D", "-E", logFile}, args...)...)
	cmd := exec.Command("unshare", argv...)
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// unnamedDaemonTree writes a root whose sshd_config is head, then a
// listener on a free port of 127.0.0.1 with a host key (made, named by its
// host path) and a pid file no one reads (named by its host path too),
// then tail; it returns the root and the port. A daemon started on its
// configuration is found by the configuration file alone.
func unnamedDaemonTree(t *testing.T, head, tail string) (root string, port int) {
	t.Helper()
	root, port = t.TempDir(), freePort(t)
	hostKey := filepath.Join(root, "etc/ssh/ssh_host_ed25519_key")
	writeFiles(t, root, map[string]string{
		"etc/ssh/sshd_config": fmt.Sprintf("%sListenAddress 127.0.0.1:%d\nHostKey %s\nPidFile %s\nUsePAM no\n%s",
			head, port, hostKey, filepath.Join(root, "run/elsewhere.pid"), tail),
	})
	makeHostKey(t, hostKey)
	return root, port
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
	other := t.TempDir()
	root, port := unnamedDaemonTree(t, "Include /etc/ssh/sshd_config.d/*.conf\n", "")
	writeFiles(t, root, map[string]string{"etc/ssh/sshd_config.d/50-image.conf": "ClientAliveInterval 120\n"})
	// What the daemon sees as /etc/ssh: another directory.
	writeFiles(t, other, map[string]string{"sshd_config.d/10-host.conf": "ClientAliveInterval 45\n"})
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

// TestDaemonFoundWhateverItsName: an sshd started through a link of
// another name (its process name, comm, is the link's) that no pid file
// names is found by its configuration file, as the binary the kernel
// runs is what makes it sshd: reloaded and asked, not reported as "not
// running".
func TestDaemonFoundWhateverItsName(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "ssh-keygen", "unshare", "nsenter")
	root, port := unnamedDaemonTree(t, "", "ClientAliveInterval 120\n")
	link := filepath.Join(t.TempDir(), "openssh-daemon")
	must(t, os.Symlink("/usr/sbin/sshd", link))
	log := filepath.Join(root, "sshd.log")
	pid := runDaemonAs(t, link, log, nil, "-f", filepath.Join(root, "etc/ssh/sshd_config"))
	s := &testSSHD{t: t, tree: root, port: port}
	s.waitBanner()
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(b)) == "sshd" {
		t.Fatalf("the daemon's process name is %q (%v), want the link's", b, err)
	}

	code, stdout, stderr := s.agentWith("version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\n", "--reload", "auto", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, stdout, stderr)
	}
	if want := fmt.Sprintf(`"pid":%d`, pid); !strings.Contains(stderr, want) {
		t.Errorf("the daemon (pid %d) was not found: stderr lacks %q:\n%s", pid, want, stderr)
	}
	if b, _ := os.ReadFile(log); !strings.Contains(string(b), "Received SIGHUP") {
		t.Errorf("the daemon was not reloaded:\n%s", b)
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
	makeHostKey(t, filepath.Join(tree, "etc/ssh/ssh_host_ed25519_key"))
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

// TestMatchOverrides is issue 8's second defect: desired
// PasswordAuthentication no and PermitRootLogin no, in sync globally, but
// a Match User backup block sets both to yes. The audit lists the
// overrides and warns; with everywhere they are drift, the apply removes
// them, and the running sshd asked with -C user=backup agrees.
func TestMatchOverrides(t *testing.T) {
	s := startSSHD(t, map[string]string{
		"etc/ssh/sshd_config.d/50-image.conf": "PasswordAuthentication no\nPermitRootLogin no\nMatch User backup\n\tPasswordAuthentication yes\n\tPermitRootLogin yes\n",
	})
	desired := "version: 1\nsshd:\n  settings: {PasswordAuthentication: no, PermitRootLogin: no}\n"
	code, stdout, stderr := s.agent(desired, "--check")
	if code != exitOK {
		t.Fatalf("--check exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		`warning: sshd global PasswordAuthentication is yes for connections matching "User backup" (/etc/ssh/sshd_config.d/50-image.conf:4)`,
		`warning: sshd global PermitRootLogin is yes for connections matching "User backup" (/etc/ssh/sshd_config.d/50-image.conf:5)`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "a Match block overrides the desired global value") {
		t.Errorf("no warning logged:\n%s", stderr)
	}

	everywhere := desired + "  everywhere: [PasswordAuthentication, PermitRootLogin]\n"
	code, stdout, _ = s.agent(everywhere, "--check")
	if code != exitDrift || !regexp.MustCompile(`(?m)^changed +sshd +Match User backup +PasswordAuthentication +yes -> no  \(remove /etc/ssh/sshd_config.d/50-image.conf:4\)$`).MatchString(stdout) {
		t.Fatalf("--check with everywhere: exit %d\n%s", code, stdout)
	}
	code, stdout, stderr = s.agent(everywhere, "--format", "json")
	if code != exitOK || !strings.Contains(stdout, `"verified": "daemon"`) {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(s.pidFromFile()), "-m", "/usr/sbin/sshd", "-T", "-f", "/etc/ssh/sshd_config",
		"-C", "user=backup,host=x,addr=192.0.2.1").CombinedOutput()
	if err != nil {
		t.Fatalf("sshd -T -C: %v\n%s", err, out)
	}
	for _, want := range []string{"passwordauthentication no\n", "permitrootlogin no\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("sshd -T -C user=backup lacks %q", want)
		}
	}
	if code, stdout, _ := s.agent(everywhere, "--check"); code != exitOK {
		t.Errorf("second --check: exit %d\n%s", code, stdout)
	}
}

// TestMatchGroup: a Match Group scope is planned for a member of the
// group, and the running sshd is asked as one (in its view, the probe's
// account is made a member), so a value that differs from the global one
// is confirmed by the daemon, not reported as a mismatch; a Match Group
// block already in the files overrides a global value for its members.
func TestMatchGroup(t *testing.T) {
	s := startSSHD(t, map[string]string{
		"etc/ssh/sshd_config.d/50-image.conf": "Match Group admins,!nobody\n\tX11Forwarding yes\n",
	})
	desired := `version: 1
sshd:
  settings: {AllowTcpForwarding: no, ClientAliveInterval: 300, X11Forwarding: no}
  match:
    - criteria: Group jump
      settings: {AllowTcpForwarding: local, ClientAliveInterval: 60, PermitTTY: no}
`
	code, stdout, stderr := s.agent(desired, "--check")
	if code != exitDrift {
		t.Fatalf("--check exit %d, want 2\n%s\n%s", code, stdout, stderr)
	}
	for _, re := range []string{
		`(?m)^changed +sshd +Match Group jump +AllowTcpForwarding +yes \(default\) -> local`,
		`(?m)^changed +sshd +Match Group jump +ClientAliveInterval +0 \(default\) -> 60`,
		`warning: sshd global X11Forwarding is yes for connections matching "Group admins,!nobody" \(/etc/ssh/sshd_config.d/50-image.conf:2\)`,
	} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("--check report lacks %s:\n%s", re, stdout)
		}
	}
	code, stdout, stderr = s.agent(desired, "--format", "json")
	if code != exitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var rep struct {
		Results []struct {
			Scope, Keyword, Verified string
		}
	}
	must(t, json.Unmarshal([]byte(stdout), &rep))
	groupResults := 0
	for _, r := range rep.Results {
		if r.Scope == "Match Group jump" {
			groupResults++
		}
		if r.Verified != "daemon" {
			t.Errorf("%s %s: verified %q, want daemon", r.Scope, r.Keyword, r.Verified)
		}
	}
	if groupResults != 3 {
		t.Errorf("%d results for Match Group jump, want 3:\n%s", groupResults, stdout)
	}
	if code, stdout, _ := s.agent(desired, "--check"); code != exitOK {
		t.Errorf("second --check: exit %d\n%s", code, stdout)
	}
}

// TestCheckRemembersDaemonAcceptance: with sshd running, an audit of its
// files unchanged since an earlier audit does not ask it sshd -t again:
// its files are read in its own root, and the verdict is remembered with
// them. A change to a file only the daemon reads (an Include outside the
// root) asks again; a file it rejects is asked about every time; a daemon
// started with an -o option is always asked.
func TestCheckRemembersDaemonAcceptance(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "ssh-keygen", "unshare", "nsenter")
	other := t.TempDir()
	root, port := unnamedDaemonTree(t, "Include /etc/ssh/sshd_config.d/*.conf\n", "ClientAliveInterval 300\n")
	writeFiles(t, other, map[string]string{"sshd_config.d/10-host.conf": "MaxAuthTries 4\n"})
	must(t, os.MkdirAll(filepath.Join(root, "var/lib/sshconverge"), 0o700))
	runDaemon(t, filepath.Join(root, "sshd.log"), [][2]string{{other, "/etc/ssh"}}, "-f", filepath.Join(root, "etc/ssh/sshd_config"))
	s := &testSSHD{t: t, tree: root, port: port}
	s.waitBanner()
	audit := func(wantCode int, wantAsked bool) string {
		t.Helper()
		code, stdout, stderr := s.agentWith("version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\n", "--check", "--log-level", "debug")
		if code != wantCode {
			t.Fatalf("--check exit %d, want %d\n%s\n%s", code, wantCode, stdout, stderr)
		}
		if asked := !strings.Contains(stderr, notAskedAgain); asked != wantAsked {
			t.Fatalf("sshd asked: %v, want %v\n%s", asked, wantAsked, stderr)
		}
		return stderr
	}
	audit(exitOK, true)
	audit(exitOK, false)

	// The daemon's own drop-in (not under --root) changes: asked again.
	hostConf := filepath.Join(other, "sshd_config.d/10-host.conf")
	must(t, os.WriteFile(hostConf, []byte("MaxAuthTries 5\n"), 0o644))
	audit(exitOK, true)
	audit(exitOK, false)

	// One it rejects is asked about each time, and never remembered.
	must(t, os.WriteFile(hostConf, []byte("Subsystem sftp internal-sftp\nSubsystem sftp internal-sftp\n"), 0o644))
	for range 2 {
		if stderr := audit(exitError, true); !strings.Contains(stderr, "Subsystem 'sftp' already defined") {
			t.Fatalf("the rejection is not sshd's:\n%s", stderr)
		}
	}
	must(t, os.WriteFile(hostConf, []byte("MaxAuthTries 5\n"), 0o644))
	audit(exitOK, false)

	// A daemon whose command line sets options: always asked.
	root2, port2 := unnamedDaemonTree(t, "", "ClientAliveInterval 300\n")
	must(t, os.MkdirAll(filepath.Join(root2, "var/lib/sshconverge"), 0o700))
	runDaemon(t, filepath.Join(root2, "sshd.log"), nil, "-f", filepath.Join(root2, "etc/ssh/sshd_config"), "-o", "MaxAuthTries=3")
	s = &testSSHD{t: t, tree: root2, port: port2}
	s.waitBanner()
	audit(exitOK, true)
	audit(exitOK, true)
}

const valuesNotAskedAgain = "its values not asked again"

// TestCheckRemembersDaemonValues: with sshd running, an audit whose
// daemon's files, binary, host keys and account files are those an earlier
// audit saw takes the values sshd -T gave then (still reported as the
// daemon's), and asks again when any of them changes. A file only the
// daemon reads (an Include outside the root) that sets a desired key
// first is a mismatch every time, never ok from the record; a record that
// does not parse is not believed.
func TestCheckRemembersDaemonValues(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "ssh-keygen", "unshare", "nsenter")
	other, accounts := t.TempDir(), t.TempDir()
	root, port := unnamedDaemonTree(t, "Include /etc/ssh/sshd_config.d/*.conf\n", "ClientAliveInterval 300\nMatch Group jump\n\tClientAliveInterval 60\n")
	hostConf := filepath.Join(other, "sshd_config.d/10-host.conf")
	writeFiles(t, other, map[string]string{"sshd_config.d/10-host.conf": "MaxAuthTries 4\n"})
	group := filepath.Join(accounts, "group")
	b, err := os.ReadFile("/etc/group")
	must(t, err)
	must(t, os.WriteFile(group, b, 0o644))
	record := filepath.Join(root, "var/lib/sshconverge/daemon-values")
	must(t, os.MkdirAll(filepath.Dir(record), 0o700))
	runDaemon(t, filepath.Join(root, "sshd.log"), [][2]string{{other, "/etc/ssh"}, {group, "/etc/group"}}, "-f", filepath.Join(root, "etc/ssh/sshd_config"))
	s := &testSSHD{t: t, tree: root, port: port}
	s.waitBanner()
	const desired = `version: 1
sshd:
  settings: {ClientAliveInterval: 300}
  match:
    - criteria: Group jump
      settings: {ClientAliveInterval: 60}
`
	audit := func(wantCode int, wantAsked bool) {
		t.Helper()
		code, stdout, stderr := s.agentWith(desired, "--check", "--format", "json", "--log-level", "debug")
		if code != wantCode {
			t.Fatalf("--check exit %d, want %d\n%s\n%s", code, wantCode, stdout, stderr)
		}
		if asked := !strings.Contains(stderr, valuesNotAskedAgain); asked != wantAsked {
			t.Fatalf("sshd -T asked: %v, want %v\n%s", asked, wantAsked, stderr)
		}
		// The values' key takes the daemon's files as the verdict's key
		// read them, in the same run.
		if !strings.Contains(stderr, reconcile.DaemonFilesReadOnce) {
			t.Fatalf("the daemon's files were read again for the values' key:\n%s", stderr)
		}
		var rep struct {
			Results []struct{ Scope, Verified string }
		}
		must(t, json.Unmarshal([]byte(stdout), &rep))
		want := map[bool]string{true: "daemon", false: "mismatch"}[wantCode == exitOK]
		if len(rep.Results) != 2 || rep.Results[0].Verified != want || rep.Results[1].Verified != "daemon" {
			t.Fatalf("results %+v, want the global key %s and the Match Group one daemon\n%s", rep.Results, want, stdout)
		}
	}
	audit(exitOK, true)
	if b, err := os.ReadFile(record); err != nil || !regexp.MustCompile(`^[0-9a-f]{64}\n\["[^\n]*clientaliveinterval 300[^\n]*","[^\n]*clientaliveinterval 60[^\n]*"\]\n$`).Match(b) {
		t.Fatalf("record %.200q, %v; want the key and both sshd -T outputs", b, err)
	}
	audit(exitOK, false)

	// The daemon's own drop-in, read before the root's value, sets the
	// key: the daemon uses 600, asked again and remembered as such.
	must(t, os.WriteFile(hostConf, []byte("ClientAliveInterval 600\n"), 0o644))
	audit(exitDrift, true)
	audit(exitDrift, false)
	must(t, os.WriteFile(hostConf, []byte("MaxAuthTries 4\n"), 0o644))
	audit(exitOK, true)
	audit(exitOK, false)

	// Its group file (a Match Group probe's account is made from it).
	f, err := os.OpenFile(group, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString("sshconverge-test:x:4242:\n")
	must(t, errors.Join(err, f.Close()))
	audit(exitOK, true)
	audit(exitOK, false)

	// A record whose value does not parse: asked, and replaced.
	b, err = os.ReadFile(record)
	must(t, err)
	key, _, _ := strings.Cut(string(b), "\n")
	must(t, os.WriteFile(record, []byte(key+"\n[\"port 22\"\n"), 0o600))
	audit(exitOK, true)
	audit(exitOK, false)
}

// TestDaemonKeyedWithAgentRead: an agent on the root "/" in the running
// daemon's own mount namespace (a host's timer) keys the daemon's verdict
// and values with its own read of the files instead of reading them again
// for the daemon, and those keys are the ones a read of the daemon's own
// makes (records made from another namespace are used). Once an apply
// writes a file, that read is stale: the daemon's files are read again, and
// the reloaded daemon is asked its new values; keyed with the plan's read,
// the values remembered for the old files were taken, and the apply failed
// its verification.
func TestDaemonKeyedWithAgentRead(t *testing.T) {
	s := startSSHD(t, map[string]string{"etc/ssh/sshd_config.d/50-image.conf": "ClientAliveInterval 120\n"})
	bin, err := exec.LookPath("sshconverge") // testscript.Main's
	must(t, err)
	state := filepath.Join(s.tree, "var/lib/sshconverge")
	must(t, os.MkdirAll(state, 0o700))
	desired := func(interval int) string {
		d := filepath.Join(t.TempDir(), "desired.yaml")
		must(t, os.WriteFile(d, fmt.Appendf(nil, "version: 1\nsshd:\n  settings: {ClientAliveInterval: %d}\n", interval), 0o644))
		return d
	}
	// onHost runs the agent in the daemon's namespace, where the tree is
	// /etc/ssh and /run, on the root "/" (the state directory by its host
	// path, which that namespace shares).
	onHost := func(wantCode int, args ...string) string {
		t.Helper()
		argv := append([]string{"-t", strconv.Itoa(s.pidFromFile()), "-m", bin, "--root", "/", "--state-dir", state, "--log-level", "debug"}, args...)
		var stdout, stderr bytes.Buffer
		cmd := exec.Command("nsenter", argv...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != wantCode {
			t.Fatalf("agent %q: exit %d (%v), want %d\n%s\n%s", args, code, err, wantCode, stdout.String(), stderr.String())
		}
		return stderr.String()
	}
	in120 := desired(120)
	for i, wantAsked := range []bool{true, false} {
		log := onHost(exitOK, "--check", in120)
		if !strings.Contains(log, reconcile.DaemonFilesNotReread) {
			t.Fatalf("audit %d on the host read the daemon's files again:\n%s", i, log)
		}
		if asked := !strings.Contains(log, valuesNotAskedAgain); asked != wantAsked {
			t.Fatalf("audit %d on the host: sshd -T asked %v, want %v\n%s", i, asked, wantAsked, log)
		}
	}
	// From the agent's namespace, on the tree: the daemon's files are its
	// own read, and it finds the records the host's audits left.
	code, stdout, stderr := s.agentWith(fmt.Sprintf("version: 1\nsshd:\n  settings: {ClientAliveInterval: %d}\n", 120), "--check", "--log-level", "debug")
	if code != exitOK || strings.Contains(stderr, reconcile.DaemonFilesNotReread) || !strings.Contains(stderr, valuesNotAskedAgain) ||
		!strings.Contains(stderr, "sshd accepted these files before") {
		t.Fatalf("audit of the tree: exit %d, want the host's records used on a read of its own\n%s\n%s", code, stdout, stderr)
	}
	log := onHost(exitOK, "--reload", "signal", desired(300))
	if !strings.Contains(log, "\"message\":\"changed\"") || strings.Contains(log, valuesNotAskedAgain) {
		t.Fatalf("the apply did not change the file, or took remembered values:\n%s", log)
	}
	if dump := s.dumpT(); !strings.Contains(dump, "clientaliveinterval 300\n") {
		t.Fatalf("the daemon does not use 300:\n%s", dump)
	}
}
