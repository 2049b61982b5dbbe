package reconcile

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/sshconverge/agent/pkg/files"
)

// Owners says which configuration files belong to someone else: a
// package (dpkg's conffiles, ucf, Red Hat's packaged files, anything under
// /usr) or a program that rewrites them (cloud-init, crypto-policies).
// The agent leaves such a file as it is when a file of its own can set the
// value instead. The package databases are read once, when first needed.
type Owners struct {
	root *files.Root
	once sync.Once
	pkgs map[string]string // configuration path -> owning package
}

// NewOwners returns the owners of files under root.
func NewOwners(root *files.Root) *Owners { return &Owners{root: root} }

// generated are files programs other than the agent rewrite.
var generated = map[string]string{
	"/etc/ssh/sshd_config.d/50-cloud-init.conf":             "cloud-init, which writes it anew on a new instance",
	"/etc/ssh/sshd_config.d/60-cloudimg-settings.conf":      "the cloud image's build",
	"/etc/ssh/sshd_config.d/40-redhat-crypto-policies.conf": "the openssh package (crypto-policies)",
}

// redHatPackaged are the files Red Hat's openssh packages own (rpm's
// database is not read).
var redHatPackaged = []string{
	"/etc/ssh/sshd_config", "/etc/ssh/ssh_config",
	"/etc/ssh/sshd_config.d/50-redhat.conf", "/etc/ssh/ssh_config.d/50-redhat.conf",
}

// Owner returns who owns the file at the configuration path p (checked
// as named and with its symbolic links resolved), or "" for a file of the
// administrator's or the agent's.
func (o *Owners) Owner(p string) string {
	if o == nil {
		return ""
	}
	names := []string{p}
	if r, err := o.root.Resolve(p); err == nil && r != p {
		names = append(names, r)
	}
	for _, n := range names {
		if who := o.owner(n); who != "" {
			return who
		}
	}
	return ""
}

// Protected reports whether another owner has the file at p.
func (o *Owners) Protected(p string) bool { return o.Owner(p) != "" }

func (o *Owners) owner(p string) string {
	switch {
	case generated[p] != "":
		return generated[p]
	case strings.HasPrefix(p, "/usr/"):
		return "the distribution (vendor files under /usr)"
	case strings.HasPrefix(p, "/etc/crypto-policies/"):
		return "crypto-policies (policy " + o.policy() + "), which update-crypto-policies rewrites"
	}
	o.once.Do(o.readDatabases)
	if pkg := o.pkgs[p]; pkg != "" {
		return "the " + pkg + " package"
	}
	return ""
}

// policy names the system's crypto policy, or "unknown".
func (o *Owners) policy() string {
	b, err := o.root.ReadFile("/etc/crypto-policies/config")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return "unknown"
}

// readDatabases reads dpkg's conffiles, ucf's registry, and on a Red Hat
// system the files its openssh packages own.
func (o *Owners) readDatabases() {
	o.pkgs = map[string]string{}
	if f, err := o.root.Open("/var/lib/dpkg/status"); err == nil {
		o.dpkgConffiles(io.LimitReader(f, files.MaxFileSize)) // a sparse terabyte is not read to its end
		f.Close()
	}
	if b, err := o.root.ReadFile("/var/lib/ucf/registry"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 2 && path.IsAbs(f[1]) {
				o.pkgs[f[1]] = f[0]
			}
		}
	}
	for _, rel := range []string{"/etc/redhat-release", "/etc/system-release"} {
		if _, err := o.root.Stat(rel); err == nil {
			for _, p := range redHatPackaged {
				o.pkgs[p] = "openssh (rpm)"
			}
			break
		}
	}
}

// dpkgConffiles records the conffiles of dpkg's status file that
// configure OpenSSH (lines " /etc/ssh/…" and " /etc/crypto-policies/…"),
// each the package of the last "Package: " line before it. The file is
// about a megabyte on a server and read on every run: it is read through
// one buffer of 64 kB, so that a run does not map a megabyte of fresh
// memory for it, and its lines are looked at in place. A line longer than
// the buffer is read as its first 64 kB. A read error ends the reading.
func (o *Owners) dpkgConffiles(status io.Reader) {
	r := bufio.NewReaderSize(status, 64<<10)
	var pkg []byte // copied: the buffer is read into again
	start := true  // the slice ReadSlice returns next starts a line
	for {
		line, err := r.ReadSlice('\n')
		if start {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			switch {
			case bytes.HasPrefix(line, []byte("Package: ")):
				pkg = append(pkg[:0], line[len("Package: "):]...)
			case bytes.HasPrefix(line, []byte(" /etc/ssh/")), bytes.HasPrefix(line, []byte(" /etc/crypto-policies/")):
				if f := bytes.Fields(line); len(f) >= 2 {
					o.pkgs[string(f[0])] = string(pkg)
				}
			}
		}
		start = !errors.Is(err, bufio.ErrBufferFull)
		if err != nil && start {
			return
		}
	}
}
