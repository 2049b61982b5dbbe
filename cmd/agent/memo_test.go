package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const notAskedAgain = "sshd accepted these files before"

// TestCheckRemembersAcceptance: --check asks sshd about the files as they
// stand once, remembers the verdict in an existing state directory, and
// asks again whenever the files change, never remembering a rejection;
// a record others could have written is not believed.
func TestCheckRemembersAcceptance(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "/usr/bin/ssh-keygen")
	root := t.TempDir()
	must(t, os.CopyFS(root, os.DirFS("../../examples/demo-root")))
	check := func(wantCode int) string {
		t.Helper()
		code, stdout, stderr := runAgent(t, "--check", "--log-level", "debug", "--root", root, "../../examples/keepalive.yaml")
		if code != wantCode {
			t.Fatalf("--check exit %d, want %d\n%s\n%s", code, wantCode, stdout, stderr)
		}
		return stderr
	}
	record := filepath.Join(root, "var/lib/sshconverge/accepted")

	// No state directory: an audit creates none.
	check(2)
	if _, err := os.Stat(filepath.Dir(record)); err == nil {
		t.Fatal("--check created the state directory")
	}

	must(t, os.MkdirAll(filepath.Dir(record), 0o700))
	if stderr := check(2); strings.Contains(stderr, notAskedAgain) {
		t.Fatalf("first audit did not ask sshd:\n%s", stderr)
	}
	b, err := os.ReadFile(record)
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{64}\naccepted\n$`).Match(b) {
		t.Fatalf("record %q, %v", b, err)
	}
	if stderr := check(2); !strings.Contains(stderr, notAskedAgain) {
		t.Fatalf("second audit of the same files asked sshd again:\n%s", stderr)
	}

	// A file sshd rejects (a second Subsystem sftp) is asked about, and
	// the rejection is not remembered.
	local := filepath.Join(root, "etc/ssh/sshd_config.d/60-local.conf")
	must(t, os.WriteFile(local, []byte("Subsystem sftp internal-sftp\n"), 0o644))
	for range 2 {
		code, _, stderr := runAgent(t, "--check", "--root", root, "../../examples/keepalive.yaml")
		if code != 1 || !strings.Contains(stderr, "Subsystem 'sftp' already defined") {
			t.Fatalf("audit of a configuration sshd rejects: exit %d\n%s", code, stderr)
		}
	}
	must(t, os.Remove(local))
	if stderr := check(2); !strings.Contains(stderr, notAskedAgain) {
		t.Fatalf("the accepted files, restored, were asked about again:\n%s", stderr)
	}

	// A record others can write is not believed, and is replaced.
	settle()
	must(t, os.Chmod(record, 0o666))
	if stderr := check(2); strings.Contains(stderr, notAskedAgain) {
		t.Fatalf("a record writable by others was believed:\n%s", stderr)
	}
	if st, err := os.Stat(record); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("record mode %v, %v; want 0600", st.Mode(), err)
	}

	// A new host key (ssh-keygen -A on first boot) makes a new key too.
	if out, err := exec.Command("/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(root, "etc/ssh/ssh_host_ed25519_key")).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	if stderr := check(2); strings.Contains(stderr, notAskedAgain) {
		t.Fatalf("a new host key file was not noticed:\n%s", stderr)
	}
	check(2) // remembered

	// The same key made readable by others: sshd ignores it, and has no
	// other. Asked again, it refuses to start.
	must(t, os.Chmod(filepath.Join(root, "etc/ssh/ssh_host_ed25519_key"), 0o644))
	code, stdout, stderr := runAgent(t, "--check", "--root", root, "../../examples/keepalive.yaml")
	if code != 1 || !strings.Contains(stderr, "no hostkeys available") {
		t.Fatalf("audit with the only host key readable by others: exit %d, want 1 with sshd's refusal\n%s\n%s", code, stdout, stderr)
	}
}

const releaseNotAskedAgain = "release not asked again"

// TestVersionRemembered: the OpenSSH release ssh -V gave is remembered
// while the binaries asked stay the same; a changed sshd binary (an
// upgrade) is asked again.
func TestVersionRemembered(t *testing.T) {
	needTools(t, "/usr/sbin/sshd")
	root := t.TempDir()
	must(t, os.CopyFS(root, os.DirFS("../../examples/demo-root")))
	must(t, os.MkdirAll(filepath.Join(root, "var/lib"), 0o755))
	must(t, os.Mkdir(filepath.Join(root, "var/lib/sshconverge"), 0o700))
	sshd := filepath.Join(t.TempDir(), "sshd")
	b, err := os.ReadFile("/usr/sbin/sshd")
	must(t, err)
	must(t, os.WriteFile(sshd, b, 0o755))
	check := func() string {
		t.Helper()
		code, stdout, stderr := runAgent(t, "--check", "--log-level", "debug", "--sshd", sshd, "--root", root, "../../examples/keepalive.yaml")
		if code != 2 {
			t.Fatalf("--check exit %d, want 2\n%s\n%s", code, stdout, stderr)
		}
		return stderr
	}
	if stderr := check(); strings.Contains(stderr, releaseNotAskedAgain) {
		t.Fatalf("first run did not ask:\n%s", stderr)
	}
	rec, err := os.ReadFile(filepath.Join(root, "var/lib/sshconverge/openssh"))
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{64}\n\d+\.\d+(p\d+)?\n$`).Match(rec) {
		t.Fatalf("record %q, %v", rec, err)
	}
	if stderr := check(); !strings.Contains(stderr, releaseNotAskedAgain) {
		t.Fatalf("second run asked again:\n%s", stderr)
	}
	// An upgrade replaces the binary: another inode, size or time.
	must(t, os.Remove(sshd))
	must(t, os.WriteFile(sshd, b, 0o755))
	if stderr := check(); strings.Contains(stderr, releaseNotAskedAgain) {
		t.Fatalf("a replaced sshd was not asked:\n%s", stderr)
	}
}
