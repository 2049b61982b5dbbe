package fleet_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBootstrapScaling measures how many hosts a minute bootstrap.sh
// handles at several -j, on 5, 10 and 20 namespace hosts: a first run
// (copy the agent and desired file, check, apply, reload sshd) and a
// steady-state run (nothing to copy or change). It is a measurement, not a
// check: it runs only with SSHCONVERGE_FLEET_SCALING=1, and prints a table
// for docs/fleet.md. SSHCONVERGE_FLEET_SIZES and SSHCONVERGE_FLEET_JOBS
// (comma-separated) change the grid.
func TestBootstrapScaling(t *testing.T) {
	if os.Getenv("SSHCONVERGE_FLEET_SCALING") != "1" {
		t.Skip("a measurement: run with SSHCONVERGE_FLEET_SCALING=1")
	}
	sizes := intList(t, os.Getenv("SSHCONVERGE_FLEET_SIZES"), []int{5, 10, 20})
	jobs := intList(t, os.Getenv("SSHCONVERGE_FLEET_JOBS"), []int{1, 4, 8})
	agent := agentBinary(t)
	desired := filepath.Join(repoRoot, "examples/keepalive.yaml")
	var table strings.Builder
	fmt.Fprintf(&table, "| hosts | -j | first run (s) | hosts/min | controller CPU s/host | steady run (s) | hosts/min | controller CPU s/host | load avg |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		t.Run(fmt.Sprintf("%dhosts", n), func(t *testing.T) {
			kinds := make([]hostKind, n)
			f := newFleet(t, kinds...)
			orig := map[string]map[string][]byte{}
			for _, h := range f.hosts {
				orig[h.name] = readTree(t, h.tree)
			}
			inv := fleetInventory(t, f, f.hosts)
			for _, j := range jobs {
				for _, h := range f.hosts {
					resetTree(t, h.tree, orig[h.name])
				}
				results := filepath.Join(t.TempDir(), "results")
				args := []string{"-i", inv, "-d", desired, "-b", agent, "-j", strconv.Itoa(j), "-o", results, "--reload", "signal"}
				first := timeRun(t, f, n, args)
				firstCPU := f.lastCPU.Seconds() / float64(n)
				steady := timeRun(t, f, n, args)
				steadyCPU := f.lastCPU.Seconds() / float64(n)
				load, _ := os.ReadFile("/proc/loadavg")
				fmt.Fprintf(&table, "| %d | %d | %.1f | %.0f | %.2f | %.1f | %.0f | %.2f | %s |\n", n, j,
					first, float64(n)*60/first, firstCPU, steady, float64(n)*60/steady, steadyCPU,
					strings.Join(strings.Fields(string(load))[:3], " "))
			}
		})
	}
	t.Logf("bootstrap.sh scaling (nproc %d):\n%s", runtime.NumCPU(), table.String())
}

// TestAnsibleScaling measures examples/ansible/site.yml the same way, on
// SSHCONVERGE_FLEET_ANSIBLE_SIZES hosts (default 10) at
// SSHCONVERGE_FLEET_ANSIBLE_FORKS (default 4,10). Opt-in, like
// TestBootstrapScaling.
func TestAnsibleScaling(t *testing.T) {
	if os.Getenv("SSHCONVERGE_FLEET_SCALING") != "1" {
		t.Skip("a measurement: run with SSHCONVERGE_FLEET_SCALING=1")
	}
	sizes := intList(t, os.Getenv("SSHCONVERGE_FLEET_ANSIBLE_SIZES"), []int{10})
	forks := intList(t, os.Getenv("SSHCONVERGE_FLEET_ANSIBLE_FORKS"), []int{4, 10})
	agent := agentBinary(t)
	var table strings.Builder
	fmt.Fprintf(&table, "| hosts | forks | first run (s) | hosts/min | controller CPU s/host | steady run (s) | hosts/min | controller CPU s/host | load avg |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		t.Run(fmt.Sprintf("%dhosts", n), func(t *testing.T) {
			f := newFleet(t, make([]hostKind, n)...)
			orig := map[string]map[string][]byte{}
			for _, h := range f.hosts {
				orig[h.name] = readTree(t, h.tree)
			}
			inv := f.ansibleInventory(agent, filepath.Join(t.TempDir(), "reports"), "none")
			for _, fk := range forks {
				for _, h := range f.hosts {
					resetTree(t, h.tree, orig[h.name])
				}
				run := func() (float64, float64) {
					start := time.Now()
					r := f.ansible(inv, "-f", strconv.Itoa(fk))
					d := time.Since(start).Seconds()
					for _, h := range f.hosts {
						if rc := r.recap[h.name]; rc.failed != 0 || rc.unreachable != 0 {
							t.Fatalf("%s: recap %+v\n%s", h.name, rc, r.out)
						}
					}
					return d, f.lastCPU.Seconds() / float64(n)
				}
				first, firstCPU := run()
				steady, steadyCPU := run()
				load, _ := os.ReadFile("/proc/loadavg")
				fmt.Fprintf(&table, "| %d | %d | %.1f | %.0f | %.2f | %.1f | %.0f | %.2f | %s |\n", n, fk,
					first, float64(n)*60/first, firstCPU, steady, float64(n)*60/steady, steadyCPU,
					strings.Join(strings.Fields(string(load))[:3], " "))
			}
		})
	}
	t.Logf("site.yml scaling (nproc %d):\n%s", runtime.NumCPU(), table.String())
}

// timeRun runs bootstrap.sh and returns its wall time in seconds; every
// host must end ok or changed.
func timeRun(t *testing.T, f *fleet, n int, args []string) float64 {
	t.Helper()
	start := time.Now()
	code, stdout, stderr := f.inControl(10*time.Minute, nil, append([]string{"bash", bootstrapScript, "-F", f.sshConfig}, args...)...)
	d := time.Since(start).Seconds()
	if code != 0 {
		t.Fatalf("bootstrap.sh exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, fmt.Sprintf("%d hosts in", n)) {
		t.Fatalf("unexpected closing line:\n%s", stdout)
	}
	return d
}

// readTree returns the bytes of every regular file under dir.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = b
		return err
	}))
	return m
}

// resetTree puts a host's etc/ssh back as it was made, and removes what
// bootstrap.sh and the agent installed, so that the next run is a first
// run again.
func resetTree(t *testing.T, dir string, orig map[string][]byte) {
	t.Helper()
	for _, p := range []string{"usr", "var/lib/sshconverge", "etc/sshconverge"} {
		must(t, os.RemoveAll(filepath.Join(dir, p)))
	}
	must(t, filepath.WalkDir(filepath.Join(dir, "etc/ssh"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if _, ok := orig[p]; !ok {
			return os.Remove(p)
		}
		return nil
	}))
	for p, b := range orig {
		if strings.Contains(p, "/etc/ssh/") {
			must(t, os.WriteFile(p, b, 0o644))
		}
	}
}

func intList(t *testing.T, s string, def []int) []int {
	t.Helper()
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("%q: want positive numbers separated by commas", s)
		}
		out = append(out, n)
	}
	return out
}
