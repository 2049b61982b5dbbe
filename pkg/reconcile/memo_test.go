package reconcile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// TestMemo: a value is stored only in an existing state directory, read
// back only under its key, and a record that is a link or that others can
// write is not believed.
func TestMemo(t *testing.T) {
	dir := t.TempDir()
	root, err := files.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	m := OpenMemo(fsys, "/var/lib/sshconverge", "openssh")
	if err := m.Put("k1", "9.2p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "var/lib/sshconverge")); err == nil {
		t.Fatal("Put created the state directory")
	}
	if err := os.MkdirAll(filepath.Join(dir, "var/lib/sshconverge"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := m.Put("k1", "9.2p1"); err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Get("k1"); !ok || v != "9.2p1" {
		t.Fatalf("Get(k1) = %q, %v", v, ok)
	}
	if _, ok := m.Get("k2"); ok {
		t.Fatal("Get(k2) found the value stored under k1")
	}
	rec := filepath.Join(dir, "var/lib/sshconverge/openssh")
	if err := os.Chmod(rec, 0o620); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get("k1"); ok {
		t.Fatal("a record others can write was believed")
	}
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("k1\n9.2p1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get("k1"); ok {
		t.Fatal("a record that is a link was believed")
	}
}

// TestKeysWithDaemon: a running daemon's release is never remembered (it
// is asked in its own view), nor the verdict or the values of one started
// with options its files do not show.
func TestKeysWithDaemon(t *testing.T) {
	s := &SSHD{Listener: &Listener{PID: 1, Args: []string{"-D", "-o", "MaxAuthTries=3"}}}
	for _, f := range []func() (string, error){
		func() (string, error) { return s.AcceptKey("digest") },
		s.VersionKey,
		func() (string, error) { return s.dumpKey([]probe{{}}, false) },
	} {
		if key, err := f(); key != "" || err != nil {
			t.Fatalf("key %q, %v with a running daemon; want none", key, err)
		}
	}
}

// TestChrooted: a process chrooted into a directory is told from one whose
// root is its mount namespace's, in the agent's namespace or another.
func TestChrooted(t *testing.T) {
	var dir string
	for _, in := range opensshtest.Installs(t) {
		if in.Root != "" {
			dir = in.Root
			break
		}
	}
	if dir == "" {
		t.Skip("no OpenSSH chroot to run a process in")
	}
	start := func(name string, args ...string) int {
		t.Helper()
		cmd := exec.Command(name, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		return cmd.Process.Pid
	}
	for _, c := range []struct {
		name string
		pid  int
		want bool
	}{
		{"the agent", os.Getpid(), false},
		{"a private mount namespace", start("unshare", "-m", "--propagation", "private", "sleep", "60"), false},
		{"a chroot", start("chroot", dir, "/bin/sleep", "60"), true},
	} {
		var got bool
		var err error
		for range 100 { // until the child has run its command
			if got, err = chrooted(c.pid); got == c.want && err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got != c.want || err != nil {
			t.Errorf("%s: chrooted %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

// TestOnlyConfigFile: only a daemon started with nothing but its
// configuration file (once -D, -E and the like are dropped) has a verdict
// its files decide alone.
func TestOnlyConfigFile(t *testing.T) {
	for args, want := range map[string]bool{
		"":                          true,
		"-f /etc/ssh/sshd_config":   true,
		"-f/etc/ssh/sshd_config":    true,
		"-f":                        false,
		"-o MaxAuthTries=3":         false,
		"-f /x -o MaxAuthTries=3":   false,
		"-h /etc/ssh/key":           false,
		"-oCiphers=aes128-ctr":      false,
		"-f /x -h /etc/ssh/key":     false,
		"-p 2222":                   false,
		"-f /x -f /y":               false,
		"-C user=alice -f /x":       false,
		"-D -E /var/log/x -f /x -e": true,
	} {
		if got := onlyConfigFile(daemonArgs(strings.Fields(args))); got != want {
			t.Errorf("%q: %v, want %v", args, got, want)
		}
	}
}

// TestImageLinksResolvedInRoot: in an image whose sshd and password file
// are absolute links (to files of the image), sshd is run chrooted into
// the image, and the keys name the files the links lead to inside it: a
// replaced binary or password file makes another key. Followed on the
// host, the links lead nowhere, and the image's own sshd was not used.
func TestImageLinksResolvedInRoot(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		os.Remove(p) // a replaced file: another inode
		must(t, os.WriteFile(p, []byte(content), 0o755))
	}
	write("usr/sbin/sshd-image", "#!/bin/false\n")
	write("etc/passwd-image", "root:x:0:0::/root:/bin/sh\n")
	write("etc/ssh/sshd_config", "Port 22\n")
	for link, target := range map[string]string{"usr/sbin/sshd": "/usr/sbin/sshd-image", "etc/passwd": "/etc/passwd-image"} {
		must(t, os.Symlink(target, filepath.Join(dir, link)))
	}
	root, err := files.NewRoot(dir)
	must(t, err)
	s, err := FindSSHD(SSHDOptions{Root: root, Config: "/etc/ssh/sshd_config", PidFile: "/run/sshd.pid", Mode: ReloadNone, Log: zerolog.Nop()})
	must(t, err)
	v, err := s.view()
	must(t, err)
	if v.spec.Chroot != dir || v.spec.Argv[0] != "/usr/sbin/sshd" {
		t.Fatalf("sshd runs as %q chrooted into %q; want the image's /usr/sbin/sshd in %s", v.spec.Argv, v.spec.Chroot, dir)
	}
	keys := func() (version, accept string) {
		t.Helper()
		version, err := s.VersionKey()
		must(t, err)
		accept, err = s.AcceptKey("digest")
		must(t, err)
		return version, accept
	}
	v1, a1 := keys()
	write("usr/sbin/sshd-image", "#!/bin/false\n# upgraded\n")
	v2, a2 := keys()
	if v1 == v2 || a1 == a2 {
		t.Errorf("the image's sshd replaced: version key changed %v, acceptance key changed %v; want both", v1 != v2, a1 != a2)
	}
	write("etc/passwd-image", "root:x:0:0::/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n")
	if _, a3 := keys(); a3 == a2 {
		t.Error("the image's password file replaced: the acceptance key did not change")
	}
}

// must fails the test on an error.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
