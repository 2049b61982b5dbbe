package packaging_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// debVersion is what the test builds; build.sh adds the Debian revision
// -1 to a version without one.
const (
	debUpstream = "1.2.3~test"
	debVersion  = debUpstream + "-1"
)

// buildDeb runs packaging/deb/build.sh once and returns the package's
// path.
func buildDeb(t *testing.T) string {
	t.Helper()
	need(t, "bash", "dpkg", "dpkg-deb", "gzip", "git", "md5sum")
	goTool(t)
	shared.debOnce.Do(func() {
		out := filepath.Join(shared.dir, "deb")
		cmd := exec.Command("bash", filepath.Join(repoRoot(t), "packaging", "deb", "build.sh"), debUpstream, out)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1767323045")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			shared.debErr = fmt.Errorf("build.sh: %v\n%s%s", err, stdout.String(), stderr.String())
			return
		}
		shared.deb = strings.TrimSpace(stdout.String())
		arch, err := exec.Command("dpkg", "--print-architecture").Output()
		if err != nil {
			shared.debErr = err
			return
		}
		if want := filepath.Join(out, "sshconverge_"+debVersion+"_"+strings.TrimSpace(string(arch))+".deb"); shared.deb != want {
			shared.debErr = fmt.Errorf("build.sh printed %q, want %q", shared.deb, want)
		}
	})
	if shared.debErr != nil {
		t.Fatal(shared.debErr)
	}
	return shared.deb
}

// TestDebPackage builds the package and checks it the way a machine would
// meet it, without installing anything into this machine:
//   - its contents: owners, modes, the static stamped binary, the units
//     (not enabled: nothing under /etc, no postinst), the man page, docs;
//   - lintian: no error and no warning; each override gives its reason;
//   - two builds give the same bytes;
//   - dpkg installs it into a scratch root (dpkg --root, the maintainer
//     scripts run against it through DPKG_ROOT), the installed binary
//     audits and converges a test tree, systemd-analyze verifies the
//     installed units with the installed man page, and dpkg --purge takes
//     every file away, with the state directory and an enable link.
//
// The machine's own /etc/ssh, /usr/bin and dpkg database are compared
// before and after.
func TestDebPackage(t *testing.T) {
	need(t, "dpkg", "dpkg-deb")
	needRoot(t, "dpkg --root writes root-owned files, and the agent wants a root-owned desired file")
	hostBefore := hostDigest(t)
	defer func() {
		if d := diffDigests(hostBefore, hostDigest(t)); len(d) > 0 {
			t.Errorf("the test changed this machine: %v", d)
		}
	}()

	deb := buildDeb(t)
	t.Run("contents", func(t *testing.T) { checkDebContents(t, deb) })
	t.Run("lintian", func(t *testing.T) { checkLintian(t, deb) })
	t.Run("install_run_purge", func(t *testing.T) { checkInstall(t, deb) })
	t.Run("reproducible", func(t *testing.T) {
		out := t.TempDir()
		cmd := exec.Command("bash", filepath.Join(repoRoot(t), "packaging", "deb", "build.sh"), debUpstream, out)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1767323045")
		code, msg := run(t, cmd)
		if code != 0 {
			t.Fatalf("build.sh: exit %d\n%s", code, msg)
		}
		a, err := os.ReadFile(deb)
		mustDo(t, err)
		b, err := os.ReadFile(filepath.Join(out, filepath.Base(deb)))
		mustDo(t, err)
		if !bytes.Equal(a, b) {
			t.Errorf("two builds of one tree with one SOURCE_DATE_EPOCH differ")
		}
	})
}

// hostDigest covers what a wrong dpkg call would change on this machine.
func hostDigest(t *testing.T) map[string]string {
	m := treeDigest(t, "/etc/ssh")
	for _, p := range []string{"/usr/bin/sshconverge", "/usr/lib/systemd/system/sshconverge.service", "/usr/lib/systemd/system/sshconverge.timer", "/var/lib/dpkg/status", "/var/lib/sshconverge"} {
		for k, v := range treeDigest(t, p) {
			m[k] = v
		}
	}
	return m
}

