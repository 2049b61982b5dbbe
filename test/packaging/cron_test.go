package packaging_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cronEntry is examples/cron/sshconverge, parsed as cron reads a cron.d
// file: environment lines, then "m h dom mon dow user command".
type cronEntry struct {
	env      map[string]string
	schedule []string
	user     string
	command  string
}

func parseCron(t *testing.T) cronEntry {
	t.Helper()
	path := filepath.Join(repoRoot(t), "examples", "cron", "sshconverge")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), "\n") {
		t.Errorf("%s does not end with a newline: cron ignores a last line without one", path)
	}
	if strings.Contains(filepath.Base(path), ".") {
		t.Errorf("%s: cron skips files in cron.d whose names have a dot", path)
	}
	e := cronEntry{env: map[string]string{}}
	envLine := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$`)
	jobs := 0
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if m := envLine.FindStringSubmatch(line); m != nil {
			e.env[m[1]] = m[2]
			continue
		}
		f := strings.Fields(line)
		if len(f) < 7 {
			t.Fatalf("%s:%d: not a cron.d job line (m h dom mon dow user command): %q", path, n, line)
		}
		jobs++
		e.schedule, e.user = f[:5], f[5]
		// The command is the rest of the line, as written.
		rest := line
		for i := 0; i < 6; i++ {
			rest = strings.TrimLeft(rest, " \t")
			rest = rest[strings.IndexAny(rest, " \t"):]
		}
		e.command = strings.TrimSpace(rest)
	}
	if jobs != 1 {
		t.Fatalf("%s: %d job lines, want 1", path, jobs)
	}
	return e
}

// TestCronEntry checks the cron.d entry and then runs its command through
// /bin/sh -c, as cron does, with cron's environment (the file's variables,
// HOME, LOGNAME). Only what points at this machine is rewritten: the
// binary becomes the one built from this tree, --root goes to a copy of
// examples/demo-root, the desired file is a copy of examples/keepalive.yaml,
// and --splay 10m becomes 2s (the flag itself stays, and is exercised).
// logger is a stand-in first on PATH that records its arguments and what
// it read, so nothing reaches this machine's syslog. A --check afterwards
// must find the tree in sync.
func TestCronEntry(t *testing.T) {
	e := parseCron(t)
	if e.user != "root" {
		t.Errorf("user field %q, want root", e.user)
	}
	if want := []string{"*/30", "*", "*", "*", "*"}; strings.Join(e.schedule, " ") != strings.Join(want, " ") {
		t.Errorf("schedule %v, want %v", e.schedule, want)
	}
	path := e.env["PATH"]
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if !contains(strings.Split(path, ":"), dir) {
			t.Errorf("PATH=%q lacks %s (sshd, nsenter, systemctl, service live there)", path, dir)
		}
	}
	if e.env["SHELL"] != "/bin/sh" {
		t.Errorf("SHELL=%q, want /bin/sh", e.env["SHELL"])
	}
	for _, want := range []string{installedBinary + " ", " --splay 10m ", " " + desiredPath + " ", "| logger -t sshconverge"} {
		if !strings.Contains(e.command, want) {
			t.Errorf("command lacks %q: %s", want, e.command)
		}
	}
	if strings.Contains(e.command, "%") {
		t.Errorf("command has %%, which cron turns into a newline: %s", e.command)
	}

	need(t, "sh", "unshare", "/usr/sbin/sshd")
	needRoot(t, "the agent validates the tree with sshd -t in a private mount namespace")
	tree := demoRoot(t)
	// node_exporter's textfile directory, as prometheus-node-exporter
	// creates it.
	mustDo(t, os.MkdirAll(filepath.Join(tree, "var/lib/prometheus/node-exporter"), 0o755))
	keepalive, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "keepalive.yaml"))
	mustDo(t, err)
	desired := writeDesired(t, string(keepalive))
	bin := agentBinary(t)

	cmdline := e.command
	for _, r := range [][2]string{
		{installedBinary + " ", bin + " --root " + tree + " "},
		{" " + desiredPath + " ", " " + desired + " "},
		{" --splay 10m ", " --splay 2s "},
	} {
		if strings.Count(cmdline, r[0]) != 1 {
			t.Fatalf("command has %q %d times: %s", r[0], strings.Count(cmdline, r[0]), cmdline)
		}
		cmdline = strings.Replace(cmdline, r[0], r[1], 1)
	}
	stub := t.TempDir()
	record := filepath.Join(stub, "logged")
	mustDo(t, os.WriteFile(filepath.Join(stub, "logger"), []byte("#!/bin/sh\nprintf '%s\\n' \"$*\" >\""+record+".args\"\ncat >\""+record+"\"\n"), 0o755))

	cmd := exec.Command("/bin/sh", "-c", cmdline)
	cmd.Dir = "/"
	cmd.Env = []string{"SHELL=" + e.env["SHELL"], "PATH=" + stub + ":" + path, "HOME=/root", "LOGNAME=root"}
	for k, v := range e.env {
		if k != "PATH" && k != "SHELL" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	t.Logf("running: /bin/sh -c %q", cmdline)
	start := time.Now()
	code, out := run(t, cmd)
	took := time.Since(start)
	logged, _ := os.ReadFile(record)
	args, _ := os.ReadFile(record + ".args")
	t.Logf("exit %d in %v; logger %s; it read:\n%s", code, took, strings.TrimSpace(string(args)), logged)
	if code != 0 || out != "" {
		t.Errorf("cron's command: exit %d, output %q (cron would mail it)", code, out)
	}
	if !strings.HasPrefix(string(args), "-t sshconverge") {
		t.Errorf("logger was run with %q", args)
	}
	if !strings.Contains(string(logged), "changed=5") {
		t.Errorf("the log does not show the run's report (changed=5)")
	}
	if took > 2*time.Second+time.Minute {
		t.Errorf("the run took %v with --splay 2s", took)
	}

	check := exec.Command(bin, "--check", "--root", tree, desired)
	if code, out := run(t, check); code != 0 {
		t.Errorf("--check after the cron run: exit %d, want 0 (in sync)\n%s", code, out)
	}
	metrics := filepath.Join(tree, "var/lib/prometheus/node-exporter/sshconverge.prom")
	if b, err := os.ReadFile(metrics); err != nil {
		t.Errorf("metrics file (taken under --root): %v", err)
	} else {
		checkPromText(t, string(b))
	}
}

// checkPromText checks that s is Prometheus text exposition: comments,
// and "name{labels} value" samples.
func checkPromText(t *testing.T, s string) {
	t.Helper()
	sample := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfNa]+( [0-9]+)?$`)
	n := 0
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if !sample.MatchString(line) {
			t.Errorf("metrics line is not a Prometheus sample: %q", line)
		}
		n++
	}
	if n == 0 {
		t.Errorf("metrics file has no samples:\n%s", s)
	}
}
