package reliability_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// Bounds of a hostile-input run: safety nets, not performance targets.
const (
	hostileTimeout  = 30 * time.Second
	hostileFastTime = 10 * time.Second // FIFOs and devices: an error at once
	hostileMaxRSS   = 2 << 20          // KiB (2 GiB)
	hostileMaxErr   = 64 << 10         // bytes of stderr
)

// hostileCase is one hostile input: setup writes it (into the tree root
// or a desired file) and returns the desired file to apply.
type hostileCase struct {
	name    string
	setup   func(t *testing.T, root string) (desired string, size int64)
	exits   []int          // accepted exit codes
	want    *regexp.Regexp // stderr must match (when exit 1)
	timeout time.Duration
	oracle  int // 0: no check; 1: sshd -t must reject the tree; 2: must accept it
}

// TestHostileInput feeds the agent hostile desired files and
// configurations. Each run must end (exit 1, or 0 where the input is
// valid) within 30 s (10 s for FIFOs and devices), stay under 2 GiB of
// resident memory, print a bounded error (under 64 KiB, no raw control
// characters from the input) and leave the configuration as it was when
// it fails. The figures are logged as a table for docs/reliability.md.
func TestHostileInput(t *testing.T) {
	needRoot(t, "unshare", "ssh-keygen")
	cases := hostileDesiredCases()
	cases = append(cases, hostileConfigCases()...)
	var rows []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows = append(rows, runHostile(t, c))
		})
	}
	t.Logf("FIGURES hostile input (bounds: %v, %d MiB, %d KiB of stderr):\n| input | size | exit | wall | max RSS | stderr | first line of the error |\n|---|---|---|---|---|---|---|\n%s",
		hostileTimeout, hostileMaxRSS>>10, hostileMaxErr>>10, strings.Join(rows, "\n"))
}

// runHostile runs one case and returns its table row.
func runHostile(t *testing.T, c hostileCase) string {
	root := smallTree(t)
	desired, size := c.setup(t, root)
	if c.oracle != 0 {
		err := opensshtest.New(t).ServerCheck(root)
		if (c.oracle == 1) != opensshtest.IsQueryError(err) {
			t.Fatalf("the input is not what the case means: sshd -t says %v", err)
		}
	}
	before := snapshot(t, filepath.Join(root, "etc/ssh"))
	timeout := c.timeout
	if timeout == 0 {
		timeout = hostileTimeout
	}
	r := run(t, runOpts{timeout: timeout + 5*time.Second, maxRSS: hostileMaxRSS},
		"agent", "--root", root, "--reload", "none", "--lock-timeout", "5s", desired)
	exit := fmt.Sprint(r.code)
	switch {
	case r.timedOut:
		exit = "timeout"
		t.Errorf("still running after %v: killed", timeout+5*time.Second)
	case r.memOut:
		exit = "killed (memory)"
		t.Errorf("resident memory passed %d MiB: killed", hostileMaxRSS>>10)
	case r.signal != 0:
		exit = r.signal.String()
		t.Errorf("died of %v", r.signal)
	case !containsInt(c.exits, r.code):
		t.Errorf("exit %d, want one of %v", r.code, c.exits)
	}
	if r.wall > timeout {
		t.Errorf("took %v, bound %v", r.wall.Round(time.Millisecond), timeout)
	}
	if r.maxRSS > hostileMaxRSS {
		t.Errorf("max RSS %d MiB, bound %d MiB", r.maxRSS>>10, hostileMaxRSS>>10)
	}
	checkHostileError(t, c, r)
	if r.code != 0 {
		if d := diffSnapshots(before, snapshot(t, filepath.Join(root, "etc/ssh"))); len(d) > 0 {
			t.Errorf("a failed run changed the configuration:\n%s", strings.Join(d, "\n"))
		}
	}
	first, _, _ := strings.Cut(r.stderr, "\n")
	first = strings.ReplaceAll(first, root, "ROOT")
	if st, err := os.Stat(desired); err == nil && !st.IsDir() && strings.HasPrefix(desired, os.TempDir()) {
		first = strings.ReplaceAll(first, filepath.Dir(desired)+"/", "")
	}
	if len(first) > 110 {
		first = first[:110] + "…"
	}
	t.Logf("%v", r)
	return fmt.Sprintf("| %s | %s | %s | %.2f s | %d MiB | %d B | `%s` |", c.name, humanSize(size), exit, r.wall.Seconds(), r.maxRSS>>10, len(r.stderr), strings.ReplaceAll(first, "|", `\|`))
}

