package reconcile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// TestUnifiedWindow: the diff computed on the lines that differ (and their
// context) is the diff of the whole files, byte for byte, on edits like the
// agent's, and GNU patch applies it. Where a run of equal lines leaves a
// choice (which blank line of three was removed), the two may choose
// differently; the random cases check that the windowed diff is then just
// as small and still applies.
func TestUnifiedWindow(t *testing.T) {
	var big strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&big, "Host h%d\n    HostName 10.0.%d.%d\n\n", i, i/256, i%256)
	}
	b := big.String()
	mid := strings.Index(b, "Host h1000\n")
	cases := []struct{ name, old, new string }{
		{"insert in the middle", b, b[:mid] + "    ServerAliveInterval 180\n" + b[mid:]},
		{"insert at the start", b, "# managed\n" + b},
		{"append", b, b + "Host *\n    User x\n"},
		{"update a line", b, strings.Replace(b, "HostName 10.0.3.232", "HostName 10.9.9.9", 1)},
		{"delete a line", b, strings.Replace(b, "    HostName 10.0.3.232\n", "", 1)},
		{"two far apart", b, strings.Replace(strings.Replace(b, "10.0.0.7\n", "x\n", 1), "10.0.7.200\n", "y\n", 1)},
		{"two close", b, strings.Replace(strings.Replace(b, "10.0.0.7\n", "x\n", 1), "10.0.0.9\n", "y\n", 1)},
		{"no newline at the end", "a\nb\nc", "a\nb\nc\nd"},
		{"change the last line without newline", "a\nb\nc", "a\nb\nC"},
		{"add the missing newline", "a\nb\nc", "a\nb\nc\n"},
		{"new file", "", "Port 22\n"},
		{"emptied", "Port 22\n", ""},
		{"changed mid-line, same tail", "Port 22\nUser abc\n", "Port 22\nUser xbc\n"},
		{"crlf", "a\r\nb\r\nc\r\n", "a\r\nb\r\nB\r\nc\r\n"},
		{"the same", b, b},
	}
	for _, c := range cases {
		d := unified("a/f", "b/f", c.old, []byte(c.new))
		if want := udiff.Unified("a/f", "b/f", c.old, c.new); d != want {
			t.Fatalf("%s: windowed diff:\n%s\nwhole-file diff:\n%s", c.name, d, want)
		}
		if (d == "") != (c.old == c.new) {
			t.Fatalf("%s: diff %q", c.name, d)
		}
		if c.old != c.new && !strings.Contains(c.name, "newline") {
			checkPatch(t, c.name, c.old, c.new, d)
		}
	}
	// A line like its neighbours: the whole-file diff adds the first x,
	// the windowed one the fourth; both are one line and apply.
	old, new := "x\nx\nx\ny\nx\nx\nx\n", "x\nx\nx\nx\ny\nx\nx\nx\n"
	if r, a := countChanged(unified("a/f", "b/f", old, []byte(new))); r != 0 || a != 1 {
		t.Errorf("a line like its neighbours: %d removed, %d added; want 0 and 1", r, a)
	}
	checkPatch(t, "a line like its neighbours", old, new, unified("a/f", "b/f", old, []byte(new)))
	// Random files of a few distinct lines (so that the diff has choices to
	// make) and random edits.
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"a\n", "b\n", "Host x\n", "\n", "c"}
	for i := range 3000 {
		var old strings.Builder
		for range r.IntN(30) {
			old.WriteString(words[r.IntN(len(words)-1)])
		}
		if r.IntN(4) == 0 {
			old.WriteString(words[len(words)-1]) // no final newline
		}
		lines := strings.SplitAfter(old.String(), "\n")
		for range 1 + r.IntN(3) {
			at := r.IntN(len(lines) + 1)
			switch r.IntN(3) {
			case 0:
				lines = append(lines[:at], append([]string{words[r.IntN(len(words))]}, lines[at:]...)...)
			case 1:
				if at < len(lines) {
					lines = append(lines[:at], lines[at+1:]...)
				}
			default:
				if at < len(lines) {
					lines[at] = words[r.IntN(len(words))]
				}
			}
		}
		name, o, n := fmt.Sprintf("random %d", i), old.String(), strings.Join(lines, "")
		d, whole := unified("a/f", "b/f", o, []byte(n)), udiff.Unified("a/f", "b/f", o, n)
		r1, a1 := countChanged(d)
		r2, a2 := countChanged(whole)
		if (d == "") != (o == n) || r1 != r2 || a1 != a2 {
			t.Fatalf("%s: %q -> %q\nwindowed diff:\n%s\nwhole-file diff:\n%s", name, o, n, d, whole)
		}
		if i%10 == 0 && o != n && strings.HasSuffix(o, "\n") && strings.HasSuffix(n, "\n") {
			checkPatch(t, name, o, n, d)
		}
	}
}

// countChanged counts a unified diff's removed and added lines.
func countChanged(diff string) (removed, added int) {
	for _, l := range strings.Split(diff, "\n") {
		switch {
		case strings.HasPrefix(l, "---") || strings.HasPrefix(l, "+++"):
		case strings.HasPrefix(l, "-"):
			removed++
		case strings.HasPrefix(l, "+"):
			added++
		}
	}
	return removed, added
}

// checkPatch applies diff to old with GNU patch and compares with new.
// (go-udiff writes "\ No newline at end of file" after the line, where
// patch expects it: the cases without a final newline are left out.)
func checkPatch(t *testing.T, name, old, new, diff string) {
	t.Helper()
	const patch = "/usr/bin/patch"
	if _, err := os.Stat(patch); err != nil {
		opensshtest.Unavailable(t, "%s is missing: apt-get install patch (.ci/setup.d/10-packages.sh)", patch)
	}
	dir := t.TempDir()
	f, out := filepath.Join(dir, "f"), filepath.Join(dir, "out")
	if err := os.WriteFile(f, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(patch, "--quiet", "--batch", "-o", out, f)
	cmd.Stdin = strings.NewReader(diff)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %q -> %q: patch: %v: %s\n%s\nwhole:\n%s", name, old, new, err, msg, diff, udiff.Unified("a/f", "b/f", old, new))
	}
	if got, err := os.ReadFile(out); err != nil || string(got) != new {
		t.Fatalf("%s: patched file %q, %v; want %q", name, got, err, new)
	}
}
