package fleet_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

var bootstrapScript = filepath.Join(repoRoot, "examples/fleet/bootstrap.sh")

// TestShellcheck lints the fleet scripts with Debian's shellcheck.
func TestShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		opensshtest.Unavailable(t, "shellcheck is missing (apt-get install -y shellcheck)")
	}
	scripts := []string{bootstrapScript, filepath.Join(repoRoot, ".ci/setup.d/40-fleet.sh")}
	if out, err := exec.Command("shellcheck", append([]string{"-x"}, scripts...)...).CombinedOutput(); err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

// TestBootstrapInventoryErrors: every malformed line is reported as
// FILE:LINE, and nothing is contacted or created.
func TestBootstrapInventoryErrors(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is missing")
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory")
	must(t, os.WriteFile(inv, []byte(`# the fleet
web1 port=22 user=deploy root=/srv/web1   # fine
-oProxyCommand=evil
web2 port=70000
web3 root=relative/dir
web4 root=/srv/../etc
web1
web5 user=a;b
web6 colour=blue port=22 port=23
web7 justaword
web8 pidfile=/run/sshd.pid
`), 0o644))
	results := filepath.Join(dir, "results")
	out, err := exec.Command("bash", bootstrapScript, "-i", inv, "-d", filepath.Join(repoRoot, "examples/keepalive.yaml"), "-o", results).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		inv + ":3: '-oProxyCommand=evil' is not a host name or address",
		inv + ":4: port=70000: want 1 to 65535",
		inv + ":5: root=relative/dir: want a clean absolute path",
		inv + ":6: root=/srv/../etc: want a clean absolute path",
		inv + ":7: web1 is already listed on line 2",
		inv + ":8: user=a;b: not a user name",
		inv + ":9: colour=blue: unknown key",
		inv + ":9: port given twice",
		inv + ":10: 'justaword': want key=value",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(string(out), ":2:") || strings.Contains(string(out), ":11:") {
		t.Errorf("a good line was reported:\n%s", out)
	}
	if _, err := os.Stat(results); !os.IsNotExist(err) {
		t.Errorf("results directory made for a rejected inventory (%v)", err)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// row is one line of bootstrap.sh's table (RESULTS_DIR/summary.tsv).
type row struct {
	host, openssh, status, drifted, changed, err string
}

// hostLogs returns what bootstrap.sh kept of one host's run (its results
// directory, file by file), for a failure's message.
func hostLogs(results, host string) string {
	var b strings.Builder
	dir := filepath.Join(results, host)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			data = []byte(err.Error())
		}
		fmt.Fprintf(&b, "--- %s:\n%s\n", e.Name(), data)
	}
	return b.String()
}

// readSummary reads RESULTS_DIR/summary.tsv by host.
func readSummary(t *testing.T, results string) map[string]row {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(results, "summary.tsv"))
	must(t, err)
	rows := map[string]row{}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "HOST\tOPENSSH\tSTATUS\tDRIFTED\tCHANGED\tERROR" {
		t.Fatalf("summary.tsv header %q", lines[0])
	}
	for _, l := range lines[1:] {
		c := strings.Split(l, "\t")
		if len(c) != 6 {
			t.Fatalf("summary.tsv line %q: %d cells", l, len(c))
		}
		rows[c[0]] = row{c[0], c[1], c[2], c[3], c[4], c[5]}
	}
	return rows
}

// report is the part of the agent's JSON report the tests read.
type report struct {
	Host          string `json:"host"`
	Mode          string `json:"mode"`
	Root          string `json:"root"`
	InSync        bool   `json:"in_sync"`
	ReloadPending bool   `json:"reload_pending"`
	Summary       struct {
		OK, Changed, Conflict int
	} `json:"summary"`
	SchemaVersion  any    `json:"schema_version"`
	OpenSSHVersion string `json:"openssh_version"`
}

func readReport(t *testing.T, path string) report {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return r
}

