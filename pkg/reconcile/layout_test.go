package reconcile

import (
	"bufio"
	"bytes"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sshconverge/agent/pkg/files"
	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// TestVendorMainFile: openSUSE keeps its main files under /usr/etc/ssh and
// has no /etc/ssh/sshd_config. The agent reads the vendor file, and sets
// values in its own drop-in under /etc/ssh/sshd_config.d, never in the
// vendor file the package owns.
func TestVendorMainFile(t *testing.T) {
	dir := opensshtest.CopyDistroTree(t, "opensuse-tumbleweed")
	p, _ := computeIn(t, dir, "version: 1\nsshd:\n  settings: {ClientAliveInterval: 300, Subsystem: sftp internal-sftp}\nssh:\n  hosts:\n    - host: examplehost\n      settings: {ServerAliveInterval: 180}\n")
	if p.ServerConfig != "/usr/etc/ssh/sshd_config" {
		t.Fatalf("sshd's main file %q", p.ServerConfig)
	}
	var written []string
	for _, f := range p.Files {
		written = append(written, f.Path)
	}
	want := []string{"/usr/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/" + DropInName, "/etc/ssh/ssh_config.d/" + DropInName}
	if diff := cmp.Diff(want, written); diff != "" {
		t.Errorf("files written (-want +got):\n%s", diff)
	}
	// Subsystem is cumulative: a drop-in line would add a second sftp,
	// which sshd refuses; the vendor line is edited in place after all,
	// the only way the value can take effect.
	for _, c := range p.Changes {
		if c.Keyword == "Subsystem" && (c.Status != Changed || c.Edits[0].File != "/usr/etc/ssh/sshd_config") {
			t.Errorf("Subsystem: %+v", c)
		}
	}
}

// TestOwners names who has each file: dpkg conffiles, ucf, Red Hat's
// packaged files, /usr, cloud-init, crypto-policies with its policy.
func TestOwners(t *testing.T) {
	dir := t.TempDir()
	for p, c := range map[string]string{
		"var/lib/dpkg/status":             "Package: openssh-client\nStatus: install ok installed\nConffiles:\n /etc/ssh/ssh_config 8a5bddc82befb71d8ef34cc903d3d077\n /etc/ssh/moduli 1f68\n\nPackage: other\nConffiles:\n /etc/other.conf abc\n",
		"var/lib/ucf/registry":            "openssh-server \t /etc/ssh/sshd_config\n",
		"etc/crypto-policies/config":      "# the policy\nFUTURE\n",
		"etc/ssh/sshd_config.d/10-x.conf": "",
	} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/usr/share/crypto-policies/FUTURE/opensshserver.txt", filepath.Join(dir, "etc/ssh/linked.conf")); err != nil {
		t.Fatal(err)
	}
	root, _ := files.NewRoot(dir)
	o := NewOwners(root)
	for p, want := range map[string]string{
		"/etc/ssh/ssh_config":                                 "the openssh-client package",
		"/etc/ssh/sshd_config":                                "the openssh-server package",
		"/etc/ssh/sshd_config.d/10-x.conf":                    "",
		"/etc/ssh/sshd_config.d/00-sshconverge.conf":          "",
		"/etc/ssh/sshd_config.d/50-cloud-init.conf":           "cloud-init, which writes it anew on a new instance",
		"/usr/etc/ssh/sshd_config":                            "the distribution (vendor files under /usr)",
		"/etc/ssh/linked.conf":                                "the distribution (vendor files under /usr)", // through its link
		"/etc/crypto-policies/back-ends/opensshserver.config": "crypto-policies (policy FUTURE), which update-crypto-policies rewrites",
	} {
		if got := o.Owner(p); got != want {
			t.Errorf("Owner(%s) = %q, want %q", p, got, want)
		}
	}
}

