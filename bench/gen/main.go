// Command gen writes the deterministic inputs of bench/run.sh: OpenSSH
// configuration trees of a realistic shape and growing size, each with a
// desired-state file that makes the agent plan an edit near the end of its
// input.
//
//	go run ./bench/gen -kind hosts -n 10000 -out DIR     # ssh_config with N Host blocks
//	go run ./bench/gen -kind bytes -n 50000000 -out DIR  # ssh_config of at least N bytes
//	go run ./bench/gen -kind dropins -n 5000 -out DIR    # sshd_config.d with N drop-ins
//	go run ./bench/gen -kind dpkg -n 1500 -out DIR       # dpkg's status file of N packages, to lay over a tree
//
// DIR gets root/etc/ssh/… (the tree, for --root), desired.yaml, and
// meta.env: shell-safe KEY=value lines (files, lines, bytes, and the query
// that asks OpenSSH about the same thing: the ssh -G host). The same flags
// give the same bytes on every machine and Go version: nothing is random,
// every value is a function of the block or file number.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sshconverge/agent/bench/gen/dpkg"
)

func main() {
	kind := flag.String("kind", "", "hosts, bytes, dropins or dpkg")
	n := flag.Int("n", 0, "Host blocks (hosts), minimum bytes (bytes), drop-in files (dropins), or packages (dpkg)")
	out := flag.String("out", "", "output directory (created; must not exist or be empty)")
	flag.Parse()
	if *out == "" || *n < 1 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	var m Meta
	var err error
	switch *kind {
	case "hosts":
		m, err = WriteClient(*out, *n, 0)
	case "bytes":
		m, err = WriteClient(*out, 0, int64(*n))
	case "dropins":
		m, err = WriteServer(*out, *n)
	case "dpkg":
		m, err = WriteDpkg(*out, *n)
	default:
		err = fmt.Errorf("unknown -kind %q (want hosts, bytes, dropins or dpkg)", *kind)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d files, %d lines, %d bytes\n", *out, m.Files, m.Lines, m.Bytes)
}

// Meta describes a generated input.
type Meta struct {
	Kind   string // "ssh" or "sshd"
	Files  int    // configuration files in the tree
	Lines  int    // their lines
	Bytes  int64  // their bytes
	Blocks int    // Host blocks (ssh) or drop-ins (sshd)
	Target string // ssh: the host to ask ssh -G about (it matches the desired block)
}

// counter counts the bytes and lines written through it.
type counter struct {
	w     io.Writer
	bytes int64
	lines int
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.bytes += int64(n)
	for _, b := range p[:n] {
		if b == '\n' {
			c.lines++
		}
	}
	return n, err
}

// writeFile creates path (and its directories) and fills it with fill,
// adding the file's size and lines to m.
func writeFile(path string, m *Meta, fill func(w io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	c := &counter{w: bw}
	err = fill(c)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	m.Files++
	m.Lines += c.lines
	m.Bytes += c.bytes
	return err
}

func prepare(out string) error {
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s is not empty", out)
	}
	return os.MkdirAll(filepath.Join(out, "root", "etc", "ssh"), 0o755)
}

// debianClientHead is the start of Debian 12's /etc/ssh/ssh_config (its
// comments, and the Include of ssh_config.d that comes first).
const debianClientHead = `
# This is the ssh client system-wide configuration file.  See
# ssh_config(5) for more information.  This file provides defaults for
# users, and the values can be changed in per-user configuration files
# or on the command line.

# Configuration data is parsed as follows:
#  1. command line options
#  2. user-specific file
#  3. system-wide file
# Any configuration value is only changed the first time it is set.
# Thus, host-specific definitions should be at the beginning of the
# configuration file, and defaults at the end.

Include /etc/ssh/ssh_config.d/*.conf

`

// debianClientTail is Debian 12's closing Host * block (comments shortened).
const debianClientTail = `Host *
#   ForwardAgent no
#   ForwardX11 no
#   PasswordAuthentication yes
#   StrictHostKeyChecking ask
#   IdentityFile ~/.ssh/id_ed25519
#   Port 22
    SendEnv LANG LC_*
    HashKnownHosts yes
    GSSAPIAuthentication yes
`

var (
	roles = []string{"web", "db", "cache", "queue", "build", "mon", "mail", "proxy"}
	sites = []string{"fra1", "ams3", "lon1", "nyc2", "sfo3", "sgp1"}
	users = []string{"deploy", "admin", "ops", "backup", "git"}
)

// hostName is block i's first pattern; hostPatterns is its whole Host line
// after the keyword (a short name and its FQDN).
func hostName(i int) string {
	return fmt.Sprintf("%s-%s-%06d", roles[i%len(roles)], sites[(i/len(roles))%len(sites)], i)
}

func hostPatterns(i int) string {
	h := hostName(i)
	return h + " " + h + ".example.net"
}

// writeHostBlock writes block i: an occasional comment, the Host line, two
// to four keywords (HostName and User always; Port, IdentityFile,
// ServerAliveInterval or ProxyJump by turns), and a blank line. About 5.2
// lines and 128 bytes a block.
func writeHostBlock(w io.Writer, i int) error {
	var b strings.Builder
	if i%10 == 0 {
		fmt.Fprintf(&b, "# %s hosts in %s, batch %d\n", roles[i%len(roles)], sites[(i/len(roles))%len(sites)], i/10)
	}
	fmt.Fprintf(&b, "Host %s\n", hostPatterns(i))
	fmt.Fprintf(&b, "    HostName 10.%d.%d.%d\n", (i>>16)&255, (i>>8)&255, i&255)
	fmt.Fprintf(&b, "    User %s\n", users[i%len(users)])
	switch i % 3 {
	case 0:
		fmt.Fprintf(&b, "    Port %d\n", 2200+i%50)
	case 1:
		fmt.Fprintf(&b, "    IdentityFile ~/.ssh/id_ed25519_%s\n", roles[i%len(roles)])
		fmt.Fprintf(&b, "    ServerAliveInterval %d\n", 30+i%4*15)
	}
	if i%7 == 3 {
		fmt.Fprintf(&b, "    ProxyJump bastion-%s.example.net\n", sites[(i/len(roles))%len(sites)])
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteClient writes out/root/etc/ssh/ssh_config: Debian's head, Host
// blocks, Debian's Host * block; and an empty ssh_config.d. With blocks > 0
// it writes that many blocks; otherwise it writes blocks until the file has
// at least minBytes bytes. The desired file targets the second-to-last
// block (the last when there is one): it asks for ServerAliveInterval 180
// and ServerAliveCountMax 2, which that block does not have.
func WriteClient(out string, blocks int, minBytes int64) (Meta, error) {
	m := Meta{Kind: "ssh"}
	if err := prepare(out); err != nil {
		return m, err
	}
	etc := filepath.Join(out, "root", "etc", "ssh")
	if err := os.MkdirAll(filepath.Join(etc, "ssh_config.d"), 0o755); err != nil {
		return m, err
	}
	n := 0
	err := writeFile(filepath.Join(etc, "ssh_config"), &m, func(w io.Writer) error {
		c := w.(*counter)
		if _, err := io.WriteString(w, debianClientHead); err != nil {
			return err
		}
		tail := int64(len(debianClientTail))
		for (blocks > 0 && n < blocks) || (blocks == 0 && c.bytes+tail < minBytes) {
			if err := writeHostBlock(w, n); err != nil {
				return err
			}
			n++
		}
		_, err := io.WriteString(w, debianClientTail)
		return err
	})
	if err != nil {
		return m, err
	}
	m.Blocks = n
	target := max(n-2, 0)
	m.Target = hostName(target)
	desired := fmt.Sprintf(`# bench/gen: the keepalive settings for a Host block near the end.
version: 1
ssh:
  hosts:
    - host: %s
      settings:
        ServerAliveInterval: 180
        ServerAliveCountMax: 2
`, hostPatterns(target))
	return m, finish(out, m, desired)
}

// debianServer is Debian 12's /etc/ssh/sshd_config without its commented
// defaults: the Include of sshd_config.d comes first.
const debianServer = `
# This is the sshd server system-wide configuration file.  See
# sshd_config(5) for more information.

Include /etc/ssh/sshd_config.d/*.conf

KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem	sftp	/usr/lib/openssh/sftp-server
`

// WriteServer writes Debian's sshd_config and n drop-ins in sshd_config.d,
// named so that glob order is number order. Each sets two or three global
// keywords (the first one to set a keyword wins, as in sshd), every tenth
// ends with a Match User block, and the last sets LogLevel. The desired
// file asks for ClientAliveInterval 300 (the first drop-in sets 120) and
// LogLevel VERBOSE (set only by the last): one edit at each end.
func WriteServer(out string, n int) (Meta, error) {
	m := Meta{Kind: "sshd", Blocks: n}
	if err := prepare(out); err != nil {
		return m, err
	}
	etc := filepath.Join(out, "root", "etc", "ssh")
	err := writeFile(filepath.Join(etc, "sshd_config"), &m, func(w io.Writer) error {
		_, err := io.WriteString(w, debianServer)
		return err
	})
	if err != nil {
		return m, err
	}
	if err := writeServerDropIns(filepath.Join(etc, "sshd_config.d"), n, &m); err != nil {
		return m, err
	}
	return m, finish(out, m, serverDesired)
}

// WriteDpkg writes root/var/lib/dpkg/status only: the package database of
// a Debian host of n packages (see package dpkg), which the agent reads
// on every run to learn which OpenSSH files packages own. It is laid over
// another tree.
func WriteDpkg(out string, n int) (Meta, error) {
	m := Meta{Kind: "dpkg", Blocks: n}
	if err := prepare(out); err != nil {
		return m, err
	}
	status := filepath.Join(out, "root", "var", "lib", "dpkg", "status")
	return m, writeFile(status, &m, func(w io.Writer) error { return dpkg.WriteStatus(w, n) })
}

// serverDesired is the desired file of WriteServer: one edit in the first
// drop-in, one in the last.
const serverDesired = `# bench/gen: one edit in the first drop-in, one in the last.
version: 1
sshd:
  settings:
    ClientAliveInterval: 300
    LogLevel: VERBOSE
`

// writeServerDropIns creates dir and writes the n drop-ins of WriteServer
// into it, in number order, adding each file's size and lines to m. It
// stops at the first error.
func writeServerDropIns(dir string, n int, m *Meta) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%05d-%s.conf", 10+i, roles[i%len(roles)])
		err := writeFile(filepath.Join(dir, name), m, func(w io.Writer) error {
			_, err := io.WriteString(w, serverDropIn(i, n))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// serverDropIn returns the text of drop-in i of n: a comment naming its
// team, ClientAliveInterval, one of four other global keywords (by i mod
// 4), LogLevel INFO in the last one and a Match User block in every tenth.
func serverDropIn(i, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Managed by team %s (ticket OPS-%d).\n", roles[i%len(roles)], 1000+i)
	fmt.Fprintf(&b, "ClientAliveInterval %d\n", 120+i%5*30)
	switch i % 4 {
	case 0:
		fmt.Fprintf(&b, "MaxAuthTries %d\n", 3+i%4)
	case 1:
		fmt.Fprintf(&b, "LoginGraceTime %ds\n", 30+i%6*10)
	case 2:
		b.WriteString("PasswordAuthentication no\n")
	case 3:
		b.WriteString("AllowTcpForwarding no\n")
		b.WriteString("PermitRootLogin prohibit-password\n")
	}
	if i == n-1 {
		b.WriteString("LogLevel INFO\n")
	}
	if i%10 == 9 {
		fmt.Fprintf(&b, "Match User svc-%05d\n    X11Forwarding no\n    AllowTcpForwarding no\n", i)
	}
	return b.String()
}

// finish writes desired.yaml and meta.env.
func finish(out string, m Meta, desired string) error {
	if err := os.WriteFile(filepath.Join(out, "desired.yaml"), []byte(desired), 0o644); err != nil {
		return err
	}
	meta := fmt.Sprintf("kind=%s\nfiles=%d\nlines=%d\nbytes=%d\nblocks=%d\ntarget=%s\n",
		m.Kind, m.Files, m.Lines, m.Bytes, m.Blocks, m.Target)
	return os.WriteFile(filepath.Join(out, "meta.env"), []byte(meta), 0o644)
}
