// Package packaging_test checks what ships sshconverge to machines: the
// systemd units and the cron entry in examples/, the Debian package built
// by packaging/deb/build.sh, and the Dockerfile's build. Every agent run
// here works on a temporary --root tree; the machine's own /etc/ssh and
// any sshd it runs are never touched.
//
// Missing tools skip a test, and fail it when CI=true
// (opensshtest.Unavailable); .ci/setup.d/45-packaging.sh installs them.
package packaging_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// shared holds what several tests build once.
var shared struct {
	dir string // removed when the tests end

	agentOnce sync.Once
	agent     string
	agentErr  error

	debOnce sync.Once
	deb     string
	debErr  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sshconverge-packaging-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Stamps given to every binary the tests build.
const (
	stampVersion = "9.8.7-test"
	stampCommit  = "0123456789abcdef0123456789abcdef01234567"
	stampDate    = "2026-01-02T03:04:05Z"
)

// repoRoot is the module's root: this package lives in test/packaging.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err != nil || !bytes.Contains(b, []byte("module github.com/sshconverge/agent\n")) {
		t.Fatalf("%s is not the sshconverge module root", dir)
	}
	return dir
}

// need skips (or fails under CI=true) when a tool is missing.
func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			opensshtest.Unavailable(t, "%s is missing; run .ci/setup.d/45-packaging.sh as root (or apt-get install the package that has it)", tool)
		}
	}
}

// needRoot skips (or fails under CI=true) unless the tests run as root.
func needRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		opensshtest.Unavailable(t, "needs root: %s", why)
	}
}

// goTool is the go command on PATH (go test puts its own first).
func goTool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		opensshtest.Unavailable(t, "the go command is not on PATH")
	}
	return p
}

// agentBinary builds ./cmd/agent once, as the README's build line does,
// and returns its path.
func agentBinary(t testing.TB) string {
	t.Helper()
	shared.agentOnce.Do(func() {
		out := filepath.Join(shared.dir, "bin", "sshconverge")
		cmd := exec.Command(goTool(t), "build", "-trimpath", "-ldflags",
			fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s -X main.date=%s", stampVersion, stampCommit, stampDate),
			"-o", out, "./cmd/agent")
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			shared.agentErr = fmt.Errorf("go build: %v\n%s", err, b)
			return
		}
		shared.agent = out
	})
	if shared.agentErr != nil {
		t.Fatal(shared.agentErr)
	}
	return shared.agent
}

// run runs a command and returns its exit code and combined output; a
// command that cannot start fails the test.
func run(t testing.TB, cmd *exec.Cmd) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		return 0, out.String()
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	return -1, ""
}

// copyTree copies the regular files, directories and symlinks under src
// to dst, keeping modes.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// demoRoot copies examples/demo-root to a temp dir and gives it host keys
// (a real machine has them, and sshd -t refuses to validate without).
func demoRoot(t testing.TB) string {
	t.Helper()
	need(t, "ssh-keygen")
	tree := t.TempDir()
	copyTree(t, filepath.Join(repoRoot(t), "examples", "demo-root"), tree)
	if code, out := run(t, exec.Command("ssh-keygen", "-A", "-f", tree)); code != 0 {
		t.Fatalf("ssh-keygen -A: exit %d\n%s", code, out)
	}
	return tree
}

// writeDesired writes a desired-state file into a fresh temp dir, mode
// 0600 (the agent refuses a file others may write).
func writeDesired(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "desired.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// treeDigest maps every file and symlink under dir to a digest of its
// mode, owner and content (or link target).
func treeDigest(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h := sha256.New()
		fmt.Fprintf(h, "%v %v|", info.Mode(), ownerOf(info))
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			h.Write([]byte(l))
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		m[p] = fmt.Sprintf("%x", h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// diffDigests lists the paths whose digest differs, appeared or vanished.
func diffDigests(before, after map[string]string) []string {
	var d []string
	for p, h := range before {
		if after[p] != h {
			d = append(d, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			d = append(d, p)
		}
	}
	return d
}

// gzipFile writes data gzip-compressed to path.
func gzipFile(t testing.TB, path string, data []byte) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unit is a parsed systemd unit file: section, then directive, then every
// value in file order (an empty assignment resets the list, as systemd
// does).
type unit map[string]map[string][]string

func parseUnit(t testing.TB, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasSuffix(line, "\\"):
			t.Fatalf("%s:%d: continuation lines are not used in these units", path, n)
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not a directive in a section: %q", path, n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "" {
			u[section][k] = []string{}
			continue
		}
		u[section][k] = append(u[section][k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// get returns the last value of a directive, "" when unset.
func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// words returns every whitespace-separated word of every value of a
// directive (for list directives such as ReadWritePaths=).
func (u unit) words(section, key string) []string {
	var w []string
	for _, v := range u[section][key] {
		w = append(w, strings.Fields(v)...)
	}
	return w
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ownerOf returns "uid:gid" of a file.
func ownerOf(info fs.FileInfo) string {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
	}
	return "?"
}