// fleetInventory writes an inventory of the fleet's hosts: each with
// root=its tree, the first with every other field too.
func fleetInventory(t *testing.T, f *fleet, hosts []*testHost) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# written by the fleet test\n\n")
	for i, h := range hosts {
		extra := ""
		if i == 0 {
			extra = " port=22 user=root pidfile=/run/sshd.pid"
		}
		fmt.Fprintf(&b, "%s root=%s%s   # %s\n", h.name, h.tree, extra, h.addr)
	}
	p := filepath.Join(t.TempDir(), "inventory")
	must(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

// bootstrap runs bootstrap.sh in the controller namespace.
func (f *fleet) bootstrap(args ...string) (code int, stdout, stderr string) {
	f.t.Helper()
	start := time.Now()
	code, stdout, stderr = f.inControl(4*time.Minute, nil, append([]string{"bash", bootstrapScript, "-F", f.sshConfig}, args...)...)
	f.t.Logf("bootstrap.sh %s: exit %d in %.1f s\n%s%s", strings.Join(args, " "), code, time.Since(start).Seconds(), stdout, stderr)
	return code, stdout, stderr
}

// schedule returns the --install kind the other half of the fleet work
// ships files for (examples/cron, examples/systemd), preferring want.
func schedule(t *testing.T, want string) string {
	files := map[string][]string{
		"cron":  {"examples/cron/sshconverge"},
		"timer": {"examples/systemd/sshconverge.service", "examples/systemd/sshconverge.timer", "examples/systemd/sshconverge.tmpfiles"},
	}[want]
	for _, p := range files {
		if _, err := os.Stat(filepath.Join(repoRoot, p)); err != nil {
			t.Logf("%s is missing: not testing --install %s", p, want)
			return "none"
		}
	}
	return want
}

var sighup = regexp.MustCompile(`Received SIGHUP`)

// TestBootstrapFleet runs bootstrap.sh against five namespace hosts, one
// whose configuration the agent rejects, one where nothing listens, and
// one whose host key is not in known_hosts: the good hosts converge (sshd
// reloaded by signal, as its pid file says), the table says so, the other
// three fail without stopping the rest, and the exit status is 1. A second run changes nothing (not even an mtime) and
// copies no agent; a --check-only run reports drift made by hand, exit 2,
// and writes nothing.
func TestBootstrapFleet(t *testing.T) {
	t.Parallel()
	f := newFleet(t, goodHost, goodHost, goodHost, goodHost, goodHost, brokenHost, downHost)
	inv := fleetInventory(t, f, f.hosts)
	// h1 once more, under a name whose host key is not known: refused.
	appendFile(t, inv, fmt.Sprintf("%s root=%s\n", unknownKeyHost, f.host("h1").tree))
	desired := filepath.Join(repoRoot, "examples/keepalive.yaml")
	results := filepath.Join(t.TempDir(), "results")

	// First run: no -b, so bootstrap.sh builds the agent itself. Built once
	// here first (the Ansible test needs it too), its packages are in Go's
	// cache, and bootstrap.sh's build only links.
	agentBinary(t)
	install := schedule(t, "cron")
	code, stdout, stderr := f.bootstrap("-i", inv, "-d", desired, "-j", "4", "-t", "90", "-o", results, "--reload", "signal", "--install", install)
	if code != 1 {
		t.Fatalf("first run: exit %d, want 1 (three hosts fail)\nstderr:\n%s", code, stderr)
	}
	rows := readSummary(t, results)
	if len(rows) != len(f.hosts)+1 {
		t.Fatalf("table has %d rows, want %d", len(rows), len(f.hosts)+1)
	}
	var binary []byte
	for _, h := range f.good() {
		r := rows[h.name]
		if r.status != "changed" || r.drifted != "5" || r.changed != "5" || r.err != "-" || !regexp.MustCompile(`^[0-9]+\.[0-9]+(p[0-9]+)?$`).MatchString(r.openssh) {
			t.Errorf("%s: row %+v, want changed, 5 drifted, 5 changed, an OpenSSH version, no error", h.name, r)
		}
		check := readReport(t, filepath.Join(results, h.name, "check.json"))
		apply := readReport(t, filepath.Join(results, h.name, "apply.json"))
		if check.Mode != "check" || check.InSync || check.Summary.Changed != 5 || check.Root != h.tree {
			t.Errorf("%s: check report %+v", h.name, check)
		}
		if apply.Mode != "apply" || apply.Summary.Changed != 5 {
			t.Errorf("%s: apply report %+v", h.name, apply)
		}
		if n := len(sighup.FindAllString(h.log(), -1)); n != 1 {
			t.Errorf("%s: sshd got %d SIGHUPs, want 1:\n%s", h.name, n, h.log())
		}
		dump := h.sshdT(t)
		for _, want := range []string{"\nclientaliveinterval 300\n", "\nclientalivecountmax 2\n", "\nlistenaddress " + h.addr + ":22\n"} {
			if !strings.Contains(dump, want) {
				t.Errorf("%s: the running sshd's configuration lacks %q", h.name, strings.TrimSpace(want))
			}
		}
		b, err := os.ReadFile(filepath.Join(h.tree, "usr/bin/sshconverge"))
		must(t, err)
		if binary == nil {
			binary = b
		} else if string(b) != string(binary) {
			t.Errorf("%s got another agent binary", h.name)
		}
		if d, err := os.ReadFile(filepath.Join(h.tree, "etc/sshconverge/desired.yaml")); err != nil || !sameFile(t, desired, d) {
			t.Errorf("%s: desired file not installed (%v)", h.name, err)
		}
		if install == "cron" {
			if c, err := os.ReadFile(filepath.Join(h.tree, "etc/cron.d/sshconverge")); err != nil || !sameFile(t, filepath.Join(repoRoot, "examples/cron/sshconverge"), c) {
				t.Errorf("%s: cron entry not installed under the host's root (%v)", h.name, err)
			}
		}
	}
	if r := rows["broken1"]; r.status != "failed" || !strings.Contains(r.err, "ClientAliveIntervall") || !strings.Contains(r.err, "60-typo.conf") {
		t.Errorf("broken1: row %+v, want failed naming the misspelt keyword and its file", r)
	}
	if r := rows["down1"]; r.status != "failed" || !strings.Contains(r.err, "Connection refused") {
		t.Errorf("down1: row %+v, want failed: connection refused", r)
	}
	if r := rows[unknownKeyHost]; r.status != "failed" || !strings.Contains(r.err, "Host key verification failed") {
		t.Errorf("%s: row %+v, want failed: host key verification failed", unknownKeyHost, r)
	}
	if !strings.Contains(stdout, "ok=0 changed=5 drift=0 failed=3") {
		t.Errorf("the closing line is wrong:\n%s", stdout)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Second run: nothing to do, the agent is not copied again.
	snaps := map[string]map[string]string{}
	for _, h := range f.good() {
		snaps[h.name] = h.snapshot(t)
	}
	install2 := schedule(t, "timer")
	code, _, stderr = f.bootstrap("-i", inv, "-d", desired, "-j", "8", "-t", "90", "-o", results, "--reload", "signal", "--install", install2)
	if code != 1 {
		t.Fatalf("second run: exit %d, want 1\nstderr:\n%s", code, stderr)
	}
	rows = readSummary(t, results)
	for _, h := range f.good() {
		if r := rows[h.name]; r.status != "ok" || r.drifted != "0" || r.changed != "0" {
			t.Errorf("%s: second run row %+v, want ok 0 0\n%s", h.name, r, hostLogs(results, h.name))
		}
		if got := h.snapshot(t); fmt.Sprint(got) != fmt.Sprint(snaps[h.name]) {
			t.Errorf("%s: the second run touched etc/ssh", h.name)
		}
		if n := len(sighup.FindAllString(h.log(), -1)); n != 1 {
			t.Errorf("%s: sshd got %d SIGHUPs after the second run, want still 1", h.name, n)
		}
		logb, _ := os.ReadFile(filepath.Join(results, h.name, "bootstrap.log"))
		if !strings.Contains(string(logb), "agent unchanged") || !strings.Contains(string(logb), "desired state unchanged") {
			t.Errorf("%s: the second run copied the agent or desired file again (the build is not reproducible?):\n%s", h.name, logb)
		}
		if install2 == "timer" {
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

	// Drift made by hand on h2 is reported by --check-only, which writes
	// nothing; exit 2 (no host failed).
	h2 := f.host("h2")
	dropIn := filepath.Join(h2.tree, "etc/ssh/sshd_config.d/00-sshconverge.conf") // where the agent set it (cloud-init's own file is left alone)
	b, err := os.ReadFile(dropIn)
	must(t, err)
	drifted := strings.Replace(string(b), "ClientAliveInterval 300", "ClientAliveInterval 120", 1)
	must(t, os.WriteFile(dropIn, []byte(drifted), 0o644))
	agent := filepath.Join(f.host("h1").tree, "usr/bin/sshconverge")
	goodInv := fleetInventory(t, f, f.good())
	code, _, stderr = f.bootstrap("-i", goodInv, "-d", desired, "-b", agent, "-j", "8", "-o", results, "--check-only")
	if code != 2 {
		t.Fatalf("--check-only with drift: exit %d, want 2\nstderr:\n%s", code, stderr)
	}
	rows = readSummary(t, results)
	for _, h := range f.good() {
		want := row{h.name, rows[h.name].openssh, "ok", "0", "-", "-"}
		if h == h2 {
			want.status, want.drifted = "drift", "1"
		}
		if rows[h.name] != want {
			t.Errorf("%s: --check-only row %+v, want %+v", h.name, rows[h.name], want)
		}
		if _, err := os.Stat(filepath.Join(results, h.name, "apply.json")); !os.IsNotExist(err) {
			t.Errorf("%s: --check-only ran apply (%v)", h.name, err)
		}
	}
	if after, _ := os.ReadFile(dropIn); string(after) != drifted {
		t.Errorf("--check-only changed %s", dropIn)
	}
}

// sameFile reports whether got has the bytes of the file at path.
func sameFile(t *testing.T, path string, got []byte) bool {
	t.Helper()
	want, err := os.ReadFile(path)
	must(t, err)
	return string(want) == string(got)
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString(text)
	must(t, err)
	must(t, f.Close())
}
