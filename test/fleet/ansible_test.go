package fleet_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// recap is one host's line of ansible-playbook's PLAY RECAP.
type recap struct {
	ok, changed, unreachable, failed, skipped int
}

var recapLine = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)`)

// playResult is what a run of ansible-playbook said: the recap by host, and
// by task name the status ("ok", "changed", "failed", "skipping",
// "unreachable") each host got.
type playResult struct {
	code   int
	out    string
	recap  map[string]recap
	status map[string]map[string]string
}

var (
	taskHeader = regexp.MustCompile(`^TASK \[(?:[^:\]]+ : )?([^\]]+)\]`)
	taskStatus = regexp.MustCompile(`^(ok|changed|skipping|fatal|failed): \[([^\]]+)\]`)
)

func parsePlay(code int, out string) playResult {
	r := playResult{code: code, out: out, recap: map[string]recap{}, status: map[string]map[string]string{}}
	if i := strings.Index(out, "PLAY RECAP"); i >= 0 {
		for _, m := range recapLine.FindAllStringSubmatch(out[i:], -1) {
			n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
			r.recap[m[1]] = recap{n(2), n(3), n(4), n(5), n(6)}
		}
	}
	task := ""
	for _, l := range strings.Split(out, "\n") {
		if m := taskHeader.FindStringSubmatch(l); m != nil {
			task = m[1]
			r.status[task] = map[string]string{}
			continue
		}
		if m := taskStatus.FindStringSubmatch(l); m != nil && task != "" {
			st := m[1]
			if st == "fatal" {
				st = "failed"
				if strings.Contains(l, "UNREACHABLE!") {
					st = "unreachable"
				}
			}
			// A loop prints a line per item: changed wins over ok.
			if prev := r.status[task][m[2]]; prev != "changed" {
				r.status[task][m[2]] = st
			}
		}
	}
	return r
}

// ansibleInventory writes an inventory of the fleet's hosts for site.yml:
// each host's tree is its sshconverge_root, sshd is reloaded by signal.
func (f *fleet) ansibleInventory(agent, reports, install string) string {
	var inv strings.Builder
	inv.WriteString("[sshconverge]\n")
	for _, h := range f.hosts {
		fmt.Fprintf(&inv, "%s ansible_host=%s sshconverge_root=%s\n", h.name, h.addr, h.tree)
	}
	fmt.Fprintf(&inv, `
