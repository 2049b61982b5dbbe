package reliability_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// shared is what TestMain prepares for every test.
var shared struct {
	dir      string // removed when the tests end
	agent    string // the built agent binary
	buildOK  bool
	buildErr string

	keyOnce sync.Once
	key     []byte // an ed25519 host key (private), made once
	keyPub  []byte
	keyErr  error
}

// TestMain builds the agent once; every test runs it as a subprocess.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sshconverge-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The binary must be reachable by the unprivileged impostor tests'
	// users too: the directory is 0755 (MkdirTemp makes it 0700).
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared.dir = dir
	shared.agent = filepath.Join(dir, "sshconverge")
	if prebuilt := os.Getenv("SSHCONVERGE_AGENT"); prebuilt != "" {
		// Another build of the agent (e.g. of an older commit), copied so
		// that every user can run it.
		if b, err := os.ReadFile(prebuilt); err != nil {
			shared.buildErr = fmt.Sprintf("SSHCONVERGE_AGENT: %v", err)
		} else if err := os.WriteFile(shared.agent, b, 0o755); err != nil {
			shared.buildErr = err.Error()
		} else {
			shared.buildOK = true
		}
	} else {
		build := exec.Command("go", "build", "-o", shared.agent, "./cmd/agent")
		build.Dir = filepath.Join("..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			shared.buildErr = fmt.Sprintf("go build ./cmd/agent: %v\n%s", err, out)
		} else {
			shared.buildOK = true
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agentBin returns the built agent, failing the test when the build failed.
func agentBin(t testing.TB) string {
	t.Helper()
	if !shared.buildOK {
		t.Fatal(shared.buildErr)
	}
	return shared.agent
}

// needRoot skips (or fails under CI=true) unless the tests run as root
// with the tools named.
func needRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		opensshtest.Unavailable(t, "needs root: these tests use mount namespaces, bind and tmpfs mounts and setpriv (run go test as root)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			opensshtest.Unavailable(t, "%s is missing (apt-get install -y openssh-server openssh-client util-linux)", tool)
		}
	}
}

// longRun reports whether SSHCONVERGE_RELIABILITY=long asks for the long
// versions.
func longRun() bool { return os.Getenv("SSHCONVERGE_RELIABILITY") == "long" }

// envInt returns the integer in the environment variable name, or def.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

// hostKey returns an ed25519 host key pair, made once per test binary.
func hostKey(t testing.TB) (priv, pub []byte) {
	t.Helper()
	shared.keyOnce.Do(func() {
		p := filepath.Join(shared.dir, "hostkey")
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "reliability", "-f", p).CombinedOutput()
		if err != nil {
			shared.keyErr = fmt.Errorf("ssh-keygen: %v: %s", err, out)
			return
		}
		shared.key, shared.keyErr = os.ReadFile(p)
		if shared.keyErr == nil {
			shared.keyPub, shared.keyErr = os.ReadFile(p + ".pub")
		}
	})
	if shared.keyErr != nil {
		opensshtest.Unavailable(t, "%v (apt-get install -y openssh-client)", shared.keyErr)
	}
	return shared.key, shared.keyPub
}

// writeFiles writes files (paths relative to root) with mode 0644 (host
// keys 0600), making directories 0755.
func writeFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(p, "_key") {
			mode = 0o600
		}
		must(t, os.WriteFile(full, []byte(c), mode))
		must(t, os.Chmod(full, mode))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// withHostKey adds the tree's host key (named by the configurations the
// tests write) to files.
func withHostKey(t testing.TB, files map[string]string) map[string]string {
	t.Helper()
	priv, pub := hostKey(t)
	files["etc/ssh/ssh_host_ed25519_key"] = string(priv)
	files["etc/ssh/ssh_host_ed25519_key.pub"] = string(pub)
	return files
}

// mainConfig is a server main file that includes its drop-in directory
// first, as Debian's does, and names the tree's host key and pid file.
const mainConfig = "Include /etc/ssh/sshd_config.d/*.conf\nHostKey /etc/ssh/ssh_host_ed25519_key\nPidFile /run/sshd.pid\nUsePAM no\n"

// smallTree writes a tree where the desired state smallDesired changes one
// drop-in and creates the agent's own drop-in, and returns its root.
func smallTree(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, withHostKey(t, map[string]string{
		"etc/ssh/sshd_config":                 mainConfig,
		"etc/ssh/sshd_config.d/50-image.conf": "# from the image\nClientAliveInterval 120\n",
	}))
	must(t, os.MkdirAll(filepath.Join(root, "run"), 0o755))
	return root
}

const smallDesired = "version: 1\nsshd:\n  settings:\n    ClientAliveInterval: 300\n    ClientAliveCountMax: 2\n"

