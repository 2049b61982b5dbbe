package reliability_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDesiredFileTrust: running as root, a desired-state file that
// anyone but root could change (the file, or a directory above it, group-
// or world-writable or not owned by root) is refused, exit 1, before
// anything is written; a root-owned sticky directory like /tmp is fine;
// --insecure-desired accepts it with a warning.
func TestDesiredFileTrust(t *testing.T) {
	needRoot(t, "unshare")
	cases := []struct {
		name     string
		prepare  func(t *testing.T, base string) string // returns the desired path
		extra    []string
		accepted bool
	}{
		{"file world-writable", func(t *testing.T, base string) string {
			return desiredAt(t, base, "d.yaml", 0o666, 0, nil)
		}, nil, false},
		{"file group-writable", func(t *testing.T, base string) string {
			return desiredAt(t, base, "d.yaml", 0o664, 0, nil)
		}, nil, false},
		{"file owned by another user", func(t *testing.T, base string) string {
			return desiredAt(t, base, "d.yaml", 0o644, 65534, nil)
		}, nil, false},
		{"directory world-writable", func(t *testing.T, base string) string {
			return desiredAt(t, base, "d.yaml", 0o644, 0, []dirSpec{{"open", 0o777, 0}})
		}, nil, false},
		{"directory owned by another user", func(t *testing.T, base string) string {
			return desiredAt(t, base, "d.yaml", 0o644, 0, []dirSpec{{"theirs", 0o755, 65534}})
		}, nil, false},
		{"grandparent world-writable", func(t *testing.T, base string) string {
			return desiredAt(t, base, "d.yaml", 0o644, 0, []dirSpec{{"open", 0o777, 0}, {"closed", 0o755, 0}})
		}, nil, false},
		{"root-owned sticky directory (like /tmp)", func(t *testing.T, base string) string {
			return desiredAt(t, base, "d.yaml", 0o644, 0, []dirSpec{{"sticky", 0o777 | os.ModeSticky, 0}})
		}, nil, true},
		{"world-writable file with --insecure-desired", func(t *testing.T, base string) string {
			return desiredAt(t, base, "d.yaml", 0o666, 0, nil)
		}, []string{"--insecure-desired"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := smallTree(t)
			desired := c.prepare(t, t.TempDir())
			before := snapshot(t, filepath.Join(root, "etc/ssh"))
			r := agent(t, append(append([]string{"--root", root, "--reload", "none"}, c.extra...), desired)...)
			t.Logf("%v", r)
			if c.accepted {
				if r.code != 0 {
					t.Errorf("exit %d, want 0", r.code)
				}
				if len(c.extra) > 0 && !strings.Contains(strings.ToLower(r.stderr), "insecure") && !strings.Contains(r.stderr, "writable") {
					t.Errorf("no warning about the insecure desired file")
				}
				return
			}
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			if !strings.Contains(r.stderr, desired) && !strings.Contains(r.stderr, filepath.Dir(desired)) {
				t.Errorf("the error names neither %s nor its directory", desired)
			}
			if d := diffSnapshots(before, snapshot(t, filepath.Join(root, "etc/ssh"))); len(d) > 0 {
				t.Errorf("the configuration changed:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

// dirSpec is one directory level above a desired file.
type dirSpec struct {
	name string
	mode os.FileMode
	uid  int
}

// desiredAt writes smallDesired as base/dirs…/name with the given mode
// and owner.
func desiredAt(t *testing.T, base, name string, mode os.FileMode, uid int, dirs []dirSpec) string {
	t.Helper()
	dir := base
	for _, d := range dirs {
		dir = filepath.Join(dir, d.name)
		must(t, os.Mkdir(dir, 0o755))
		must(t, os.Chmod(dir, d.mode))
		must(t, os.Chown(dir, d.uid, d.uid))
	}
	p := filepath.Join(dir, name)
	must(t, os.WriteFile(p, []byte(smallDesired), 0o600))
	must(t, os.Chmod(p, mode))
	must(t, os.Chown(p, uid, uid))
	return p
}

// TestCommandsIgnorePATH puts stand-ins for every external command the
// agent may run (sshd, unshare, nsenter, mount, sh, systemctl, service…)
// first in PATH. Each leaves a marker if run. The agent must run its
// commands from fixed absolute paths: no marker, and the apply (which
// validates with sshd -t) still works.
func TestCommandsIgnorePATH(t *testing.T) {
	needRoot(t, "unshare", "/usr/sbin/sshd")
	fake := t.TempDir()
	marker := filepath.Join(t.TempDir(), "marker")
	for _, name := range []string{"sshd", "unshare", "nsenter", "mount", "sh", "bash", "systemctl", "service", "env", "ssh", "ssh-keygen", "true", "id"} {
		must(t, os.WriteFile(filepath.Join(fake, name), []byte("#!/bin/sh\necho \"$0 $*\" >>'"+marker+"'\nexit 0\n"), 0o755))
	}
	env := []string{"PATH=" + fake + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, mode := range []string{"signal", "auto", "none"} {
		t.Run(mode, func(t *testing.T) {
			root := smallTree(t)
			desired := writeDesired(t, smallDesired)
			r := run(t, runOpts{env: env}, "agent", "--root", root, "--reload", mode, desired)
			t.Logf("%v", r)
			if b, _ := os.ReadFile(marker); len(b) > 0 {
				t.Errorf("the agent ran commands found through PATH:\n%s", b)
				os.Remove(marker)
			}
			// With no sshd running, signal mode may end in exit 1 with the
			// reload left pending; the files must be converged either way.
			chk := run(t, runOpts{env: env}, "agent", "--root", root, "--check", desired)
			if r.code > 1 || r.signal != 0 || !strings.Contains(chk.stdout, "ok=2 changed=0 conflict=0") {
				t.Errorf("the apply did not converge the tree: %v\n--check: %v", r, chk)
			}
		})
	}
}
