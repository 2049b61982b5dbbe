package reconcile

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEd25519HostKeyReadByOpenSSH: the key made in Go is one OpenSSH
// reads: ssh-keygen -y derives from it the public key it holds, with its
// comment, and two keys differ.
func TestEd25519HostKeyReadByOpenSSH(t *testing.T) {
	keygen := "/usr/bin/ssh-keygen"
	if _, err := os.Stat(keygen); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ssh-keygen is missing: %v", err)
		}
		t.Skipf("ssh-keygen is missing: %v", err)
	}
	dir := t.TempDir()
	seen := map[string]bool{}
	for i := range 3 {
		key, err := ed25519HostKey("sshconverge-ephemeral")
		if err != nil {
			t.Fatal(err)
		}
		blk, rest := pem.Decode(key)
		if blk == nil || blk.Type != "OPENSSH PRIVATE KEY" || len(rest) != 0 {
			t.Fatalf("not one OPENSSH PRIVATE KEY block:\n%s", key)
		}
		// After the magic: cipher, KDF and KDF options (three strings),
		// the key count, then the public key blob.
		b := blk.Bytes[len("openssh-key-v1\x00"):]
		for range 3 {
			b = b[4+binary.BigEndian.Uint32(b):]
		}
		b = b[4:]
		blob := b[4 : 4+binary.BigEndian.Uint32(b)]
		want := "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " sshconverge-ephemeral"
		if seen[want] {
			t.Fatalf("the same key twice: %s", want)
		}
		seen[want] = true

		p := filepath.Join(dir, "key"+string(rune('0'+i)))
		if err := os.WriteFile(p, key, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(keygen, "-y", "-f", p).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen -y refuses the key: %v: %s\n%s", err, out, key)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Fatalf("ssh-keygen -y derives\n%s\nthe file holds\n%s", got, want)
		}
	}
}