// writeDesired writes a desired-state file in a new root-owned directory
// and returns its path.
func writeDesired(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "desired.yaml")
	must(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// result is one finished agent run.
type result struct {
	code     int // exit status, -1 when killed by a signal
	signal   syscall.Signal
	stdout   string
	stderr   string
	wall     time.Duration
	maxRSS   int64         // KiB
	timedOut bool          // killed by the test after its timeout
	memOut   bool          // killed by the test after its memory bound
	signalAt time.Duration // crash tests: when the signal was sent
}

func (r result) String() string {
	s := fmt.Sprintf("exit %d", r.code)
	if r.signal != 0 {
		s = "killed by " + r.signal.String()
	}
	if r.timedOut {
		s += " (timed out)"
	}
	return fmt.Sprintf("%s after %v, max RSS %d MiB\nstdout:\n%s\nstderr:\n%s", s, r.wall.Round(time.Millisecond), r.maxRSS/1024, clip(r.stdout), clip(r.stderr))
}

// clip shortens long output for test logs.
func clip(s string) string {
	if len(s) <= 1600 {
		return s
	}
	return s[:800] + fmt.Sprintf("\n… (%d bytes) …\n", len(s)) + s[len(s)-800:]
}

// runOpts bound a run.
type runOpts struct {
	timeout time.Duration // default 60s
	maxRSS  int64         // KiB; 0 = no bound
	env     []string      // added to the test's environment
	stdin   string
}

// run runs the agent (or argv[0] when it is an absolute path other than
// the agent, e.g. setpriv) to completion, killing it (and recording so)
// after opts.timeout or when its resident memory passes opts.maxRSS.
func run(t testing.TB, opts runOpts, argv ...string) result {
	t.Helper()
	if opts.timeout == 0 {
		opts.timeout = 60 * time.Second
	}
	cmd := command(t, opts, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	must(t, cmd.Start())
	var r result
	done := make(chan struct{})
	go func() {
		defer close(done)
		cmd.Wait()
	}()
	watch := time.NewTicker(5 * time.Millisecond)
	defer watch.Stop()
	deadline := time.After(opts.timeout)
	var peak int64
wait:
	for {
		select {
		case <-done:
			break wait
		case <-deadline:
			r.timedOut = true
			syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		case <-watch.C:
			rss, hwm := memKiB(cmd.Process.Pid)
			peak = max(peak, hwm)
			if opts.maxRSS > 0 && rss > opts.maxRSS {
				r.memOut = true
				syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			}
		}
	}
	r.wall = time.Since(start)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	fill(&r, cmd.ProcessState)
	// The rusage of a child started by vfork and exec counts the test
	// process's own peak (the kernel carries the old mm's high-water mark
	// over exec), so the peak is sampled from /proc/PID/status instead:
	// VmHWM, every 5 ms; a run shorter than that shows its last sample or
	// nothing.
	r.maxRSS = peak
	return r
}

// command makes the exec.Cmd for argv (the agent when argv[0] is "agent").
func command(t testing.TB, opts runOpts, argv ...string) *exec.Cmd {
	t.Helper()
	if argv[0] == "agent" {
		argv = append([]string{agentBin(t)}, argv[1:]...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), opts.env...)
	cmd.Stdin = strings.NewReader(opts.stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// fill records the exit status and resource use of a finished process.
func fill(r *result, ps *os.ProcessState) {
	if ps == nil {
		r.code = -1
		return
	}
	r.code = ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.signal = ws.Signal()
	}
}

// memKiB returns the resident set size of pid and its high-water mark,
// in KiB (0 when it is gone).
func memKiB(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}

// agent runs the agent with args and the default bounds.
func agent(t testing.TB, args ...string) result {
	t.Helper()
	return run(t, runOpts{}, append([]string{"agent"}, args...)...)
}

// snapshot returns every entry under dir: regular files with their bytes
// and mode, symbolic links with their target, directories with their mode.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			m[rel] = "symlink -> " + target
		case d.IsDir():
			m[rel] = "dir " + info.Mode().String()
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] = info.Mode().String() + " " + string(b)
		default:
			m[rel] = info.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return m
}

// diffSnapshots lists what differs between two snapshots.
func diffSnapshots(before, after map[string]string) []string {
	var d []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			d = append(d, "deleted: "+p)
		case a != b:
			d = append(d, "changed: "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			d = append(d, "created: "+p)
		}
	}
	sort.Strings(d)
	return d
}

// tempFiles returns the agent's temp files (".NAME.sshconverge-HEX.tmp")
// under dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && isTempName(d.Name()) {
			out = append(out, p)
		}
		return nil
	})
	must(t, err)
	return out
}

func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".sshconverge-") && strings.HasSuffix(name, ".tmp")
}

// nsScript runs a shell script as root in a private mount namespace
// (mounts made there vanish with it, whatever happens to the test) and
// returns its combined output; args are the script's $1….
func nsScript(t testing.TB, timeout time.Duration, script string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"-m", "--propagation", "private", "/bin/sh", "-c", script, "sh"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return string(out), err
}

// readState returns the pending-reload record of a tree's state
// directory: whether the file exists and whether it says a reload is due.
func readState(t testing.TB, root string) (exists, pending bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "var/lib/sshconverge/state.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, false
	}
	must(t, err)
	return true, bytes.Contains(b, []byte(`"reload_pending":true`))
}
