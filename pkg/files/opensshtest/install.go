package opensshtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// HostInstall is the Name of the machine's own OpenSSH installation.
const HostInstall = "host"

// DefaultChroots is where .ci/setup.d/30-openssh-chroots.sh puts the
// chroots and their index, unless SSHCONVERGE_CHROOTS says otherwise.
const DefaultChroots = "/var/lib/sshconverge-test/chroots"

// Install is one OpenSSH installation the tests can ask: the machine's own
// binaries, or a Debian chroot made by .ci/setup.d/30-openssh-chroots.sh.
type Install struct {
	// Name is HostInstall, or the Debian suite of the chroot ("bullseye",
	// "trixie", "trixie-backports", "sid").
	Name string
	// Root is the chroot directory; "" for the host.
	Root string
	// Version is OpenSSH's version as `ssh -V` prints it, without
	// "OpenSSH_" and the distribution's suffix: "8.4p1", "9.2p1", "10.0p2".
	Version string
}

// String returns e.g. "sid (OpenSSH 10.6p1)".
func (in Install) String() string {
	return fmt.Sprintf("%s (OpenSSH %s)", in.Name, in.Version)
}

// AtLeast reports whether the installation's OpenSSH is version v or newer
// (v like "9.8" or "10.0p2"; a missing portable release counts as p0).
func (in Install) AtLeast(v string) bool {
	return CompareVersions(in.Version, v) >= 0
}

// CompareVersions compares two OpenSSH versions ("8.4p1", "10.0", "10.0p2")
// numerically: major, then minor, then portable release. It returns -1, 0
// or +1. Unparsable parts count as 0.
func CompareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for i := range pa {
		switch {
		case pa[i] < pb[i]:
			return -1
		case pa[i] > pb[i]:
			return 1
		}
	}
	return 0
}

// versionParts splits "10.0p2" into [10 0 2].
func versionParts(v string) [3]int {
	var p [3]int
	major, rest, _ := strings.Cut(v, ".")
	minor, portable, _ := strings.Cut(rest, "p")
	p[0], _ = strconv.Atoi(major)
	p[1], _ = strconv.Atoi(minor)
	p[2], _ = strconv.Atoi(portable)
	return p
}

// sshVersionRE finds the version in `ssh -V` output, e.g.
// "OpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w  11 Sep 2023".
var sshVersionRE = regexp.MustCompile(`OpenSSH_([0-9]+\.[0-9]+(?:p[0-9]+)?)`)

// ParseVersion returns the version in `ssh -V` output ("OpenSSH_10.0p2
// Debian-7+deb13u4, OpenSSL 3.5.4 ..." gives "10.0p2"). OpenSSH 8.4 has no
// `sshd -V`, so ssh's is the one every version answers.
func ParseVersion(sshV string) (string, error) {
	m := sshVersionRE.FindStringSubmatch(sshV)
	if m == nil {
		return "", fmt.Errorf("opensshtest: no OpenSSH version in %q", strings.TrimSpace(sshV))
	}
	return m[1], nil
}

// ChrootsDir returns the directory holding the chroots and their index:
// $SSHCONVERGE_CHROOTS, or DefaultChroots.
func ChrootsDir() string {
	if d := os.Getenv("SSHCONVERGE_CHROOTS"); d != "" {
		return d
	}
	return DefaultChroots
}

// wantSuites returns the suites whose chroots Installs requires: with the
// host's Debian 12 (OpenSSH 9.2p1) they make the five versions the Debian
// archive offers.
func wantSuites() []string {
	return []string{"bullseye", "trixie", "trixie-backports", "sid"}
}

// ReadIndex reads dir/index, the "suite version path" lines written by
// .ci/setup.d/30-openssh-chroots.sh, as Installs in file order. The versions
// are the index's; Installs checks them against the binaries.
func ReadIndex(dir string) ([]Install, error) {
	name := filepath.Join(dir, "index")
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("opensshtest: chroot index: %w", err)
	}
	var ins []Install
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 3 || !filepath.IsAbs(f[2]) {
			return nil, fmt.Errorf("opensshtest: %s line %d: want \"suite version /path\", have %q", name, n, sc.Text())
		}
		ins = append(ins, Install{Name: f[0], Version: f[1], Root: f[2]})
	}
	return ins, nil
}

// Installs returns every OpenSSH installation the tests can ask, oldest
// version first: the host's own (Name HostInstall) and one per chroot listed
// in ChrootsDir()/index, which must include the suites bullseye, trixie,
// trixie-backports and sid. Each Version comes from running `ssh -V` of
// that installation (inside its chroot).
//
// When the index, a chroot or a binary is missing, or the process is not
// root (chroot(2) needs it), Installs calls Unavailable: the test fails under
// CI=true and is skipped otherwise, saying to run
// .ci/setup.d/30-openssh-chroots.sh.
func Installs(tb testing.TB) []Install {
	tb.Helper()
	const how = "make them with: .ci/setup.d/30-openssh-chroots.sh (as root), or point SSHCONVERGE_CHROOTS at them"
	if os.Geteuid() != 0 {
		Unavailable(tb, "opensshtest: not root: running OpenSSH inside the chroots needs chroot(2) and mount; run the tests as root")
		return nil
	}
	dir := ChrootsDir()
	index, err := ReadIndex(dir)
	if err != nil {
		Unavailable(tb, "%v; %s", err, how)
		return nil
	}
	if missing := missingSuites(index); len(missing) > 0 {
		Unavailable(tb, "opensshtest: %s/index lacks the chroots %s; %s", dir, strings.Join(missing, ", "), how)
		return nil
	}
	all, ok := checkedInstalls(tb, index, how)
	if !ok {
		return nil
	}
	sortInstalls(all)
	return all
}

