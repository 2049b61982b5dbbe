package reliability_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// impostor is a process dressed up as an sshd listener: its process title
// is "sshd: EVIL -D [listener] 0 of 10-100 startups", where EVIL is a
// script that leaves a marker when it runs.
type impostor struct {
	pid    int
	evil   string // the script the title names
	marker string // written by evil when anything runs it
}

// startImpostor starts exe (a sleep) with the title of an sshd listener,
// as uid (0 or an unprivileged one through setpriv), and stops it by its
// pid when the test ends.
func startImpostor(t *testing.T, uid int, exe string) *impostor {
	t.Helper()
	needRoot(t, "setpriv", "bash")
	dir := t.TempDir()
	im := &impostor{evil: filepath.Join(dir, "evil"), marker: filepath.Join(dir, "marker")}
	must(t, os.WriteFile(im.evil, []byte("#!/bin/sh\necho \"ran as uid $(id -u): $0 $*\" >>'"+im.marker+"'\n"), 0o755))
	title := fmt.Sprintf("sshd: %s -D [listener] 0 of 10-100 startups", im.evil)
	argv := []string{"bash", "-c", `exec -a "$0" "$1" 1000`, title, exe}
	if uid != 0 {
		argv = append([]string{"setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", uid), "--clear-groups"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	must(t, cmd.Start())
	im.pid = cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", im.pid))
		if strings.HasPrefix(string(b), title) {
			return im
		}
		if time.Now().After(deadline) {
			t.Fatalf("the impostor's title is %q, want %q", b, title)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (im *impostor) ran() string {
	b, _ := os.ReadFile(im.marker)
	return string(b)
}

// TestImpostorListener puts the pid of a process that only looks like an
// sshd listener in the tree's pid file and applies with --reload signal.
// The agent must not run anything the process names (the marker stays
// absent), must not signal it, must change nothing, and must exit 1 with
// an error that names the pid.
func TestImpostorListener(t *testing.T) {
	needRoot(t, "unshare")
	writableSleep := filepath.Join(t.TempDir(), "sleep")
	b, err := os.ReadFile("/usr/bin/sleep")
	must(t, err)
	must(t, os.WriteFile(writableSleep, b, 0o777))
	must(t, os.Chmod(writableSleep, 0o777))
	cases := []struct {
		name string
		uid  int
		exe  string
	}{
		{"unprivileged process (uid 65534)", 65534, "/usr/bin/sleep"},
		{"root process without a listening socket", 0, "/usr/bin/sleep"},
		{"root process whose binary anyone can write", 0, writableSleep},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im := startImpostor(t, c.uid, c.exe)
			root := smallTree(t)
			writeFiles(t, root, map[string]string{"run/sshd.pid": strconv.Itoa(im.pid) + "\n"})
			before := snapshot(t, filepath.Join(root, "etc/ssh"))
			r := agent(t, "--root", root, "--reload", "signal", writeDesired(t, smallDesired))
			t.Logf("%v", r)
			if ran := im.ran(); ran != "" {
				t.Errorf("the agent ran the binary the impostor's title names: %s", ran)
			}
			if !alive(im.pid) {
				t.Errorf("the impostor %d was signalled (it is gone)", im.pid)
			}
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			if !strings.Contains(r.stderr, strconv.Itoa(im.pid)) {
				t.Errorf("the error does not name pid %d", im.pid)
			}
			if d := diffSnapshots(before, snapshot(t, filepath.Join(root, "etc/ssh"))); len(d) > 0 {
				t.Errorf("the configuration changed:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// TestUntrustedListener runs a real sshd whose pid file or binary others
// could have forged or replaced: the agent must neither validate with it
// nor reload it (sshd logs no SIGHUP), change nothing, and exit 1. The
// last case is the control: a genuine listener is reloaded.
func TestUntrustedListener(t *testing.T) {
	sshdAvailable(t)
	writableSSHD := filepath.Join(t.TempDir(), "sshd")
	b, err := os.ReadFile("/usr/sbin/sshd")
	must(t, err)
	must(t, os.WriteFile(writableSSHD, b, 0o777))
	must(t, os.Chmod(writableSSHD, 0o777))
	template := smallTree(t)
	cases := []struct {
		name    string
		exe     string
		prepare func(t *testing.T, s *testSSHD)
		genuine bool
	}{
		{"binary anyone can write", writableSSHD, nil, false},
		{"pid file not owned by root", "", func(t *testing.T, s *testSSHD) {
			must(t, os.Chown(filepath.Join(s.tree, "run/sshd.pid"), 65534, 65534))
		}, false},
		{"pid file in a directory anyone can write", "", func(t *testing.T, s *testSSHD) {
			must(t, os.Chmod(filepath.Join(s.tree, "run"), 0o777))
		}, false},
		{"genuine listener (control)", "", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startSSHD(t, template, c.exe)
			if c.prepare != nil {
				c.prepare(t, s)
			}
			before := snapshot(t, filepath.Join(s.tree, "etc/ssh"))
			pid := s.pidFromFile()
			r := agent(t, "--root", s.tree, "--reload", "signal", writeDesired(t, smallDesired))
			t.Logf("%v", r)
			time.Sleep(200 * time.Millisecond)
			if c.genuine {
				if r.code != 0 || s.hups() != 1 {
					t.Errorf("a genuine listener: exit %d and %d SIGHUPs, want 0 and 1", r.code, s.hups())
				}
				return
			}
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			if s.hups() != 0 {
				t.Errorf("sshd %d received SIGHUP from the agent", pid)
			}
			if !strings.Contains(r.stderr, strconv.Itoa(pid)) && !strings.Contains(r.stderr, "sshd.pid") {
				t.Errorf("the error names neither pid %d nor the pid file", pid)
			}
			if d := diffSnapshots(before, snapshot(t, filepath.Join(s.tree, "etc/ssh"))); len(d) > 0 {
				t.Errorf("the configuration changed:\n%s", strings.Join(d, "\n"))
			}
			if s.pidFromFile() != pid || !alive(pid) {
				t.Errorf("sshd %d was restarted or stopped", pid)
			}
		})
	}
}
