package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// imageRoot returns a writable copy of the cached Debian chroot whose
// OpenSSH is version (an overlay over it, unmounted when the test ends):
// a root with an sshd of its own, as a mounted disk image is.
func imageRoot(t *testing.T, version string) string {
	t.Helper()
	var lower string
	for _, in := range opensshtest.Installs(t) {
		if in.Version == version && in.Root != "" {
			lower = in.Root
		}
	}
	if lower == "" {
		opensshtest.Unavailable(t, "no chroot with OpenSSH %s; run .ci/setup.d/30-openssh-chroots.sh", version)
	}
	dir := t.TempDir()
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "root")
	for _, d := range []string{upper, work, merged} {
		must(t, os.Mkdir(d, 0o755))
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		opensshtest.Unavailable(t, "overlayfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting the overlay: %v", err)
		}
	})
	return merged
}

// TestImageValidatedWithItsOwnSSHD: a root with its own sshd (OpenSSH
// 10.0p2 here, not the host's 9.2) is checked with that sshd, chrooted
// into it, so a file it includes from outside /etc/ssh is read from the
// root: a crypto-policies back-end naming a cipher that does not exist is
// refused, nothing is written; fixed, the apply converges, and the report
// names the root's OpenSSH version.
func TestImageValidatedWithItsOwnSSHD(t *testing.T) {
	if os.Geteuid() != 0 {
		opensshtest.Unavailable(t, "needs root to mount an overlay")
	}
	root := imageRoot(t, "10.0p2")
	writeFiles(t, root, map[string]string{
		"etc/ssh/sshd_config.d/50-crypto.conf":               "Include /etc/crypto-policies/back-ends/opensshserver.config\n",
		"etc/crypto-policies/back-ends/opensshserver.config": "Ciphers bogus-cipher@example.com\n",
	})
	desired := filepath.Join(t.TempDir(), "d.yaml")
	must(t, os.WriteFile(desired, []byte("version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\n"), 0o644))
	before := mustRead(t, filepath.Join(root, "etc/ssh/sshd_config"))
	code, stdout, stderr := runAgent(t, "--reload", "none", "--root", root, desired)
	if code != exitError || !strings.Contains(stderr, "sshd rejects the new configuration") || !strings.Contains(stderr, "bogus-cipher@example.com") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/ssh/sshd_config.d/00-sshconverge.conf")); !os.IsNotExist(err) || mustRead(t, filepath.Join(root, "etc/ssh/sshd_config")) != before {
		t.Fatalf("a file was written: %v", err)
	}
	writeFiles(t, root, map[string]string{"etc/crypto-policies/back-ends/opensshserver.config": "Ciphers aes256-gcm@openssh.com\n"})
	code, stdout, stderr = runAgent(t, "--reload", "none", "--format", "json", "--root", root, desired)
	if code != exitOK || !strings.Contains(stdout, `"openssh_version": "10.0p2"`) {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestImageLinkedRun: in an image whose /run is an absolute link (to
// /srv/run, a directory of the image) and has no /run/sshd, sshd's
// privilege separation directory is made where the link leads inside the
// image, and the image's sshd accepts its files. Followed on the host, the
// link led to a host path, and the check failed.
func TestImageLinkedRun(t *testing.T) {
	if os.Geteuid() != 0 {
		opensshtest.Unavailable(t, "needs root to mount an overlay")
	}
	root := imageRoot(t, "10.0p2")
	must(t, os.RemoveAll(filepath.Join(root, "run")))
	must(t, os.MkdirAll(filepath.Join(root, "srv/run"), 0o755))
	must(t, os.Symlink("/srv/run", filepath.Join(root, "run")))
	desired := filepath.Join(t.TempDir(), "d.yaml")
	must(t, os.WriteFile(desired, []byte("version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\n"), 0o644))
	code, stdout, stderr := runAgent(t, "--check", "--root", root, desired)
	if code != exitDrift || !strings.Contains(stdout, "ClientAliveInterval") {
		t.Fatalf("exit %d, want 2 (drift)\n%s\n%s", code, stdout, stderr)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runAgent runs the agent with args and returns its exit code and output.
func runAgent(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestBareTreeLinkedEtcSSH: a tree without an sshd of its own whose
// etc/ssh is an absolute link (as NixOS's point into /etc/static) is
// checked with the directory the link leads to inside the tree, so the
// host's sshd reads the tree's files, and rejects them here. Followed on
// the host, the link led to a host directory of the same path, whose
// files sshd accepts.
func TestBareTreeLinkedEtcSSH(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "/usr/bin/ssh-keygen")
	root, elsewhere := t.TempDir(), t.TempDir()
	writeFiles(t, elsewhere, map[string]string{"sshd_config": "Subsystem sftp internal-sftp\n"})
	writeFiles(t, filepath.Join(root, elsewhere), map[string]string{"sshd_config": "Subsystem sftp internal-sftp\nSubsystem sftp internal-sftp\n"})
	must(t, os.Mkdir(filepath.Join(root, "etc"), 0o755))
	must(t, os.Symlink(elsewhere, filepath.Join(root, "etc/ssh")))
	desired := filepath.Join(t.TempDir(), "d.yaml")
	must(t, os.WriteFile(desired, []byte("version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\n"), 0o644))
	code, stdout, stderr := runAgent(t, "--check", "--root", root, desired)
	if code != exitError || !strings.Contains(stderr, "sshd rejects the configuration as it stands") || !strings.Contains(stderr, "Subsystem 'sftp' already defined") {
		t.Fatalf("exit %d, want 1 with sshd's rejection\n%s\n%s", code, stdout, stderr)
	}
}

// TestBareTreeLinkOutOfEtcSSH: in a tree without an sshd of its own, a
// file of etc/ssh that is an absolute link out of it would be read by the
// host's sshd on the host, not in the tree: the check refuses, naming the
// link, instead of accepting the host's file. A link that stays inside
// etc/ssh is fine.
func TestBareTreeLinkOutOfEtcSSH(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "/usr/bin/ssh-keygen")
	root, elsewhere := t.TempDir(), t.TempDir()
	writeFiles(t, elsewhere, map[string]string{"sshd_config": "Subsystem sftp internal-sftp\n"})
	writeFiles(t, filepath.Join(root, elsewhere), map[string]string{"sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nSubsystem sftp internal-sftp\nSubsystem sftp internal-sftp\n"})
	writeFiles(t, root, map[string]string{"etc/ssh/sshd_config.d/real.conf": "MaxAuthTries 4\n"})
	must(t, os.Symlink("real.conf", filepath.Join(root, "etc/ssh/sshd_config.d/20-inside.conf")))
	must(t, os.Symlink(filepath.Join(elsewhere, "sshd_config"), filepath.Join(root, "etc/ssh/sshd_config")))
	desired := filepath.Join(t.TempDir(), "d.yaml")
	must(t, os.WriteFile(desired, []byte("version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\n"), 0o644))
	code, stdout, stderr := runAgent(t, "--check", "--root", root, desired)
	if code != exitError || !strings.Contains(stderr, "/etc/ssh/sshd_config is a link to "+filepath.Join(elsewhere, "sshd_config")+", outside etc/ssh") {
		t.Fatalf("exit %d, want 1 naming the link\n%s\n%s", code, stdout, stderr)
	}
	// The link made a file: sshd reads the tree's, and rejects it.
	must(t, os.Remove(filepath.Join(root, "etc/ssh/sshd_config")))
	b, err := os.ReadFile(filepath.Join(root, elsewhere, "sshd_config"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(root, "etc/ssh/sshd_config"), b, 0o644))
	code, stdout, stderr = runAgent(t, "--check", "--root", root, desired)
	if code != exitError || !strings.Contains(stderr, "Subsystem 'sftp' already defined") {
		t.Fatalf("exit %d, want 1 with sshd's rejection\n%s\n%s", code, stdout, stderr)
	}
}

// TestSSHDFlagChecksTheTree: --sshd names the binary to check with, not
// the files: on a tree, that sshd reads the tree's configuration (its
// etc/ssh as /etc/ssh), here one it rejects. It read the host's
// /etc/ssh/sshd_config instead, and the audit passed files sshd rejects.
func TestSSHDFlagChecksTheTree(t *testing.T) {
	needTools(t, "/usr/sbin/sshd")
	root := t.TempDir()
	must(t, os.CopyFS(root, os.DirFS("../../examples/demo-root")))
	writeFiles(t, root, map[string]string{"etc/ssh/sshd_config.d/60-local.conf": "Subsystem sftp internal-sftp\n"})
	code, stdout, stderr := runAgent(t, "--check", "--sshd", "/usr/sbin/sshd", "--root", root, "../../examples/keepalive.yaml")
	if code != exitError || !strings.Contains(stderr, "Subsystem 'sftp' already defined") {
		t.Fatalf("exit %d, want 1 with sshd's rejection of the tree's files\n%s\n%s", code, stdout, stderr)
	}
}
