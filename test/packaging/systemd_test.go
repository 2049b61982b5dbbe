package packaging_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// systemdRoot is a Debian 12 tree with systemd and openssh-server, which
// .ci/setup.d/45-packaging.sh builds with mmdebstrap. Tests boot copies of
// it; the tree itself is never changed.
func systemdRoot(t *testing.T) string {
	t.Helper()
	root := os.Getenv("SSHCONVERGE_SYSTEMD_ROOT")
	if root == "" {
		root = "/var/lib/sshconverge-test/systemd-bookworm"
	}
	if _, err := os.Stat(filepath.Join(root, "usr/lib/systemd/systemd")); err != nil {
		opensshtest.Unavailable(t, "no Debian tree with systemd at %s (SSHCONVERGE_SYSTEMD_ROOT); .ci/setup.d/45-packaging.sh builds it", root)
	}
	return root
}

// e2eScript runs inside the booted container as a oneshot unit after
// multi-user.target: it installs the package, runs the service as an
// administrator would, records what it saw as key=value lines in
// /root/e2e/result, and powers the container off.
const e2eScript = `#!/bin/sh
exec >/root/e2e/log 2>&1
set -x
r() { echo "$1=$2" >>/root/e2e/result; }
dpkg -i /root/e2e/sshconverge.deb; r dpkg $?
r lock "$(stat -c %a /run/sshconverge.lock)"
r timer_enabled "$(systemctl is-enabled sshconverge.timer)"
r timer_active "$(systemctl is-active sshconverge.timer)"
systemctl start sshconverge.service; r unconfigured_start $?
r unconfigured_condition "$(systemctl show -p ConditionResult --value sshconverge.service)"
install -d -m 0755 /etc/sshconverge
install -m 0600 /root/e2e/desired.yaml /etc/sshconverge/desired.yaml
pid=$(systemctl show -p MainPID --value ssh.service)
systemctl start sshconverge.service; r start $?
r result "$(systemctl show -p Result --value sshconverge.service)"
r sshd_pid_before "$pid"
r sshd_pid_after "$(systemctl show -p MainPID --value ssh.service)"
r ssh_active "$(systemctl is-active ssh.service)"
r sshd_sighups "$(journalctl -u ssh.service -o cat | grep -c 'Received SIGHUP')"
r clientaliveinterval "$(sshd -T | awk '$1 == "clientaliveinterval" { print $2 }')"
r clientalivecountmax "$(sshd -T | awk '$1 == "clientalivecountmax" { print $2 }')"
r backups "$(ls /var/lib/sshconverge/backup | wc -l)"
r metrics "$(test -s /var/lib/prometheus/node-exporter/sshconverge.prom && echo yes)"
systemctl start sshconverge.service; r second_start $?
r sshd_sighups_after_second "$(journalctl -u ssh.service -o cat | grep -c 'Received SIGHUP')"
sshconverge --check /etc/sshconverge/desired.yaml; r check $?
systemctl enable --now sshconverge.timer; r enable $?
r timer_active_after_enable "$(systemctl is-active sshconverge.timer)"
r exposure "$(systemd-analyze security sshconverge.service | sed -n 's/.*exposure level for sshconverge.service: \([0-9.]*\).*/\1/p')"
journalctl -u sshconverge.service -o cat >/root/e2e/journal
r done yes
systemctl poweroff
`

