package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/reconcile"
)

const (
	earlyStarted = "sshd -t started on the files as they stand while they are read"
	earlyUsed    = "sshd's verdict was asked while the files were read"
	ephemeralKey = "no host key exists"
)

// TestEarlyCheck: an audit with no verdict of sshd remembered starts
// sshd -t before it reads the files and takes its verdict, an acceptance
// or a rejection, as its own, with what sshd's check logged written once.
// An audit that remembers a verdict starts none. When the files name a
// host key the early check did not use (it made an ephemeral one), its
// verdict is not taken: sshd is asked with the real key, which it cannot
// load, and the audit fails as it must.
func TestEarlyCheck(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "/usr/bin/ssh-keygen")
	audit := func(root string, wantCode int) string {
		t.Helper()
		code, stdout, stderr := runAgent(t, "--check", "--log-level", "debug", "--root", root, "../../examples/keepalive.yaml")
		if code != wantCode {
			t.Fatalf("--check exit %d, want %d\n%s\n%s", code, wantCode, stdout, stderr)
		}
		return stderr
	}
	uses := func(stderr string, started, used bool) {
		t.Helper()
		if s, u := strings.Contains(stderr, earlyStarted), strings.Contains(stderr, earlyUsed); s != started || u != used {
			t.Fatalf("early check started %v, used %v; want %v, %v\n%s", s, u, started, used, stderr)
		}
	}
	root := t.TempDir()
	must(t, os.CopyFS(root, os.DirFS("../../examples/demo-root")))
	stderr := audit(root, exitDrift)
	uses(stderr, true, true)
	if n := strings.Count(stderr, ephemeralKey); n != 1 {
		t.Fatalf("the ephemeral key's warning is written %d times, want once\n%s", n, stderr)
	}

	// A verdict remembered: no early check.
	must(t, os.MkdirAll(filepath.Join(root, "var/lib/sshconverge"), 0o700))
	audit(root, exitDrift) // remembers
	uses(audit(root, exitDrift), false, false)

	// A rejection is the audit's too.
	local := filepath.Join(root, "etc/ssh/sshd_config.d/60-local.conf")
	must(t, os.WriteFile(local, []byte("Subsystem sftp internal-sftp\n"), 0o644))
	must(t, os.RemoveAll(filepath.Join(root, "var/lib/sshconverge")))
	stderr = audit(root, exitError)
	uses(stderr, true, true)
	if !strings.Contains(stderr, "Subsystem 'sftp' already defined") {
		t.Fatalf("the rejection is not sshd's:\n%s", stderr)
	}
	must(t, os.Remove(local))

	// A host key the files name exists (and cannot be loaded), where the
	// default ones do not: asked again, with it.
	must(t, os.WriteFile(filepath.Join(root, "etc/ssh/sshd_config.d/10-hostkey.conf"), []byte("HostKey /etc/ssh/custom_host_key\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/ssh/custom_host_key"), []byte("not a key\n"), 0o600))
	stderr = audit(root, exitError)
	uses(stderr, true, false)
	if !strings.Contains(stderr, "sshd rejects the configuration as it stands") || strings.Contains(stderr, ephemeralKey) {
		t.Fatalf("the audit did not ask sshd with the files' host key:\n%s", stderr)
	}
}

// TestEarlyCheckStopped: an early check whose verdict is not taken (here
// the load fails on an Included FIFO) is stopped before the run ends:
// the sshd it started is killed, and does not finish on its own.
func TestEarlyCheckStopped(t *testing.T) {
	needTools(t, "/usr/sbin/sshd")
	root, dir := t.TempDir(), t.TempDir()
	must(t, os.CopyFS(root, os.DirFS("../../examples/demo-root")))
	must(t, syscall.Mkfifo(filepath.Join(root, "etc/ssh/sshd_config.d/70-fifo.conf"), 0o644))
	marker := filepath.Join(dir, "finished")
	sshd := filepath.Join(dir, "slow-sshd")
	must(t, os.WriteFile(sshd, []byte("#!/bin/sh\nsleep 1\n: > "+marker+"\n"), 0o755))
	code, stdout, stderr := runAgent(t, "--check", "--log-level", "debug", "--sshd", sshd, "--root", root, "../../examples/keepalive.yaml")
	if code != exitError || !strings.Contains(stderr, earlyStarted) || !strings.Contains(stderr, "70-fifo.conf") {
		t.Fatalf("exit %d, want 1 naming the FIFO, with an early check\n%s\n%s", code, stdout, stderr)
	}
	time.Sleep(2 * time.Second)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the early check's sshd ran on after the run ended")
	}
}

// TestEarlyVerdictLogsEachEvent: what the early check logged reaches a
// terminal's console writer event by event (it reads one event a write).
func TestEarlyVerdictLogsEachEvent(t *testing.T) {
	root, err := files.NewRoot(t.TempDir())
	must(t, err)
	find := func() *reconcile.SSHD {
		s, err := reconcile.FindSSHD(reconcile.SSHDOptions{Root: root, Config: "/etc/ssh/sshd_config", PidFile: "/run/sshd.pid", Mode: reconcile.ReloadNone, Log: zerolog.Nop()})
		must(t, err)
		return s
	}
	e := &earlyCheck{sshd: find(), done: make(chan struct{})}
	close(e.done)
	log := zerolog.New(&e.log)
	log.Warn().Msg("first event")
	log.Warn().Msg("second event")
	var out bytes.Buffer
	if used, err := e.verdict(find(), zerolog.ConsoleWriter{Out: &out, NoColor: true}); !used || err != nil {
		t.Fatalf("verdict used %v, %v; want used, nil", used, err)
	}
	if !strings.Contains(out.String(), "first event") || !strings.Contains(out.String(), "second event") {
		t.Fatalf("the console shows %q; want both events", out.String())
	}
}