func checkDebContents(t *testing.T, deb string) {
	code, out := run(t, exec.Command("dpkg-deb", "--contents", deb))
	if code != 0 {
		t.Fatalf("dpkg-deb --contents: exit %d\n%s", code, out)
	}
	entries := map[string]string{} // path → mode
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		if f[1] != "root/root" {
			t.Errorf("%s is owned by %s, want root/root", f[5], f[1])
		}
		entries[strings.TrimPrefix(f[5], ".")] = f[0]
	}
	for path, mode := range map[string]string{
		"/usr/bin/sshconverge":                                              "-rwxr-xr-x",
		"/usr/lib/systemd/system/sshconverge.service":                       "-rw-r--r--",
		"/usr/lib/systemd/system/sshconverge.timer":                         "-rw-r--r--",
		"/usr/share/man/man8/sshconverge.8.gz":                              "-rw-r--r--",
		"/usr/share/doc/sshconverge/copyright":                              "-rw-r--r--",
		"/usr/share/doc/sshconverge/changelog.Debian.gz":                    "-rw-r--r--",
		"/usr/share/doc/sshconverge/install.md.gz":                          "-rw-r--r--",
		"/usr/share/doc/sshconverge/examples/keepalive.yaml":                "-rw-r--r--",
		"/usr/share/doc/sshconverge/examples/cron.d/sshconverge":            "-rw-r--r--",
		"/usr/share/doc/sshconverge/examples/demo-root/etc/ssh/sshd_config": "-rw-r--r--",
		"/usr/share/lintian/overrides/sshconverge":                          "-rw-r--r--",
	} {
		if got, ok := entries[path]; !ok {
			t.Errorf("the package lacks %s", path)
		} else if got != mode {
			t.Errorf("%s has mode %s, want %s", path, got, mode)
		}
	}
	for path := range entries {
		if strings.HasPrefix(path, "/etc/") {
			t.Errorf("the package ships %s: it must not enable anything nor own configuration", path)
		}
	}
	// The units are the ones in examples/systemd, byte for byte.
	for _, name := range []string{serviceName, timerName} {
		in := extractFromDeb(t, deb, "./usr/lib/systemd/system/"+name)
		want, err := os.ReadFile(unitPath(t, name))
		mustDo(t, err)
		if !bytes.Equal(in, want) {
			t.Errorf("the package's %s differs from examples/systemd/%s", name, name)
		}
	}
	// Control: nothing is enabled or started on install.
	ctl := t.TempDir()
	if code, out := run(t, exec.Command("dpkg-deb", "--control", deb, ctl)); code != 0 {
		t.Fatalf("dpkg-deb --control: exit %d\n%s", code, out)
	}
	for _, script := range []string{"preinst", "postinst", "prerm", "postrm"} {
		b, err := os.ReadFile(filepath.Join(ctl, script))
		if err != nil {
			continue
		}
		if script == "preinst" || script == "postinst" {
			if m := regexp.MustCompile(`(?m)^[^#]*\b(systemctl|deb-systemd-helper|deb-systemd-invoke|update-rc\.d|invoke-rc\.d)\b`).Find(b); m != nil {
				t.Errorf("%s runs %q: installing must neither enable nor start anything", script, m)
			}
		}
	}
	control, err := os.ReadFile(filepath.Join(ctl, "control"))
	mustDo(t, err)
	for _, want := range []string{"Package: sshconverge\n", "Version: " + debVersion + "\n", "Section: admin\n"} {
		if !bytes.Contains(control, []byte(want)) {
			t.Errorf("control lacks %q:\n%s", strings.TrimSpace(want), control)
		}
	}
	if bytes.Contains(control, []byte("\nDepends:")) {
		t.Errorf("control has Depends: the binary is static and needs nothing installed:\n%s", control)
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "sshconverge")
	mustDo(t, os.WriteFile(bin, extractFromDeb(t, deb, "./usr/bin/sshconverge"), 0o755))
	checkStatic(t, bin)
	checkVersion(t, bin, debUpstream, debCommit(t), debDate)
}

// debDate is SOURCE_DATE_EPOCH of buildDeb as build.sh stamps it.
const debDate = "2026-01-02T03:04:05Z"

// debCommit is the commit build.sh stamps: HEAD of this tree.
func debCommit(t *testing.T) string {
	out, err := exec.Command("git", "-C", repoRoot(t), "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// extractFromDeb returns one member of the package's data.
func extractFromDeb(t *testing.T, deb, member string) []byte {
	t.Helper()
	cmd := exec.Command("sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -xOf - "$2"`, "sh", deb, member)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("extracting %s: %v", member, err)
	}
	return out
}

func checkLintian(t *testing.T, deb string) {
	need(t, "lintian")
	// Each override carries its reason in the comment lines above it.
	overrides, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "deb", "lintian-overrides"))
	mustDo(t, err)
	commented := false
	for _, line := range strings.Split(string(overrides), "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			commented = true
		case strings.TrimSpace(line) == "":
			commented = false
		default:
			if !commented {
				t.Errorf("lintian override without a reason above it: %q", line)
			}
		}
	}
	cmd := exec.Command("lintian", "--fail-on", "error,warning", "--display-info", "--pedantic", deb)
	code, out := run(t, cmd)
	t.Logf("lintian: exit %d\n%s", code, out)
	if code != 0 {
		t.Errorf("lintian failed (exit %d)", code)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "E: ") || strings.HasPrefix(line, "W: ") {
			t.Errorf("lintian: %s", line)
		}
	}
}

