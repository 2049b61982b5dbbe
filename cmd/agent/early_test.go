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

// settle waits until files just written are older than the clock tick
// within which an early check's verdict on them is not remembered (see
// earlyCheck.readBefore).
func settle() { time.Sleep(2 * clockTick) }

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

// TestEarlyVerdictOfChangedFiles: an early check's sshd may read the
// files before a change that the agent, reading at the same time, reads
// after it. Here the --sshd stand-in makes the change as it starts (a
// drop-in sshd rejects, in a directory the main file includes at its end,
// after 30 MB of comments that the agent reads first) and accepts, as an
// sshd that read the files before the change would; later calls go to
// the real sshd. The acceptance is the first audit's, but it is not
// remembered under the digest of files that changed after the check
// started: the next audit asks sshd, which rejects them. (Remembered, the
// next audit passed files sshd rejects.)
func TestEarlyVerdictOfChangedFiles(t *testing.T) {
	needTools(t, "/usr/sbin/sshd")
	root, dir := t.TempDir(), t.TempDir()
	must(t, os.CopyFS(root, os.DirFS("../../examples/demo-root")))
	must(t, os.MkdirAll(filepath.Join(root, "var/lib/sshconverge"), 0o700))
	must(t, os.MkdirAll(filepath.Join(root, "etc/ssh/late.d"), 0o755))
	main := filepath.Join(root, "etc/ssh/sshd_config")
	b, err := os.ReadFile(main)
	must(t, err)
	b = append(append(b, bytes.Repeat([]byte("# a comment the agent reads before the late Include\n"), 600_000)...), "Include /etc/ssh/late.d/*.conf\n"...)
	must(t, os.WriteFile(main, b, 0o644))
	mark, sshd := filepath.Join(dir, "accepted-once"), filepath.Join(dir, "sshd")
	late := filepath.Join(root, "etc/ssh/late.d/60-local.conf")
	must(t, os.WriteFile(sshd, []byte(`#!/bin/sh
for a; do
	if [ "$a" = -t ] && [ ! -e `+mark+` ]; then
		: > `+mark+`
		echo 'Subsystem sftp internal-sftp' > `+late+`
		exit 0
	fi
done
exec /usr/sbin/sshd "$@"
`), 0o755))
	settle()
	audit := func() (int, string) {
		code, _, stderr := runAgent(t, "--check", "--log-level", "debug", "--sshd", sshd, "--root", root, "../../examples/keepalive.yaml")
		return code, stderr
	}
	if code, stderr := audit(); code != exitDrift || !strings.Contains(stderr, earlyUsed) {
		t.Fatalf("first audit: exit %d, want %d with the early verdict\n%.3000s", code, exitDrift, stderr)
	}
	if code, stderr := audit(); code != exitError || !strings.Contains(stderr, "Subsystem 'sftp' already defined") {
		t.Fatalf("second audit: exit %d, want %d with sshd's rejection\n%s", code, exitError, stderr)
	}
}
