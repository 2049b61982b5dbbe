package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDesiredFileTrust: running as root, a desired file others could
// change is refused (unless --insecure-desired, which warns); only regular
// files of bounded size are read, and a FIFO fails at once.
func TestDesiredFileTrust(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the ownership checks apply when running as root")
	}
	root := writeRoot(t, map[string]string{"etc/ssh/sshd_config": "ClientAliveInterval 300\n"})
	dir := t.TempDir() // root-owned, 0700
	desired := filepath.Join(dir, "d.yaml")
	must(t, os.WriteFile(desired, []byte("version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\n"), 0o644))
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append([]string{"--reload", "none", "--root", root}, args...), &out, &errb)
		return code, errb.String()
	}
	if code, stderr := run(desired); code != exitOK {
		t.Fatalf("a root-owned 0644 file: exit %d %s", code, stderr)
	}
	must(t, os.Chmod(desired, 0o666))
	if code, stderr := run(desired); code != exitError || !strings.Contains(stderr, "the file is writable by others (mode -rw-rw-rw-); whoever can change it controls sshd") {
		t.Errorf("world-writable file: exit %d %s", code, stderr)
	}
	if code, stderr := run("--insecure-desired", desired); code != exitOK || !strings.Contains(stderr, "insecure desired state") {
		t.Errorf("--insecure-desired: exit %d %s", code, stderr)
	}
	// An audit changes nothing: it warns and goes on.
	if code, stderr := run("--check", desired); code != exitOK || !strings.Contains(stderr, "insecure desired state") {
		t.Errorf("--check: exit %d %s", code, stderr)
	}
	must(t, os.Chmod(desired, 0o644))
	must(t, os.Chown(desired, 65534, 65534))
	if code, stderr := run(desired); code != exitError || !strings.Contains(stderr, "is owned by uid 65534") {
		t.Errorf("foreign-owned file: exit %d %s", code, stderr)
	}
	must(t, os.Chown(desired, 0, 0))
	must(t, os.Chmod(dir, 0o777))
	if code, stderr := run(desired); code != exitError || !strings.Contains(stderr, "the directory "+dir+" is writable by others") {
		t.Errorf("world-writable directory: exit %d %s", code, stderr)
	}
	must(t, os.Chmod(dir, 0o777|os.ModeSticky)) // sticky and root-owned, as /tmp
	if code, stderr := run(desired); code != exitOK {
		t.Errorf("sticky directory: exit %d %s", code, stderr)
	}
	must(t, os.Chmod(dir, 0o700))

	fifo := filepath.Join(dir, "fifo.yaml")
	must(t, syscall.Mkfifo(fifo, 0o600))
	start := time.Now()
	if code, stderr := run(fifo); code != exitError || !strings.Contains(stderr, "not a regular file") || time.Since(start) > 10*time.Second {
		t.Errorf("FIFO: exit %d after %v: %s", code, time.Since(start), stderr)
	}
	big := filepath.Join(dir, "big.yaml")
	must(t, os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), maxDesiredSize/10+1), 0o600))
	if code, stderr := run(big); code != exitError || !strings.Contains(stderr, "more than the 4194304 a desired state may have") {
		t.Errorf("oversized file: exit %d %s", code, stderr)
	}
}