func checkInstall(t *testing.T, deb string) {
	need(t, "dpkg")
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		mustDo(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	mustDo(t, os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644))
	dpkg := func(args ...string) string {
		t.Helper()
		// --force-script-chrootless: the scratch root has no /bin/sh to
		// chroot into; the maintainer scripts honour DPKG_ROOT instead.
		cmd := exec.Command("dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--log=/dev/null"}, args...)...)
		code, out := run(t, cmd)
		if code != 0 {
			t.Fatalf("dpkg %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	dpkg("--install", deb)
	if out := dpkg("--status", "sshconverge"); !strings.Contains(out, "Status: install ok installed") || !strings.Contains(out, "Version: "+debVersion) {
		t.Fatalf("dpkg --status:\n%s", out)
	}
	installed := strings.Fields(dpkg("--listfiles", "sshconverge"))
	// postinst made what the service writes (systemd-tmpfiles --root).
	if _, err := exec.LookPath("systemd-tmpfiles"); err == nil {
		if info, err := os.Stat(filepath.Join(root, "run/sshconverge.lock")); err != nil {
			t.Errorf("postinst did not create the lock: %v", err)
		} else if info.Mode().Perm() != 0o600 {
			t.Errorf("lock mode %v, want 0600", info.Mode().Perm())
		}
		if info, err := os.Stat(filepath.Join(root, "var/lib/prometheus/node-exporter")); err != nil || !info.IsDir() {
			t.Errorf("postinst did not create the metrics directory: %v", err)
		}
	}
	bin := filepath.Join(root, installedBinary)
	checkVersion(t, bin, debUpstream, debCommit(t), debDate)

	// The man page's example: audit the shipped demo tree, read-only.
	ex := filepath.Join(root, "usr/share/doc/sshconverge/examples")
	code, out := run(t, exec.Command(bin, "--check", "--diff", "--root", filepath.Join(ex, "demo-root"), filepath.Join(ex, "keepalive.yaml")))
	if code != 2 || !strings.Contains(out, "+ClientAliveInterval 300") {
		t.Errorf("audit of the shipped demo tree: exit %d, want 2 with a diff\n%s", code, out)
	}

	// Converge a test tree with the installed binary, then audit it.
	if _, err := exec.LookPath("/usr/sbin/sshd"); err == nil {
		tree := demoRoot(t)
		keepalive, err := os.ReadFile(filepath.Join(ex, "keepalive.yaml"))
		mustDo(t, err)
		desired := writeDesired(t, string(keepalive))
		if code, out := run(t, exec.Command(bin, "--root", tree, "--log-level", "warn", desired)); code != 0 {
			t.Errorf("installed binary, apply: exit %d\n%s", code, out)
		}
		if code, out := run(t, exec.Command(bin, "--check", "--root", tree, desired)); code != 0 {
			t.Errorf("installed binary, --check after apply: exit %d, want 0\n%s", code, out)
		}
	} else {
		need(t, "/usr/sbin/sshd")
	}

	verifyUnits(t, filepath.Join(root, "usr/lib/systemd/system"), bin, filepath.Join(root, "usr/share/man"))

	// What an administrator and the agent leave behind: an enabled timer
	// and state. purge takes them with the package's files.
	wants := filepath.Join(root, "etc/systemd/system/timers.target.wants")
	mustDo(t, os.MkdirAll(wants, 0o755))
	mustDo(t, os.Symlink("/usr/lib/systemd/system/sshconverge.timer", filepath.Join(wants, "sshconverge.timer")))
	mustDo(t, os.MkdirAll(filepath.Join(root, "var/lib/sshconverge/backup"), 0o700))
	mustDo(t, os.WriteFile(filepath.Join(root, "var/lib/sshconverge/state.json"), []byte("{}\n"), 0o600))
	mustDo(t, os.MkdirAll(filepath.Join(root, "var/lib/prometheus/node-exporter"), 0o755))
	mustDo(t, os.WriteFile(filepath.Join(root, "var/lib/prometheus/node-exporter/sshconverge.prom"), nil, 0o644))
	dpkg("--purge", "sshconverge")
	for _, p := range installed {
		if info, err := os.Lstat(filepath.Join(root, p)); err == nil && !info.IsDir() {
			t.Errorf("purge left %s", p)
		}
	}
	for _, p := range []string{"var/lib/sshconverge", "run/sshconverge.lock", "var/lib/prometheus/node-exporter/sshconverge.prom", "etc/systemd/system/timers.target.wants/sshconverge.timer", "usr/share/doc/sshconverge"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("purge left %s", p)
		}
	}
	status, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/status"))
	mustDo(t, err)
	if regexp.MustCompile(`(?m)^Package: sshconverge$`).Match(status) && !bytes.Contains(status, []byte("Status: purge ok not-installed")) {
		t.Errorf("dpkg still lists the package after purge:\n%s", status)
	}
}
