package reliability_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestConcurrentAgents starts 20 applies of the same desired state on one
// tree at once (the crash fixture: 40 files to change). The lock makes
// them take turns: every run exits 0, exactly one reports the 40 changes
// and the others find the tree converged, the tree holds exactly the new
// bytes, nothing is pending, no temp file is left, and the lock is free
// afterwards (flock succeeds at once, and a run with --lock-timeout 1s
// succeeds).
func TestConcurrentAgents(t *testing.T) {
	f := newCrashFixture(t, false)
	n := 20
	if longRun() {
		n = 100
	}
	dir := filepath.Join(f.base, "concurrent")
	copyTree(t, f.template, dir)
	// --reload none: no sshd runs here, and the runs' subject is the lock.
	results := make([]result, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = run(t, runOpts{timeout: 3 * time.Minute}, f.args(dir, "--reload", "none", "--lock-timeout", "2m")...)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	changed, inSync := 0, 0
	for i, r := range results {
		switch {
		case r.code != 0:
			t.Errorf("run %d: %v", i, r)
		case strings.Contains(r.stdout, fmt.Sprintf("ok=0 changed=%d conflict=0", crashFiles)):
			changed++
		case strings.Contains(r.stdout, fmt.Sprintf("ok=%d changed=0 conflict=0", crashFiles)):
			inSync++
		default:
			t.Errorf("run %d reports neither all changed nor all in sync:\n%v", i, r)
		}
	}
	if changed != 1 || inSync != n-1 {
		t.Errorf("%d runs changed the files and %d found them in sync; want 1 and %d (runs overlapped)", changed, inSync, n-1)
	}
	cur := configBytes(t, dir)
	for rel, want := range f.new {
		if !bytes.Equal(cur[rel], want) {
			t.Errorf("%s: %q, want %q", rel, cur[rel], want)
		}
	}
	if len(cur) != len(f.new) {
		t.Errorf("%d files under etc/ssh, want %d", len(cur), len(f.new))
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Errorf("temp files left: %v", tmp)
	}
	if _, pending := readState(t, dir); pending {
		t.Error("a reload is left pending")
	}
	lock, err := os.OpenFile(filepath.Join(dir, "run/sshconverge.lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("lock file: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Errorf("the lock is still held after every run ended: %v", err)
	}
	lock.Close()
	if r := run(t, runOpts{}, f.args(dir, "--reload", "none", "--lock-timeout", "1s")...); r.code != 0 {
		t.Errorf("a run after them with --lock-timeout 1s: %v", r)
	}
	t.Logf("FIGURES concurrent: %d runs at once on one tree in %v: %d changed, %d in sync", n, elapsed.Round(time.Millisecond), changed, inSync)
}
