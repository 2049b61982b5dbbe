package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const (
	serviceName = "sshconverge.service"
	timerName   = "sshconverge.timer"
	// installedBinary is where the package puts the agent, and what the
	// units and the cron entry run.
	installedBinary = "/usr/bin/sshconverge"
	desiredPath     = "/etc/sshconverge/desired.yaml"
)

func unitPath(t testing.TB, name string) string {
	return filepath.Join(repoRoot(t), "examples", "systemd", name)
}

// renderManPage returns packaging/deb/sshconverge.8 with its placeholders
// filled, as build.sh does.
func renderManPage(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "deb", "sshconverge.8"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("@DATE@", "2026-01-02", "@VERSION@", stampVersion).Replace(string(b))
	return []byte(s)
}

// verifyUnits runs systemd-analyze verify on the service and timer in
// unitDir, as systemd would load them, and fails on any complaint.
//
// verify checks that every Exec*= binary exists and that every man: page
// in Documentation= opens with man(1). The units name /usr/bin/sshconverge,
// which is not installed on a test machine, so the units are verified
// from a copy whose ExecStart= names binary instead (nothing else
// changes), and man finds the page through MANPATH=manDir. systemd-analyze
// --root= would keep the path as written, but needs a whole OS tree
// (sysinit.target, /usr/bin/touch) under that root.
func verifyUnits(t *testing.T, unitDir, binary, manDir string) {
	t.Helper()
	need(t, "systemd-analyze", "man")
	dir := t.TempDir()
	for _, name := range []string{serviceName, timerName} {
		b, err := os.ReadFile(filepath.Join(unitDir, name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if name == serviceName {
			old := "\nExecStart=" + installedBinary + " "
			if strings.Count(s, old) != 1 {
				t.Fatalf("%s: want exactly one line starting %q", name, strings.TrimSpace(old))
			}
			s = strings.Replace(s, old, "\nExecStart="+binary+" ", 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("systemd-analyze", "verify", filepath.Join(dir, serviceName), filepath.Join(dir, timerName))
	cmd.Env = append(os.Environ(), "MANPATH="+manDir)
	code, out := run(t, cmd)
	t.Logf("systemd-analyze verify: exit %d, output %q", code, out)
	if code != 0 {
		t.Fatalf("systemd-analyze verify failed (exit %d):\n%s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "sshconverge") {
			t.Errorf("systemd-analyze verify complains: %s", line)
		}
	}
}

// TestUnitsVerify runs systemd-analyze verify on examples/systemd with the
// agent built from this tree and the man page from packaging/deb.
func TestUnitsVerify(t *testing.T) {
	need(t, "systemd-analyze", "man")
	man := t.TempDir()
	gzipFile(t, filepath.Join(man, "man8", "sshconverge.8.gz"), renderManPage(t))
	verifyUnits(t, filepath.Join(repoRoot(t), "examples", "systemd"), agentBinary(t), man)
}

// wantCaps is the capability set the service keeps; see the comments in
// sshconverge.service, and TestServiceSandbox for the proof.
var wantCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SYS_ADMIN", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE"}

// TestServiceHardening checks that the service keeps its sandbox: each
// option below is explained in the unit's comments.
func TestServiceHardening(t *testing.T) {
	u := parseUnit(t, unitPath(t, serviceName))
	want := map[string]string{
		"Type":                    "oneshot",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"PrivateNetwork":          "yes",
		"PrivateIPC":              "yes",
		"NoNewPrivileges":         "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"ProtectHostname":         "yes",
		"ProtectProc":             "invisible",
		"ProcSubset":              "pid",
		"RestrictAddressFamilies": "AF_UNIX",
		"RestrictNamespaces":      "mnt",
		"SystemCallFilter":        "@system-service @mount",
		"SystemCallArchitectures": "native",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"RestrictRealtime":        "yes",
		"RestrictSUIDSGID":        "yes",
		"StateDirectory":          "sshconverge",
		"UMask":                   "0022",
	}
	for k, v := range want {
		if got := u.get("Service", k); got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	caps := u.words("Service", "CapabilityBoundingSet")
	sort.Strings(caps)
	if strings.Join(caps, " ") != strings.Join(wantCaps, " ") {
		t.Errorf("CapabilityBoundingSet=%v, want exactly %v", caps, wantCaps)
	}
	if a := u.words("Service", "AmbientCapabilities"); len(a) != 0 {
		t.Errorf("AmbientCapabilities=%v, want none", a)
	}
	// Writable: exactly /etc/ssh, the lock file and the metrics directory
	// (optional); the state directory comes from StateDirectory=. Not /run
	// as a whole, and never /.
	rw := u.words("Service", "ReadWritePaths")
	sort.Strings(rw)
	if got, want := strings.Join(rw, " "), "/etc/ssh /run/sshconverge.lock /var/lib/prometheus/node-exporter"; got != want {
		t.Errorf("ReadWritePaths=%q, want %q", got, want)
	}
	// What would cut systemctl off from systemd, or run as another user.
	for _, k := range []string{"User", "DynamicUser", "PrivateUsers", "InaccessiblePaths", "TemporaryFileSystem"} {
		if v := u.get("Service", k); v != "" {
			t.Errorf("[Service] %s=%s: systemctl must reach /run/systemd/private as root", k, v)
		}
	}
	// A path opened for writing must exist when the service starts:
	// sshconverge.tmpfiles creates each one that no package always ships.
	created := tmpfilesCreated(t)
	for _, p := range rw {
		if p != "/etc/ssh" && created[p] == "" {
			t.Errorf("ReadWritePaths=%s: sshconverge.tmpfiles does not create it", p)
		}
	}
	if len(u["Install"]) != 0 {
		t.Errorf("the service has an [Install] section; only the timer is enabled")
	}
	if u.get("Unit", "ConditionPathExists") != desiredPath {
		t.Errorf("ConditionPathExists=%q, want %s", u.get("Unit", "ConditionPathExists"), desiredPath)
	}

	args := strings.Fields(u.get("Service", "ExecStart"))
	if len(args) < 2 || args[0] != installedBinary || args[len(args)-1] != desiredPath {
		t.Fatalf("ExecStart=%v: want %s … %s", args, installedBinary, desiredPath)
	}
	for _, pair := range [][2]string{
		{"--log-level", "info"},
		{"--reload", "systemd"},
		{"--metrics-file", "/var/lib/prometheus/node-exporter/sshconverge.prom"},
	} {
		if !containsPair(args, pair[0], pair[1]) {
			t.Errorf("ExecStart lacks %s %s: %v", pair[0], pair[1], args)
		}
	}
	for _, a := range args {
		if a == "--check" || a == "--root" || a == "--splay" {
			t.Errorf("ExecStart has %s: %v", a, args)
		}
	}
}

func containsPair(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}

// TestServiceExposure asks systemd-analyze security (offline) to rate the
// service's sandbox and holds it at or below 3.0 ("OK"). CAP_SYS_ADMIN,
// CAP_SYS_PTRACE, CAP_CHOWN, AF_UNIX, mount namespaces and a shared user
// namespace are what remains exposed.
func TestServiceExposure(t *testing.T) {
	need(t, "systemd-analyze")
	cmd := exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=30", unitPath(t, serviceName))
	code, out := run(t, cmd)
	m := regexp.MustCompile(`Overall exposure level for sshconverge\.service: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: exit %d, no overall exposure:\n%s", code, out)
	}
	t.Logf("exposure %s", m[1])
	if code != 0 {
		t.Errorf("exposure %s is above 3.0 (exit %d):\n%s", m[1], code, out)
	}
}

// TestTimer checks the timer's schedule and that it is what gets enabled.
func TestTimer(t *testing.T) {
	u := parseUnit(t, unitPath(t, timerName))
	if u.get("Timer", "OnCalendar") == "" {
		t.Error("the timer has no OnCalendar=")
	}
	if u.get("Timer", "RandomizedDelaySec") == "" {
		t.Error("the timer has no RandomizedDelaySec=: a fleet would run at once")
	}
	if u.get("Timer", "Persistent") != "true" {
		t.Error("the timer is not Persistent=true")
	}
	if u.get("Timer", "Unit") != "" && u.get("Timer", "Unit") != serviceName {
		t.Errorf("Unit=%s", u.get("Timer", "Unit"))
	}
	if u.get("Install", "WantedBy") != "timers.target" {
		t.Errorf("WantedBy=%q, want timers.target", u.get("Install", "WantedBy"))
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		cmd := exec.Command("systemd-analyze", "calendar", u.get("Timer", "OnCalendar"))
		if code, out := run(t, cmd); code != 0 {
			t.Errorf("systemd-analyze calendar %q: exit %d\n%s", u.get("Timer", "OnCalendar"), code, out)
		}
	}
}

// TestShellScripts runs shellcheck on the packaging scripts.
func TestShellScripts(t *testing.T) {
	need(t, "shellcheck")
	repo := repoRoot(t)
	scripts := []string{
		"packaging/deb/build.sh",
		"packaging/deb/postinst",
		"packaging/deb/prerm",
		"packaging/deb/postrm",
		".ci/setup.d/45-packaging.sh",
	}
	cmd := exec.Command("shellcheck", append([]string{"-x"}, scripts...)...)
	cmd.Dir = repo
	if code, out := run(t, cmd); code != 0 {
		t.Errorf("shellcheck: exit %d\n%s", code, out)
	}
}

// tmpfilesCreated returns what examples/systemd/sshconverge.tmpfiles
// creates: each path with its type, "f" (a file: root's, mode 0600) or "d"
// (a directory: an existing one keeps its owner and mode).
func tmpfilesCreated(t testing.TB) map[string]string {
	t.Helper()
	b, err := os.ReadFile(unitPath(t, "sshconverge.tmpfiles"))
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch {
		case len(f) == 6 && f[0] == "f" && strings.Join(f[2:], " ") == "0600 root root -",
			len(f) == 6 && f[0] == "d" && strings.Join(f[2:], " ") == "- - - -":
			created[f[1]] = f[0]
		default:
			t.Errorf("sshconverge.tmpfiles: %q: want \"f PATH 0600 root root -\" or \"d PATH - - - -\"", line)
		}
	}
	return created
}