// TestDpkgConffiles reads dpkg status files the way a line-by-line reader
// does (dpkgConffilesByLine, the reading before the status file was
// looked at in place): on random files made of a status file's kinds of
// lines, with CRLF ends, a last line without its newline, a conffile
// before any Package line, Description lines, obsolete marks and tabs.
func TestDpkgConffiles(t *testing.T) {
	lines := []string{
		"Package: openssh-client", "Package: openssh-server", "Package: crypto-policies", "Package: ",
		"Status: install ok installed", "Conffiles:", "Description: the client", " it connects to /etc/ssh/ hosts",
		" /etc/ssh/ssh_config 3d2e2e5b", " /etc/ssh/moduli 9ab6 obsolete", " /etc/ssh/sshd_config.d/x.conf\tabc",
		" /etc/crypto-policies/back-ends/openssh.config 11", " /etc/ssh/", " /etc/ssh/lonely", " /etc/default/ssh 500e",
		"/etc/ssh/not-indented 12", "", " ", "Package:openssh-client",
	}
	ends := []string{"\n", "\n", "\n", "\r\n", ""}
	rng := rand.New(rand.NewPCG(12, 1))
	for i := range 2000 {
		var sb strings.Builder
		for range rng.IntN(30) {
			sb.WriteString(lines[rng.IntN(len(lines))])
			sb.WriteString(ends[rng.IntN(len(ends))])
		}
		status := []byte(sb.String())
		got, want := &Owners{pkgs: map[string]string{}}, &Owners{pkgs: map[string]string{}}
		got.dpkgConffiles(bytes.NewReader(status))
		dpkgConffilesByLine(want, status)
		if diff := cmp.Diff(want.pkgs, got.pkgs); diff != "" {
			t.Fatalf("status file %d %q: conffiles differ from the line-by-line reading (-want +got):\n%s", i, status, diff)
		}
	}
}

// TestDpkgConffilesLongLine: a line longer than the read buffer is one
// line: what follows its first 64 kB does not start a line, and the lines
// after it are read.
func TestDpkgConffilesLongLine(t *testing.T) {
	long := "Description: x" + strings.Repeat(" long", (64<<10)/5)
	long = long[:64<<10] + " /etc/ssh/inside-a-line 1\n"
	status := "Package: openssh-client\n" + long + "Conffiles:\n /etc/ssh/ssh_config 3d2e\n"
	o := &Owners{pkgs: map[string]string{}}
	o.dpkgConffiles(strings.NewReader(status))
	if want := map[string]string{"/etc/ssh/ssh_config": "openssh-client"}; !maps.Equal(o.pkgs, want) {
		t.Errorf("conffiles %v, want %v", o.pkgs, want)
	}
}

// TestDpkgStatusSparse: a status file of a terabyte (sparse, a hostile
// image's) is read up to files.MaxFileSize, not to its end: what comes
// first still counts.
func TestDpkgStatusSparse(t *testing.T) {
	dir := t.TempDir()
	status := filepath.Join(dir, "var/lib/dpkg/status")
	if err := os.MkdirAll(filepath.Dir(status), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(status, []byte("Package: openssh-client\nConffiles:\n /etc/ssh/ssh_config 3d2e\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(status, 1<<40); err != nil {
		t.Fatal(err)
	}
	root, err := files.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := NewOwners(root).Owner("/etc/ssh/ssh_config"), "the openssh-client package"; got != want {
		t.Errorf("Owner(/etc/ssh/ssh_config) = %q, want %q", got, want)
	}
}

// dpkgConffilesByLine is dpkgConffiles as it read the file line by line,
// a string per line: TestDpkgConffiles's reference.
func dpkgConffilesByLine(o *Owners, status []byte) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	var pkg string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Package: "):
			pkg = strings.TrimPrefix(line, "Package: ")
		case strings.HasPrefix(line, " /etc/ssh/"), strings.HasPrefix(line, " /etc/crypto-policies/"):
			if f := strings.Fields(line); len(f) >= 2 {
				o.pkgs[f[0]] = pkg
			}
		}
	}
}

// TestDiffNamesTheFileWritten: a symbolic link to the configuration stays
// a link; the diff names the file written, its target.
func TestDiffNamesTheFileWritten(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc/ssh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "srv/sshd_config"), []byte("ClientAliveInterval 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/srv/sshd_config", filepath.Join(dir, "etc/ssh/sshd_config")); err != nil {
		t.Fatal(err)
	}
	p, _ := computeIn(t, dir, "version: 1\nsshd:\n  settings: {ClientAliveInterval: 300}\n")
	if d := p.Diff(); !strings.HasPrefix(d, "--- a/srv/sshd_config\n+++ b/srv/sshd_config\n") {
		t.Errorf("diff:\n%s", d)
	}
}