[sshconverge:vars]
ansible_user=root
ansible_ssh_common_args='-F %s -o StrictHostKeyChecking=yes'
ansible_python_interpreter=/usr/bin/python3
sshconverge_binary=%s
sshconverge_desired=%s
sshconverge_reload=signal
sshconverge_reports_dir=%s
sshconverge_install=%s
`, f.sshConfig, agent, filepath.Join(repoRoot, "examples/keepalive.yaml"), reports, install)
	p := filepath.Join(f.dir, "inventory.ini")
	must(f.t, os.WriteFile(p, []byte(inv.String()), 0o644))
	return p
}

// ansible runs site.yml in the controller namespace against inventory,
// with extra arguments.
func (f *fleet) ansible(inventory string, extra ...string) playResult {
	f.t.Helper()
	home := filepath.Join(f.dir, "ansible-home")
	must(f.t, os.MkdirAll(home, 0o700))
	env := []string{
		"HOME=" + home, // ~/.ansible on the controller: control sockets, temp files
		"ANSIBLE_CONFIG=" + filepath.Join(repoRoot, "examples/ansible/ansible.cfg"),
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_FORCE_COLOR=0",
		"ANSIBLE_STDOUT_CALLBACK=default",
		"ANSIBLE_LOCALHOST_WARNING=false",
	}
	args := append([]string{"ansible-playbook", "-i", inventory, "-f", "10", filepath.Join(repoRoot, "examples/ansible/site.yml")}, extra...)
	start := time.Now()
	code, stdout, stderr := f.inControl(4*time.Minute, env, args...)
	f.t.Logf("ansible-playbook %s: exit %d in %.1f s", strings.Join(extra, " "), code, time.Since(start).Seconds())
	r := parsePlay(code, stdout)
	if len(r.recap) == 0 {
		f.t.Fatalf("no PLAY RECAP:\n%s\n%s", stdout, stderr)
	}
	return r
}

// TestAnsibleFleet runs examples/ansible/site.yml against namespace hosts.
// The first run installs and converges the good hosts (the agent's task
// "changed"), fails the host whose configuration the agent rejects, and
// reports the one where nothing listens as unreachable. In the second run,
// after drift made by hand on h2, h1 changes nothing and h2 changes exactly
// the agent's task. --check then reports new drift on h2 as changed, and
// writes nothing.
func TestAnsibleFleet(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		opensshtest.Unavailable(t, "ansible-playbook is missing (apt-get install -y ansible-core)")
	}
	f := newFleet(t, goodHost, goodHost, brokenHost, downHost)
	reports := filepath.Join(t.TempDir(), "reports")
	install := schedule(t, "timer")
	inventory := f.ansibleInventory(agentBinary(t), reports, install)
	const agentTask = "Run sshconverge"
	h1, h2 := f.host("h1"), f.host("h2")
	drift := func() string {
		t.Helper()
		dropIn := filepath.Join(h2.tree, "etc/ssh/sshd_config.d/00-sshconverge.conf") // where the agent set it (cloud-init's own file is left alone)
		b, err := os.ReadFile(dropIn)
		must(t, err)
		drifted := strings.Replace(string(b), "ClientAliveInterval 300", "ClientAliveInterval 120", 1)
		if drifted == string(b) {
			t.Fatalf("%s does not say ClientAliveInterval 300:\n%s", dropIn, b)
		}
		must(t, os.WriteFile(dropIn, []byte(drifted), 0o644))
		return dropIn
	}
	failedHosts := func(r playResult) {
		t.Helper()
		if r.code == 0 {
			t.Errorf("exit 0 with a failed and an unreachable host")
		}
		if rc := r.recap["broken1"]; rc.failed != 1 || r.status[agentTask]["broken1"] != "failed" {
			t.Errorf("broken1: recap %+v, agent task %q; want failed=1 at the agent's task", rc, r.status[agentTask]["broken1"])
		}
		if rc := r.recap["down1"]; rc.unreachable != 1 || rc.changed != 0 {
			t.Errorf("down1: recap %+v, want unreachable=1", rc)
		}
	}

	// First run: install and converge.
	r := f.ansible(inventory)
	failedHosts(r)
	for _, h := range f.good() {
		if rc := r.recap[h.name]; rc.changed < 3 || rc.failed != 0 || rc.unreachable != 0 {
			t.Errorf("%s: first recap %+v, want the agent, its desired file and the agent's run changed", h.name, rc)
		}
		if st := r.status[agentTask][h.name]; st != "changed" {
			t.Errorf("%s: the agent's task is %q, want changed", h.name, st)
		}
		rep := readReport(t, filepath.Join(reports, h.name, "apply.json"))
		if rep.Mode != "apply" || rep.Summary.Changed != 5 || rep.Root != h.tree {
			t.Errorf("%s: fetched report %+v", h.name, rep)
		}
		if n := len(sighup.FindAllString(h.log(), -1)); n != 1 {
			t.Errorf("%s: sshd got %d SIGHUPs, want 1", h.name, n)
		}
		if dump := h.sshdT(t); !strings.Contains(dump, "\nclientaliveinterval 300\n") || !strings.Contains(dump, "\nclientalivecountmax 2\n") {
			t.Errorf("%s: the running sshd does not have the desired keepalive settings", h.name)
		}
		if install == "timer" {
			for src, dst := range map[string]string{
				"sshconverge.service":  "etc/systemd/system/sshconverge.service",
				"sshconverge.timer":    "etc/systemd/system/sshconverge.timer",
				"sshconverge.tmpfiles": "etc/tmpfiles.d/sshconverge.conf",
			} {
				if c, err := os.ReadFile(filepath.Join(h.tree, dst)); err != nil || !sameFile(t, filepath.Join(repoRoot, "examples/systemd", src), c) {
					t.Errorf("%s: %s not installed as %s under the host's root (%v)", h.name, src, dst, err)
				}
			}
			if l, err := os.Readlink(filepath.Join(h.tree, "etc/systemd/system/timers.target.wants/sshconverge.timer")); err != nil || l != "/etc/systemd/system/sshconverge.timer" {
				t.Errorf("%s: timer not enabled under the host's root: %q %v", h.name, l, err)
			}
		}
	}
	if t.Failed() {
		t.Fatalf("output:\n%s", r.out)
	}

	// Second run, with drift made by hand on h2: nothing changes on h1
	// (not even an mtime), and on h2 only the agent's task changes.
	snap := h1.snapshot(t)
	drift()
	r = f.ansible(inventory)
	failedHosts(r)
	if rc := r.recap["h1"]; rc.changed != 0 || rc.failed != 0 {
		t.Errorf("h1: second recap %+v, want changed=0 failed=0", rc)
	}
	if got := h1.snapshot(t); fmt.Sprint(got) != fmt.Sprint(snap) {
		t.Errorf("h1: the second run touched etc/ssh")
	}
	if rc := r.recap["h2"]; rc.changed != 1 || rc.failed != 0 || r.status[agentTask]["h2"] != "changed" {
		t.Errorf("h2: second recap %+v, agent task %q; want changed=1, the agent's", rc, r.status[agentTask]["h2"])
	}
	if dump := h2.sshdT(t); !strings.Contains(dump, "\nclientaliveinterval 300\n") {
		t.Errorf("h2: the drift was not repaired in the running sshd")
	}
	if n := len(sighup.FindAllString(h1.log(), -1)); n != 1 {
		t.Errorf("h1: sshd got %d SIGHUPs after the second run, want still 1", n)
	}
	if t.Failed() {
		t.Fatalf("output:\n%s", r.out)
	}

	// --check: drift is "changed", nothing is written.
	dropIn := drift()
	before := h2.snapshot(t)
	agentStat, err := os.Stat(filepath.Join(h2.tree, "usr/bin/sshconverge"))
	must(t, err)
	r = f.ansible(inventory, "--check", "--limit", "h2")
	if rc := r.recap["h2"]; r.code != 0 || rc.changed != 1 || rc.failed != 0 || r.status[agentTask]["h2"] != "changed" {
		t.Errorf("--check: exit %d, recap %+v, agent task %q; want 0, changed=1, the agent's", r.code, rc, r.status[agentTask]["h2"])
	}
	if got := h2.snapshot(t); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("--check changed %s", dropIn)
	}
	if st, err := os.Stat(filepath.Join(h2.tree, "usr/bin/sshconverge")); err != nil || !st.ModTime().Equal(agentStat.ModTime()) {
		t.Errorf("--check replaced the installed agent (%v)", err)
	}
	if rep := readReport(t, filepath.Join(reports, "h2", "check.json")); rep.Mode != "check" || rep.InSync || rep.Summary.Changed != 1 {
		t.Errorf("h2: fetched check report %+v", rep)
	}
	if t.Failed() {
		t.Logf("output:\n%s", r.out)
	}
}
