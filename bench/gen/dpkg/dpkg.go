// Package dpkg writes the dpkg status file of a Debian host of a given
// size, for the benchmarks: the agent reads it on every run to learn
// which OpenSSH files packages own (their conffiles).
package dpkg

import (
	"fmt"
	"io"
)

// WriteStatus writes a dpkg status file of n installed packages, stanzas
// of about 500 bytes as on a Debian server (1,500 packages make the 750
// kB of a small one). The package in the middle is openssh-client, whose
// conffiles are /etc/ssh/moduli and /etc/ssh/ssh_config; every fifth
// other package has a conffile of its own. The same n gives the same
// bytes.
func WriteStatus(w io.Writer, n int) error {
	for i := range n {
		name := fmt.Sprintf("pkg-%04d", i)
		if i == n/2 {
			name = "openssh-client"
		}
		conffiles := ""
		switch {
		case name == "openssh-client":
			conffiles = "Conffiles:\n /etc/ssh/moduli 9ab6b8ba9d2b0a3d1aa5c0d2d4c5b6a7\n /etc/ssh/ssh_config 3d2e2e5b2c4f8a1b0c9d8e7f6a5b4c3d\n"
		case i%5 == 0:
			conffiles = fmt.Sprintf("Conffiles:\n /etc/%s/%s.conf 0123456789abcdef0123456789abcdef\n", name, name)
		}
		_, err := fmt.Fprintf(w, `Package: %s
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: %d
Maintainer: Debian Developers <debian-devel@lists.debian.org>
Architecture: amd64
Version: 1.%d.3-4
Depends: libc6 (>= 2.34), libpkg%d (>= 1.0)
%sDescription: package number %d of the benchmark's host
 This long description wraps over several lines, as the
 descriptions of Debian's packages do, and says what the
 package is for and what it depends on.
Homepage: https://example.org/%s

`, name, 100+i, i%7, i, conffiles, i, name)
		if err != nil {
			return err
		}
	}
	return nil
}
