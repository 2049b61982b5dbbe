package opensshtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"OpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w  11 Sep 2023\n": "8.4p1",
		"OpenSSH_9.2p1 Debian-2+deb12u7, OpenSSL 3.0.17 1 Jul 2025":     "9.2p1",
		"OpenSSH_10.0p2 Debian-7+deb13u4, OpenSSL 3.5.4 30 Sep 2025":    "10.0p2",
		"OpenSSH_10.6, LibreSSL 4.0.0":                                  "10.6",
	} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if v, err := ParseVersion("ssh: command not found"); err == nil {
		t.Errorf("ParseVersion of garbage = %q, want an error", v)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"8.4p1", "9.2p1", -1},
		{"9.2p1", "10.0p1", -1}, // numeric, not lexical
		{"10.0p2", "10.0p1", 1},
		{"10.0p1", "10.0", 1},
		{"10.3p1", "10.3p1", 0},
		{"10.6p1", "9.8", 1},
	} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if !(Install{Version: "9.8p1"}).AtLeast("9.8") || (Install{Version: "9.7p1"}).AtLeast("9.8") {
		t.Error("AtLeast is wrong around 9.8")
	}
}

func TestReadIndex(t *testing.T) {
	dir := t.TempDir()
	index := "# comment\nbullseye 8.4p1 /c/bullseye\n\nsid 10.6p1 /c/sid\n"
	if err := os.WriteFile(filepath.Join(dir, "index"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Install{{Name: "bullseye", Version: "8.4p1", Root: "/c/bullseye"}, {Name: "sid", Version: "10.6p1", Root: "/c/sid"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ReadIndex = %v, want %v", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "index"), []byte("sid 10.6p1 relative/path\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadIndex(dir); err == nil {
		t.Error("ReadIndex accepted a relative path")
	}
	if _, err := ReadIndex(filepath.Join(dir, "none")); err == nil {
		t.Error("ReadIndex of a missing index: no error")
	}
}

func TestInstalls(t *testing.T) {
	ins := Installs(t)
	names := map[string]Install{}
	for i, in := range ins {
		names[in.Name] = in
		if _, err := ParseVersion("OpenSSH_" + in.Version); err != nil {
			t.Errorf("%s: bad version %q", in.Name, in.Version)
		}
		if i > 0 && CompareVersions(ins[i-1].Version, in.Version) > 0 {
			t.Errorf("Installs not sorted by version: %v before %v", ins[i-1], in)
		}
		if (in.Name == HostInstall) != (in.Root == "") {
			t.Errorf("%v: Root %q", in, in.Root)
		}
	}
	for _, s := range append(wantSuites(), HostInstall) {
		if _, ok := names[s]; !ok {
			t.Errorf("Installs lacks %s: %v", s, ins)
		}
	}
	// The versions the Debian archive offers; a rebuilt chroot may bring a
	// new portable release, not a new major.minor.
	for suite, prefix := range map[string]string{"bullseye": "8.4p", "trixie": "10.0p"} {
		if v := names[suite].Version; !strings.HasPrefix(v, prefix) {
			t.Errorf("%s has OpenSSH %s, want %s*", suite, v, prefix)
		}
	}
	if CompareVersions(names["trixie-backports"].Version, names["trixie"].Version) <= 0 {
		t.Errorf("trixie-backports has OpenSSH %s, not newer than trixie's %s: the backports pin did not work",
			names["trixie-backports"].Version, names["trixie"].Version)
	}
	if CompareVersions(names["sid"].Version, "10.0") < 0 {
		t.Errorf("sid has OpenSSH %s, want 10.x", names["sid"].Version)
	}
	t.Logf("installs: %v", ins)
}

// TestInstallOracles asks every installation about the same trees and
// checks what each version must answer.
func TestInstallOracles(t *testing.T) {
	for _, in := range Installs(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			o := NewFor(t, in)
			if got := o.Install(); got != in {
				t.Fatalf("Install() = %v, want %v", got, in)
			}
			var marker string
			if in.Root != "" {
				marker = filepath.Join(in.Root, "etc/ssh/opensshtest-marker")
			}
			mountsBefore := mountsUnder(t, in.Root)

			t.Run("sshd -T defaults", func(t *testing.T) {
				root := writeTree(t, map[string]string{"etc/ssh/sshd_config": "", "etc/ssh/opensshtest-marker": "x"})
				var d []Dump
				took, err := timed(func() (err error) { d, err = o.ServerT(root, []Conn{{}}); return err })
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%v: sshd -T on an empty config: %d keywords in %v", in, len(d[0]), took)
				if d[0].Value("port") != "22" {
					t.Errorf("port = %q, want 22", d[0].Value("port"))
				}
				for kw, since := range map[string]string{
					"persourcemaxstartups": "8.5", // absent from 8.4
					"persourcepenalties":   "9.8", // 10.x
					"sshdsessionpath":      "9.8",
					"sshdauthpath":         "10.0",
				} {
					_, has := d[0][kw]
					if want := in.AtLeast(since); has != want {
						t.Errorf("sshd -T has %s: %v, want %v (OpenSSH %s, keyword since %s)", kw, has, want, in.Version, since)
					}
				}
			})

			t.Run("sshd -T Match", func(t *testing.T) {
				root := writeTree(t, map[string]string{
					"etc/ssh/sshd_config": "PasswordAuthentication yes\nMatch User bob\n  PasswordAuthentication no\n",
				})
				d, err := o.ServerT(root, []Conn{{User: "bob", Host: "h", Addr: "192.0.2.1"}, {User: "amy", Host: "h", Addr: "192.0.2.1"}})
				if err != nil {
					t.Fatal(err)
				}
				if b, a := d[0].Value("passwordauthentication"), d[1].Value("passwordauthentication"); b != "no" || a != "yes" {
					t.Errorf("passwordauthentication: bob %q, amy %q; want no, yes", b, a)
				}
			})

			t.Run("sshd -t rejects", func(t *testing.T) {
				for _, c := range []struct{ config, want string }{
					{"Port 22\nNoSuchKeyword yes\n", "Bad configuration option: NoSuchKeyword"},
					{"Match User x\n  Port 22\n", "Directive 'Port' is not allowed within a Match block"},
					// The argument check moved in 9.x (argv_split).
					{"Port\n", map[bool]string{false: "missing port number", true: `no argument after keyword "Port"`}[in.AtLeast("9.0")]},
				} {
					root := writeTree(t, map[string]string{"etc/ssh/sshd_config": c.config})
					err := o.ServerCheck(root)
					qe, ok := err.(*QueryError)
					if !ok {
						t.Errorf("sshd -t on %q: %v, want a *QueryError", c.config, err)
						continue
					}
					if qe.ExitStatus != 255 || !strings.Contains(qe.Stderr, c.want) {
						t.Errorf("sshd -t on %q: exit %d, %q; want 255 and %q", c.config, qe.ExitStatus, qe.Stderr, c.want)
					}
				}
				root := writeTree(t, map[string]string{"etc/ssh/sshd_config": "Port 2222\n"})
				if err := o.ServerCheck(root); err != nil {
					t.Errorf("sshd -t on a good config: %v", err)
				}
			})

			t.Run("ssh -G", func(t *testing.T) {
				root := writeTree(t, map[string]string{
					"etc/ssh/ssh_config": "Host web1\n  Port 2222\nHost *\n  User deploy\n",
				})
				var d []Dump
				took, err := timed(func() (err error) { d, err = o.ClientG(root, []string{"web1", "db1"}); return err })
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%v: ssh -G, two hosts: %v", in, took)
				if d[0].Value("port") != "2222" || d[1].Value("port") != "22" {
					t.Errorf("port: web1 %q, db1 %q; want 2222, 22", d[0].Value("port"), d[1].Value("port"))
				}
				if d[0].Value("user") != "deploy" || d[1].Value("hostname") != "db1" {
					t.Errorf("web1 user %q, db1 hostname %q; want deploy, db1", d[0].Value("user"), d[1].Value("hostname"))
				}
			})

			if marker != "" {
				if _, err := os.Stat(marker); err == nil {
					t.Errorf("the test tree leaked into the cached chroot: %s exists", marker)
				}
			}
			if after := mountsUnder(t, in.Root); len(after) != len(mountsBefore) {
				t.Errorf("mounts under %q changed: before %q, after %q", in.Root, mountsBefore, after)
			}
		})
	}
}

// timed runs fn and returns how long it took.
func timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// mountsUnder returns the mount points of this process's namespace at or
// under dir (for the host, "": those on /etc/ssh): a bind mount leaking out
// of the oracle's namespace would show up here.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	if dir == "" {
		return etcSSHMounts(t)
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}
