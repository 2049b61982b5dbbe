package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSplit(t *testing.T) {
	got := split([]string{"--", "/bin/a", "-x", "--", "--", "/bin/b"})
	want := [][]string{{"/bin/a", "-x"}, {"/bin/b"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("split = %q, want %q", got, want)
	}
	if got := split([]string{"/bin/a"}); len(got) != 1 || got[0][0] != "/bin/a" {
		t.Fatalf("one command without --: %q", got)
	}
}

func TestMedianMean(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	if m := median(ms(5, 1, 3)); m != 3*time.Millisecond {
		t.Errorf("median of 5 1 3 = %v", m)
	}
	if m := median(ms(4, 1, 3, 2)); m != 2500*time.Microsecond {
		t.Errorf("median of 4 1 3 2 = %v", m)
	}
	if m := mean(ms(1, 2, 6)); m != 3*time.Millisecond {
		t.Errorf("mean of 1 2 6 = %v", m)
	}
}

// TestRun: real commands, in turn, with their exit statuses; the CPU of a
// busy command shows.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	busy := []string{"/bin/sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}
	if err := run(&out, [][]string{{"/bin/true"}, {"/bin/false"}, busy}, 3, 1, ""); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if lines[0] != "3 rounds, in turn" || !strings.HasSuffix(lines[2], "exit 0") || !strings.HasSuffix(lines[4], "exit 1") {
		t.Fatalf("table:\n%s", out.String())
	}
	if strings.Contains(lines[6], "CPU median 0.00 ms") {
		t.Errorf("a busy shell used no CPU:\n%s", out.String())
	}
	if err := run(&out, [][]string{{"/nonexistent/tool"}}, 1, 0, ""); err == nil {
		t.Error("a command that cannot start is not an error")
	}
}

// TestRunRemoves: -remove takes away what each run leaves, before the
// next one (a first audit every time); without it the runs after the
// first (untimed) find it.
func TestRunRemoves(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	once := []string{"/bin/sh", "-c", `test ! -e "$1" && mkdir "$1"`, "sh", dir}
	for remove, want := range map[string]string{dir: "exit 0", "": "exit 1"} {
		os.RemoveAll(dir)
		var out bytes.Buffer
		if err := run(&out, [][]string{once}, 3, 1, remove); err != nil {
			t.Fatal(err)
		}
		if got := strings.Split(out.String(), "\n")[2]; !strings.HasSuffix(got, want) {
			t.Errorf("remove %q: %s; want %s", remove, got, want)
		}
	}
}