// checkHostileError checks the size, the form and the words of the error.
func checkHostileError(t *testing.T, c hostileCase, r result) {
	t.Helper()
	if len(r.stderr) > hostileMaxErr {
		t.Errorf("stderr has %d bytes, bound %d", len(r.stderr), hostileMaxErr)
	}
	if r.code == 1 && strings.TrimSpace(r.stderr) == "" {
		t.Error("exit 1 with nothing on stderr")
	}
	if i := bytes.IndexFunc([]byte(r.stderr), func(c rune) bool { return c < 0x20 && c != '\n' && c != '\t' || c == 0x7f }); i >= 0 {
		t.Errorf("stderr carries a raw control character %q at byte %d: %q", r.stderr[i], i, clip(r.stderr[max(0, i-80):min(len(r.stderr), i+80)]))
	}
	if r.code == 1 && c.want != nil && !c.want.MatchString(r.stderr) {
		t.Errorf("stderr does not match %q", c.want)
	}
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func humanSize(n int64) string {
	switch {
	case n < 0:
		return "-"
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// desiredFile writes content as a desired file and returns it with its
// size.
func desiredFile(t *testing.T, content []byte) (string, int64) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "desired.yaml")
	must(t, os.WriteFile(p, content, 0o644))
	return p, int64(len(content))
}

var (
	one     = []int{1}
	zeroOne = []int{0, 1}
)

// hostileDesiredCases are hostile desired-state files.
func hostileDesiredCases() []hostileCase {
	re := regexp.MustCompile
	return []hostileCase{
		{name: "alias bomb (billion laughs, 10^9 leaves)", exits: one, setup: func(t *testing.T, _ string) (string, int64) {
			var b strings.Builder
			b.WriteString("version: 1\nx:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
			for i := 1; i < 10; i++ {
				fmt.Fprintf(&b, "  a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
			}
			b.WriteString("sshd:\n  settings:\n    AllowUsers: *a9\n  match:\n    - *a9\n")
			return desiredFile(t, []byte(b.String()))
		}},
		{name: "alias bomb through merge keys", exits: one, setup: func(t *testing.T, _ string) (string, int64) {
			var b strings.Builder
			b.WriteString("version: 1\nx:\n  m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\n")
			for i := 1; i < 10; i++ {
				fmt.Fprintf(&b, "  m%d: &m%d [", i, i)
				for j := range 10 {
					fmt.Fprintf(&b, "{<<: *m%d, k%d: x}, ", i-1, j)
				}
				b.WriteString("]\n")
			}
			b.WriteString("sshd:\n  settings:\n    <<: *m9\n")
			return desiredFile(t, []byte(b.String()))
		}},
		{name: "nesting 10k deep (flow)", exits: one, setup: func(t *testing.T, _ string) (string, int64) {
			return desiredFile(t, []byte("version: 1\nsshd: "+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+"\n"))
		}},
		{name: "nesting 1M deep (flow)", exits: one, setup: func(t *testing.T, _ string) (string, int64) {
			return desiredFile(t, []byte("version: 1\nsshd: "+strings.Repeat("[", 1000000)+strings.Repeat("]", 1000000)+"\n"))
		}},
		{name: "nesting 2k deep (block mappings)", exits: one, setup: func(t *testing.T, _ string) (string, int64) {
			var b strings.Builder
			b.WriteString("version: 1\nsshd:\n")
			for i := 1; i <= 2000; i++ {
				fmt.Fprintf(&b, "%sk:\n", strings.Repeat(" ", i))
			}
			return desiredFile(t, []byte(b.String()))
		}},
		{name: "50 MB desired file (valid, padded with comments)", exits: one, want: re(`(?i)too (large|big)|size|limit|bytes`), setup: func(t *testing.T, _ string) (string, int64) {
			line := "# " + strings.Repeat("x", 97) + "\n"
			return desiredFile(t, []byte(smallDesired+strings.Repeat(line, 50<<20/len(line))))
		}},
		{name: "1.5M keys", exits: one, setup: func(t *testing.T, _ string) (string, int64) {
			var b bytes.Buffer
			b.WriteString("version: 1\nsshd:\n  settings:\n")
			for i := range 1500000 {
				fmt.Fprintf(&b, "    K%07d: 1\n", i)
			}
			return desiredFile(t, b.Bytes())
		}},
		{name: "50k unknown keywords (50k errors)", exits: one, want: re(`more`), setup: func(t *testing.T, _ string) (string, int64) {
			var b bytes.Buffer
			b.WriteString("version: 1\nsshd:\n  settings:\n")
			for i := range 50000 {
				fmt.Fprintf(&b, "    ClientAliveIntervall%d: 1\n", i)
			}
			return desiredFile(t, b.Bytes())
		}},
		{name: "1 MiB of binary junk", exits: one, setup: func(t *testing.T, _ string) (string, int64) {
			rng := rand.New(rand.NewPCG(9, 9))
			junk := make([]byte, 1<<20)
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			return desiredFile(t, junk)
		}},
		{name: "escaped NUL, newline, ESC, CR in values, keys and criteria", exits: one, want: re(`control character`), setup: func(t *testing.T, _ string) (string, int64) {
			return desiredFile(t, []byte(`version: 1
sshd:
  settings:
    Banner: "/etc/issue\0"
    ForceCommand: "echo a\nPermitRootLogin yes"
    ChrootDirectory: "/x\e[2J"
    "Client\nAliveInterval": 1
  match:
    - criteria: "User a\nPermitRootLogin yes"
      settings: {ClientAliveInterval: "1\r"}
ssh:
  hosts:
    - host: "h\rX"
      settings: {Hostname: "a\tb"}
`))
		}},
		{name: "raw NUL and ESC bytes in the YAML", exits: one, setup: func(t *testing.T, _ string) (string, int64) {
			return desiredFile(t, []byte("version: 1\nsshd:\n  settings:\n    Banner: a\x00b\n    ChrootDirectory: \x1b[2J\n"))
		}},
		{name: "desired file is a FIFO", exits: one, timeout: hostileFastTime, setup: func(t *testing.T, _ string) (string, int64) {
			p := filepath.Join(t.TempDir(), "desired.yaml")
			must(t, syscall.Mkfifo(p, 0o644))
			return p, -1
		}},
		{name: "desired file is /dev/zero", exits: one, timeout: hostileFastTime, setup: func(*testing.T, string) (string, int64) {
			return "/dev/zero", -1
		}},
		{name: "desired file is a directory", exits: one, timeout: hostileFastTime, setup: func(t *testing.T, _ string) (string, int64) {
			return t.TempDir(), -1
		}},
	}
}

// hostileConfigCases are hostile configuration trees (the desired state
// is the small one).
func hostileConfigCases() []hostileCase {
	re := regexp.MustCompile
	desired := func(t *testing.T) string { return writeDesired(t, smallDesired) }
	config := func(t *testing.T, root string, content []byte) (string, int64) {
		t.Helper()
		must(t, os.WriteFile(filepath.Join(root, "etc/ssh/sshd_config"), content, 0o644))
		return desired(t), int64(len(content))
	}
	return []hostileCase{
		{name: "100 MB sshd_config (one comment line)", exits: zeroOne, setup: func(t *testing.T, root string) (string, int64) {
			return config(t, root, []byte(mainConfig+"# "+strings.Repeat("x", 100_000_000)+"\n"))
		}},
		{name: "NUL byte in sshd_config", exits: one, want: re(`sshd_config:5`), setup: func(t *testing.T, root string) (string, int64) {
			return config(t, root, []byte(mainConfig+"Banner /x\x00y\n"))
		}},
		{name: "ESC and CR in sshd_config values", exits: one, setup: func(t *testing.T, root string) (string, int64) {
			return config(t, root, []byte(mainConfig+"ClientAliveCountMax 3\x1b[2J\r\nBanner \x1b]0;pwned\x07\n"))
		}},
		{name: "Include of a FIFO", exits: one, want: re(`60-fifo.conf`), timeout: hostileFastTime, setup: func(t *testing.T, root string) (string, int64) {
			must(t, syscall.Mkfifo(filepath.Join(root, "etc/ssh/sshd_config.d/60-fifo.conf"), 0o644))
			return desired(t), -1
		}},
		{name: "Include of a character device (/dev/zero's)", exits: one, want: re(`61-zero.conf`), timeout: hostileFastTime, setup: func(t *testing.T, root string) (string, int64) {
			must(t, syscall.Mknod(filepath.Join(root, "etc/ssh/sshd_config.d/61-zero.conf"), syscall.S_IFCHR|0o644, int(unix.Mkdev(1, 5))))
			return desired(t), -1
		}},
		{name: "Include loop", exits: one, want: re(`(?i)loop|recurs|depth|include`), oracle: 1, setup: func(t *testing.T, root string) (string, int64) {
			writeFiles(t, root, map[string]string{"etc/ssh/loop.conf": "Include /etc/ssh/sshd_config\n"})
			return config(t, root, []byte(mainConfig+"Include /etc/ssh/loop.conf\n"))
		}},
		{name: "Include depth 16 (accepted)", exits: []int{0}, oracle: 2, setup: func(t *testing.T, root string) (string, int64) {
			return includeChain(t, root, 16), -1
		}},
		{name: "Include depth 17", exits: one, want: re(`(?i)depth|recurs|too many|include`), oracle: 1, setup: func(t *testing.T, root string) (string, int64) {
			return includeChain(t, root, 17), -1
		}},
		{name: "Include fan-out bomb (10 files x 8 levels)", exits: zeroOne, setup: func(t *testing.T, root string) (string, int64) {
			for l := 1; l <= 8; l++ {
				for i := range 10 {
					content := "# level " + fmt.Sprint(l) + "\n"
					if l < 8 {
						content = fmt.Sprintf("Include /etc/ssh/b%d/*.conf\n", l+1)
					}
					writeFiles(t, root, map[string]string{fmt.Sprintf("etc/ssh/b%d/%d.conf", l, i): content})
				}
			}
			return config(t, root, []byte(mainConfig+"Include /etc/ssh/b1/*.conf\n"))
		}},
	}
}

// includeChain makes sshd_config include c1.conf, which includes c2.conf,
// … down to cN.conf (N includes deep).
func includeChain(t *testing.T, root string, n int) string {
	t.Helper()
	files := map[string]string{"etc/ssh/sshd_config": mainConfig + "Include /etc/ssh/c1.conf\n"}
	for i := 1; i <= n; i++ {
		content := "# the end\n"
		if i < n {
			content = fmt.Sprintf("Include /etc/ssh/c%d.conf\n", i+1)
		}
		files[fmt.Sprintf("etc/ssh/c%d.conf", i)] = content
	}
	writeFiles(t, root, files)
	return writeDesired(t, smallDesired)
}
