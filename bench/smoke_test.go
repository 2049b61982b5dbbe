// Package bench_test keeps bench/run.sh from rotting: the scripts must
// parse (and pass shellcheck where it is installed), and with
// SSHCONVERGE_BENCH_SMOKE=1 `bench/run.sh --quick` must run end to end and
// produce every table, the finding and the plot. It never asserts a time or
// a memory figure: performance targets are reported by run.sh, not tested.
//
//	SSHCONVERGE_BENCH_SMOKE=1 go test ./bench -run Smoke -v
//
// SSHCONVERGE_BENCH_ARGS adds arguments to run.sh (e.g. "--rev HEAD"). The
// smoke run needs root, and installs what is missing as run.sh does.
package bench_test

import (
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestScriptsParse(t *testing.T) {
	for _, s := range []struct{ shell, file string }{
		{"bash", "run.sh"}, {"bash", "gobench.sh"}, {"sh", "ns.sh"},
	} {
		if out, err := exec.Command(s.shell, "-n", s.file).CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", s.shell, s.file, err, out)
		}
	}
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Log("shellcheck not installed; only the syntax was checked")
		return
	}
	if out, err := exec.Command(sc, "-x", "run.sh", "gobench.sh", "ns.sh").CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

func TestSmokeQuick(t *testing.T) {
	if os.Getenv("SSHCONVERGE_BENCH_SMOKE") != "1" {
		t.Skip("set SSHCONVERGE_BENCH_SMOKE=1 to run bench/run.sh --quick (root, about a minute)")
	}
	out := t.TempDir()
	args := append([]string{"run.sh", "--quick", "--out", out}, strings.Fields(os.Getenv("SSHCONVERGE_BENCH_ARGS"))...)
	cmd := exec.Command("bash", args...)
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench/run.sh --quick: %v\n%s", err, log)
	}
	t.Logf("bench/run.sh --quick:\n%s", log)

	f, err := os.Open(filepath.Join(out, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		section, tool, exit := r[col["section"]], r[col["tool"]], r[col["exit"]]
		seen[section+"/"+tool] = true
		seen[section+"/"+r[col["case"]]+"/"+tool] = true
		if tool == "sshd -t" {
			if exit != "0" {
				t.Errorf("%v: sshd -t rejects a generated tree", r)
			}
			continue
		}
		if med, err := strconv.ParseFloat(r[col["median_s"]], 64); err != nil || med <= 0 {
			t.Errorf("%v: median %q", r, r[col["median_s"]])
		}
		if rss, err := strconv.Atoi(r[col["rss_kb"]]); err != nil || rss <= 0 {
			t.Errorf("%v: peak RSS %q", r, r[col["rss_kb"]])
		}
		want := "0"
		if strings.HasPrefix(tool, "agent --check") && r[col["case"]] != "recheck-daemon" {
			want = "2" // drift: every input but the converged daemon's tree leaves the agent work to do
		}
		if exit != want {
			t.Errorf("%v: exit %s, want %s", r, exit, want)
		}
	}
	for _, k := range []string{
		"floor/go hello-world",
		"keepalive/agent --check", "keepalive/ansible-playbook --check", "keepalive/agent", "keepalive/ansible-playbook",
		"hosts/agent --check", "hosts/ssh -G", "bigfile/agent --check", "bigfile/ssh -G",
		"keys/1/agent --check", "keys/16/agent --check",
		"dropins/agent --check", "dropins/sshd -T", "dropins/sshd -t",
		"keepalive/recheck/agent --check",        // the cron case: sshd's verdict remembered
		"keepalive/recheck-debian/agent --check", // the same with dpkg's status file
		"keepalive/recheck-daemon/agent --check", // the same with sshd running
	} {
		if !seen[k] {
			t.Errorf("results.csv has no %s row", k)
		}
	}

	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"## Keepalive on the Debian demo tree", "## ssh_config growth", "## Keys per plan", "## sshd drop-in growth",
		"## Targets of issue 12", "## Does the edit take effect?",
		"| audit again, same files (the cron case) |",
		"| the cron case on a Debian host (dpkg status of 1,500 packages) |",
		"| the cron case with sshd running, converged (exit 0) |",
		// The finding: Ansible's lineinfile loses to the cloud-init drop-in.
		"| sshd clientaliveinterval | 300 | 300 | 120 **(wrong)** |",
	} {
		if !strings.Contains(string(md), s) {
			t.Errorf("results.md lacks %q", s)
		}
	}
	svg, err := os.ReadFile(filepath.Join(out, "plot.svg"))
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Errorf("plot.svg: %v, %.60q", err, svg)
	}
}
