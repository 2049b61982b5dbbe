package main

import (
	"bytes"
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// digest hashes every file under dir (names and contents) and counts
// the lines and bytes of the tree (root/), dot files included.
func digest(t *testing.T, dir string) (sum [32]byte, files, lines int, size int64) {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Write([]byte(rel + "\x00"))
		h.Write(b)
		if strings.HasPrefix(rel, "root"+string(filepath.Separator)) { // the tree, not desired.yaml or meta.env
			files++
			lines += bytes.Count(b, []byte("\n"))
			size += int64(len(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, files, lines, size
}

// TestDeterministic: the same flags give the same bytes, and Meta counts
// what was written.
func TestDeterministic(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func(out string) (Meta, error)
	}{
		{"hosts", func(out string) (Meta, error) { return WriteClient(out, 300, 0) }},
		{"bytes", func(out string) (Meta, error) { return WriteClient(out, 0, 100_000) }},
		{"dropins", func(out string) (Meta, error) { return WriteServer(out, 25) }},
		{"dpkg", func(out string) (Meta, error) { return WriteDpkg(out, 40) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
			ma, err := tc.gen(a)
			if err != nil {
				t.Fatal(err)
			}
			mb, err := tc.gen(b)
			if err != nil {
				t.Fatal(err)
			}
			sa, files, lines, size := digest(t, a)
			sb, _, _, _ := digest(t, b)
			if sa != sb || ma != mb {
				t.Errorf("two runs differ: %+v and %+v", ma, mb)
			}
			if ma.Files != files || ma.Lines != lines || ma.Bytes != size {
				t.Errorf("meta %+v, but the tree has %d files, %d lines, %d bytes", ma, files, lines, size)
			}
			if _, err := tc.gen(a); err == nil {
				t.Error("writing into a non-empty directory succeeded")
			}
		})
	}
}

// TestDpkgShape: 1,500 packages make a status file of a small server's
// size, whose openssh-client stanza lists ssh_config among its conffiles.
func TestDpkgShape(t *testing.T) {
	out := t.TempDir()
	m, err := WriteDpkg(out, 1500)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "root/var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Bytes < 600_000 || m.Bytes > 900_000 || int64(len(b)) != m.Bytes {
		t.Errorf("%d bytes (meta %d), want 600-900 kB", len(b), m.Bytes)
	}
	if got := strings.Count(string(b), "\nPackage: ") + 1; got != 1500 {
		t.Errorf("%d packages, want 1500", got)
	}
	if !strings.Contains(string(b), "Package: openssh-client\n") || !strings.Contains(string(b), "\n /etc/ssh/ssh_config 3d2e") {
		t.Error("no openssh-client stanza with ssh_config among its conffiles")
	}
}

func TestClientShape(t *testing.T) {
	out := t.TempDir()
	m, err := WriteClient(out, 0, 200_000)
	if err != nil {
		t.Fatal(err)
	}
	if m.Bytes < 200_000 || m.Bytes > 200_000+400 {
		t.Errorf("asked for 200000 bytes, got %d", m.Bytes)
	}
	src, err := os.ReadFile(filepath.Join(out, "root/etc/ssh/ssh_config"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	if got := strings.Count(text, "\nHost "); got != m.Blocks+1 {
		t.Errorf("%d Host lines, want %d blocks and Host *", got, m.Blocks)
	}
	if !strings.Contains(text, "\nInclude /etc/ssh/ssh_config.d/*.conf\n") || !strings.HasSuffix(text, "    GSSAPIAuthentication yes\n") {
		t.Error("Debian's Include and Host * are missing")
	}
	// The target block is the second-to-last, near the end of the file.
	at := strings.Index(text, "\nHost "+m.Target+" ")
	if at < 0 || float64(at) < 0.99*float64(len(text)) {
		t.Errorf("target %s at byte %d of %d", m.Target, at, len(text))
	}
	desired, err := os.ReadFile(filepath.Join(out, "desired.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(desired), "- host: "+m.Target+" "+m.Target+".example.net\n") {
		t.Errorf("desired.yaml does not target %s:\n%s", m.Target, desired)
	}
	meta, _ := os.ReadFile(filepath.Join(out, "meta.env"))
	if !strings.Contains(string(meta), "target="+m.Target+"\n") {
		t.Errorf("meta.env: %s", meta)
	}
}

func TestServerShape(t *testing.T) {
	out := t.TempDir()
	m, err := WriteServer(out, 120)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(out, "root/etc/ssh/sshd_config.d"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 120 || m.Files != 121 {
		t.Fatalf("%d drop-ins, meta %+v", len(ents), m)
	}
	// The glob order (byte order) is the number order.
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	if !sort.StringsAreSorted(names) || names[0] != "00010-web.conf" || names[119] != "00129-proxy.conf" {
		t.Errorf("names %s … %s", names[0], names[119])
	}
	last, _ := os.ReadFile(filepath.Join(out, "root/etc/ssh/sshd_config.d", names[119]))
	if !strings.Contains(string(last), "\nLogLevel INFO\n") {
		t.Errorf("the last drop-in does not set LogLevel:\n%s", last)
	}
}

// TestOpenSSHAccepts asks the real OpenSSH: sshd -t accepts the drop-ins,
// the first drop-in decides ClientAliveInterval and the last LogLevel, and
// ssh -G reads the target's block. Skipped without root and OpenSSH
// (failed under CI=true), like every opensshtest user.
func TestOpenSSHAccepts(t *testing.T) {
	o := opensshtest.New(t)
	srv := t.TempDir()
	if _, err := WriteServer(srv, 30); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(srv, "root")
	if err := o.ServerCheck(root); err != nil {
		t.Fatalf("sshd -t: %v", err)
	}
	d, err := o.ServerT(root, []opensshtest.Conn{{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := d[0].Value("ClientAliveInterval"); got != "120" {
		t.Errorf("sshd -T ClientAliveInterval %q, want 120 (the first drop-in)", got)
	}
	if got := d[0].Value("LogLevel"); got != "INFO" {
		t.Errorf("sshd -T LogLevel %q, want INFO (the last drop-in)", got)
	}

	cli := t.TempDir()
	m, err := WriteClient(cli, 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	g, err := o.ClientG(filepath.Join(cli, "root"), []string{m.Target})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g[0].Value("HostName"), "10.0.0.48"; got != want {
		t.Errorf("ssh -G %s: hostname %q, want %q", m.Target, got, want)
	}
	if got := g[0].Value("ServerAliveInterval"); got != "0" {
		t.Errorf("ssh -G %s: serveraliveinterval %q, want 0 (the desired file has work to do)", m.Target, got)
	}
}
