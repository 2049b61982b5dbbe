package reconcile

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
)

// ed25519HostKey returns a new ed25519 private key, unencrypted, in
// OpenSSH's own format (PROTOCOL.key: "openssh-key-v1"), as ssh-keygen -t
// ed25519 -N "" writes it: what sshd -h reads. Made here, not by
// ssh-keygen, it costs no process start on a tree without host keys.
func ed25519HostKey(comment string) ([]byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var check [4]byte
	if _, err := rand.Read(check[:]); err != nil {
		return nil, err
	}
	pubBlob := sshString(sshString(nil, []byte("ssh-ed25519")), pub)

	// The private section: two equal check words, the key, its comment,
	// and padding 1, 2, 3… to the cipher's block size (8 for "none").
	var sec []byte
	sec = append(sec, check[:]...)
	sec = append(sec, check[:]...)
	sec = sshString(sec, []byte("ssh-ed25519"))
	sec = sshString(sec, pub)
	sec = sshString(sec, priv) // 64 bytes: the seed, then the public key
	sec = sshString(sec, []byte(comment))
	for i := byte(1); len(sec)%8 != 0; i++ {
		sec = append(sec, i)
	}

	out := []byte("openssh-key-v1\x00")
	out = sshString(out, []byte("none")) // cipher
	out = sshString(out, []byte("none")) // KDF
	out = sshString(out, nil)            // KDF options
	out = binary.BigEndian.AppendUint32(out, 1)
	out = sshString(out, pubBlob)
	out = sshString(out, sec)
	return pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: out}), nil
}

// sshString appends s to b as the SSH wire format's string: a 32-bit
// big-endian length, then the bytes.
func sshString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