// TestUnderSystemd boots a Debian 12 container (systemd-nspawn, its own
// network namespace with only a loopback, so its sshd listens nowhere
// else) whose PID 1 is systemd and whose ssh.service runs, installs the
// package there and runs sshconverge.service as an administrator would:
// first without a desired state (the condition skips it), then with
// examples/keepalive.yaml. This is the one test in which systemd itself
// applies the unit's whole sandbox — the system call filter, the
// namespaces, the read-only file system, the capability set — and in which
// the agent reloads ssh.service through systemctl from inside it.
func TestUnderSystemd(t *testing.T) {
	need(t, "systemd-nspawn", "cp")
	needRoot(t, "systemd-nspawn boots a container")
	template := systemdRoot(t)
	deb := buildDeb(t)

	root := filepath.Join(t.TempDir(), "root")
	if code, out := run(t, exec.Command("cp", "-a", template, root)); code != 0 {
		t.Fatalf("copying %s: exit %d\n%s", template, code, out)
	}
	e2e := filepath.Join(root, "root/e2e")
	mustDo(t, os.MkdirAll(e2e, 0o700))
	b, err := os.ReadFile(deb)
	mustDo(t, err)
	mustDo(t, os.WriteFile(filepath.Join(e2e, "sshconverge.deb"), b, 0o644))
	keepalive, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "keepalive.yaml"))
	mustDo(t, err)
	mustDo(t, os.WriteFile(filepath.Join(e2e, "desired.yaml"), keepalive, 0o600))
	mustDo(t, os.WriteFile(filepath.Join(e2e, "run.sh"), []byte(e2eScript), 0o755))
	unit := "[Unit]\nAfter=multi-user.target ssh.service\n[Service]\nType=oneshot\nExecStart=/root/e2e/run.sh\n[Install]\nWantedBy=multi-user.target\n"
	mustDo(t, os.WriteFile(filepath.Join(root, "etc/systemd/system/sshconverge-e2e.service"), []byte(unit), 0o644))
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
	mustDo(t, os.MkdirAll(wants, 0o755))
	mustDo(t, os.Symlink("/etc/systemd/system/sshconverge-e2e.service", filepath.Join(wants, "sshconverge-e2e.service")))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// --register=no --keep-unit: this machine need not run systemd.
	boot := exec.CommandContext(ctx, "systemd-nspawn", "--quiet", "--directory", root, "--register=no", "--keep-unit",
		"--private-network", "--console=pipe", "--boot")
	start := time.Now()
	code, out := run(t, boot)
	t.Logf("container ran %v, exit %d", time.Since(start).Round(time.Millisecond), code)
	if log, err := os.ReadFile(filepath.Join(e2e, "journal")); err == nil {
		t.Logf("journal of sshconverge.service:\n%s", log)
	}
	res := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(e2e, "result")); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				res[k] = v
			}
		}
	}
	if res["done"] != "yes" {
		script, _ := os.ReadFile(filepath.Join(e2e, "log"))
		t.Fatalf("the script in the container did not finish (exit %d):\n%s\nits log:\n%s", code, out, script)
	}
	t.Logf("results: %v", res)

	for k, want := range map[string]string{
		"dpkg":                      "0",
		"lock":                      "600",      // postinst ran systemd-tmpfiles
		"timer_enabled":             "disabled", // the package enables nothing
		"timer_active":              "inactive",
		"unconfigured_start":        "0", // a skipped start is no failure
		"unconfigured_condition":    "no",
		"start":                     "0",
		"result":                    "success",
		"ssh_active":                "active",
		"clientaliveinterval":       "300",
		"clientalivecountmax":       "2",
		"backups":                   "0", // only new files (the agent's drop-ins): no original to keep
		"metrics":                   "yes",
		"second_start":              "0",
		"check":                     "0",
		"enable":                    "0",
		"timer_active_after_enable": "active",
	} {
		if res[k] != want {
			t.Errorf("%s = %q, want %q", k, res[k], want)
		}
	}
	if res["sshd_pid_before"] == "" || res["sshd_pid_before"] == "0" || res["sshd_pid_before"] != res["sshd_pid_after"] {
		t.Errorf("sshd's main pid %s before the run, %s after: want the same daemon, reloaded", res["sshd_pid_before"], res["sshd_pid_after"])
	}
	if n, _ := strconv.Atoi(res["sshd_sighups"]); n != 1 {
		t.Errorf("sshd logged %q reloads, want 1", res["sshd_sighups"])
	}
	if res["sshd_sighups_after_second"] != res["sshd_sighups"] {
		t.Errorf("the second run (nothing to change) reloaded sshd")
	}
	if e, err := strconv.ParseFloat(res["exposure"], 64); err != nil || e > 3.0 {
		t.Errorf("systemd-analyze security in the container: exposure %q, want at most 3.0", res["exposure"])
	}
}