// missingSuites returns the suites of wantSuites that index has no chroot
// for, in wantSuites order.
func missingSuites(index []Install) []string {
	listed := map[string]bool{}
	for _, in := range index {
		listed[in.Name] = true
	}
	var missing []string
	for _, s := range wantSuites() {
		if !listed[s] {
			missing = append(missing, s)
		}
	}
	return missing
}

// checkedInstalls returns the host's installation, with the Version its
// `ssh -V` reports, followed by the installations of index, in index
// order. It runs `ssh -V` of each: when one cannot be run it calls
// Unavailable (how says how to make the chroots) and returns false; when
// one reports another version than the index it calls tb.Fatalf.
func checkedInstalls(tb testing.TB, index []Install, how string) ([]Install, bool) {
	tb.Helper()
	host := Install{Name: HostInstall}
	hv, err := installVersion(host)
	if err != nil {
		Unavailable(tb, "opensshtest: %v; install it with: apt-get install -y openssh-client", err)
		return nil, false
	}
	host.Version = hv
	all := []Install{host}
	for _, in := range index {
		v, err := installVersion(in)
		if err != nil {
			Unavailable(tb, "opensshtest: chroot %s: %v; %s", in.Name, err, how)
			return nil, false
		}
		if v != in.Version {
			tb.Fatalf("opensshtest: chroot %s: the index says OpenSSH %s, its ssh -V says %s; rerun .ci/setup.d/30-openssh-chroots.sh",
				in.Name, in.Version, v)
		}
		all = append(all, in)
	}
	return all, true
}

// sortInstalls sorts installations oldest version first, by Name within a
// version; the sort is stable.
func sortInstalls(all []Install) {
	sort.SliceStable(all, func(i, j int) bool {
		if c := CompareVersions(all[i].Version, all[j].Version); c != 0 {
			return c < 0
		}
		return all[i].Name < all[j].Name
	})
}

// installVersion runs `ssh -V` of the installation and parses it; for the
// host, the ssh found in $PATH.
func installVersion(in Install) (string, error) {
	return sshVersion(in, "")
}

// sshVersion runs `ssh -V` of the installation, with the binary ssh for the
// host when it is not "".
func sshVersion(in Install, ssh string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if in.Root == "" {
		if ssh == "" {
			p, err := exec.LookPath("ssh")
			if err != nil {
				return "", fmt.Errorf("no ssh: %w", err)
			}
			ssh = p
		}
		cmd = exec.CommandContext(ctx, ssh, "-V")
	} else {
		if _, err := os.Stat(filepath.Join(in.Root, "usr/bin/ssh")); err != nil {
			return "", fmt.Errorf("no ssh in the chroot: %w", err)
		}
		chroot := "/usr/sbin/chroot"
		if _, err := os.Stat(chroot); err != nil {
			if chroot, err = exec.LookPath("chroot"); err != nil {
				return "", fmt.Errorf("no chroot(8): %w", err)
			}
		}
		cmd = exec.CommandContext(ctx, chroot, in.Root, "/usr/bin/ssh", "-V")
	}
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	return ParseVersion(string(out))
}

// NewFor returns an Oracle asking the installation in (one of Installs):
// for the host it is New; for a chroot, `sshd -T`/`-t` and `ssh -G` run
// inside the chroot, in a private mount namespace where the tree's etc/ssh
// is bound over the chroot's /etc/ssh, the chroot itself is read-only, a
// fresh /proc is mounted and the oracle's host key directory is bound over
// the chroot's /tmp. The cached chroot is never written to.
//
// Like New, it calls Unavailable (fail under CI=true, skip otherwise) when
// the chroot or a tool is missing or sshd -T / ssh -G fail on an empty
// configuration.
func NewFor(tb testing.TB, in Install) *Oracle {
	tb.Helper()
	return newOracle(tb, in)
}

// Install returns the installation the Oracle asks.
func (o *Oracle) Install() Install { return o.install }

// version runs `ssh -V` of the Oracle's installation.
func (o *Oracle) version() (string, error) {
	return sshVersion(o.install, o.ssh)
}

// chrootSetup checks what running sshd and ssh inside the chroot needs and
// takes root's home directory from the chroot's passwd file.
func (o *Oracle) chrootSetup() error {
	root := o.install.Root
	for _, d := range []string{"etc/ssh", "proc", "tmp", "run/sshd"} {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			return fmt.Errorf("chroot %s has no directory /%s", root, d)
		}
	}
	for _, f := range []string{"dev/null", "etc/passwd"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			return fmt.Errorf("chroot %s has no /%s", root, f)
		}
	}
	home, err := passwdHome(filepath.Join(root, "etc/passwd"), os.Geteuid())
	if err != nil {
		return err
	}
	o.home = home
	return nil
}

// passwdHome returns the home directory of uid in a passwd(5) file.
func passwdHome(file string, uid int) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("opensshtest: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 7 && f[2] == strconv.Itoa(uid) {
			return f[5], nil
		}
	}
	return "", fmt.Errorf("opensshtest: %s has no user with uid %d", file, uid)
}
