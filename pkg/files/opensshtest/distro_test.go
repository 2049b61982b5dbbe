package opensshtest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDistroTrees: every tree the README documents is there.
func TestDistroTrees(t *testing.T) {
	got := DistroTrees()
	for _, want := range []string{
		"alpine", "amazonlinux2023", "arch", "debian12", "debian13", "fedora40",
		"opensuse-tumbleweed", "rhel9", "rocky9", "rocky9-stig", "ubuntu2204-cloudinit", "ubuntu2404",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("DistroTrees() = %v, missing %s", got, want)
		}
	}
	if !slices.IsSorted(got) {
		t.Errorf("DistroTrees() not sorted: %v", got)
	}
}

// TestDistroModesFile: every modes.txt line names an existing tree and a
// path in it that is a file or directory (not a link).
func TestDistroModesFile(t *testing.T) {
	dir, err := distroDir()
	if err != nil {
		t.Fatal(err)
	}
	modes, err := readDistroModes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(modes) == 0 {
		t.Fatal("modes.txt lists nothing")
	}
	for _, m := range modes {
		tree, ok := distroTreeDir(dir, m.tree)
		if !ok {
			t.Errorf("modes.txt: no tree %q", m.tree)
			continue
		}
		st, err := os.Lstat(filepath.Join(tree, filepath.FromSlash(m.path)))
		if err != nil {
			t.Errorf("modes.txt: %s %s: %v", m.tree, m.path, err)
		} else if !st.Mode().IsRegular() && !st.IsDir() {
			t.Errorf("modes.txt: %s %s is %v, want a file or directory", m.tree, m.path, st.Mode().Type())
		}
	}
	links, err := readDistroLinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		tree, ok := distroTreeDir(dir, l.tree)
		if !ok {
			t.Errorf("links.txt: no tree %q", l.tree)
			continue
		}
		if _, err := os.Lstat(filepath.Join(tree, filepath.FromSlash(l.path))); err == nil {
			t.Errorf("links.txt: %s %s is in the tree already", l.tree, l.path)
		}
		if st, err := os.Stat(filepath.Join(tree, filepath.Dir(filepath.FromSlash(l.path)))); err != nil || !st.IsDir() {
			t.Errorf("links.txt: %s %s: no parent directory in the tree", l.tree, l.path)
		}
	}
	for _, bad := range []string{"t /abs 0600\n", "t ../up 0600\n", "t p 0999\n", "t p\n"} {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "modes.txt"), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readDistroModes(d); err == nil {
			t.Errorf("readDistroModes accepted %q", bad)
		}
	}
}

// TestDistroCopy copies every tree and checks the copy against the source:
// same bytes, symbolic links kept as links to the same target, modes from
// modes.txt (0644/0755 otherwise), nothing missing and nothing extra.
func TestDistroCopy(t *testing.T) {
	dir, err := distroDir()
	if err != nil {
		t.Fatal(err)
	}
	modes, err := readDistroModes(dir)
	if err != nil {
		t.Fatal(err)
	}
	links, err := readDistroLinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range DistroTrees() {
		t.Run(name, func(t *testing.T) {
			src, _ := distroTreeDir(dir, name)
			dst := CopyDistroTree(t, name)
			want := map[string]fs.FileMode{}
			for _, m := range modes {
				if m.tree == name {
					want[m.path] = m.mode
				}
			}
			seen := map[string]bool{}
			// The links of links.txt: links in the copy, same target,
			// an absolute target resolving to a file inside the root.
			for _, l := range links {
				if l.tree != name {
					continue
				}
				out := filepath.Join(dst, filepath.FromSlash(l.path))
				got, err := os.Readlink(out)
				if err != nil || got != l.target {
					t.Errorf("%s: link to %q (%v), want %q", l.path, got, err, l.target)
				}
				if filepath.IsAbs(l.target) {
					if st, err := os.Stat(filepath.Join(dst, l.target)); err != nil || !st.Mode().IsRegular() {
						t.Errorf("%s -> %s: target missing inside the root (%v)", l.path, l.target, err)
					}
				}
				seen[l.path] = true
			}
			err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(src, p)
				if rel == "." {
					return nil
				}
				key := filepath.ToSlash(rel)
				seen[key] = true
				out := filepath.Join(dst, rel)
				got, err := os.Lstat(out)
				if err != nil {
					t.Errorf("%s: not copied: %v", key, err)
					return nil
				}
				switch {
				case d.Type()&fs.ModeSymlink != 0:
					if got.Mode()&fs.ModeSymlink == 0 {
						t.Errorf("%s: copied as %v, want a symbolic link", key, got.Mode())
						return nil
					}
					a, _ := os.Readlink(p)
					b, _ := os.Readlink(out)
					if a != b {
						t.Errorf("%s: link target %q, want %q", key, b, a)
					}
					if filepath.IsAbs(a) {
						// Resolved inside the root, the target must be a
						// file of the tree.
						if st, err := os.Stat(filepath.Join(dst, a)); err != nil || !st.Mode().IsRegular() {
							t.Errorf("%s -> %s: target missing inside the root (%v)", key, a, err)
						}
					}
					return nil
				case d.IsDir():
					if !got.IsDir() {
						t.Errorf("%s: copied as %v, want a directory", key, got.Mode())
					}
					m, ok := want[key]
					if !ok {
						m = 0o755
					}
					if got.Mode().Perm() != m {
						t.Errorf("%s: mode %o, want %o", key, got.Mode().Perm(), m)
					}
					return nil
				default:
					a, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					b, err := os.ReadFile(out)
					if err != nil {
						t.Errorf("%s: %v", key, err)
						return nil
					}
					if !bytes.Equal(a, b) {
						t.Errorf("%s: copy differs from the fixture", key)
					}
					m, ok := want[key]
					if !ok {
						m = 0o644
					}
					if got.Mode().Perm() != m {
						t.Errorf("%s: mode %o, want %o", key, got.Mode().Perm(), m)
					}
					return nil
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			// Nothing extra in the copy.
			err = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(dst, p)
				if rel != "." && !seen[filepath.ToSlash(rel)] {
					t.Errorf("%s: in the copy but not in the fixture", rel)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// The copy is independent of the fixture.
			if name == "rocky9" {
				p := filepath.Join(dst, "etc/ssh/sshd_config.d/50-redhat.conf")
				if err := os.Chmod(p, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("edited\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				b, _ := os.ReadFile(filepath.Join(src, "etc/ssh/sshd_config.d/50-redhat.conf"))
				if strings.HasPrefix(string(b), "edited") {
					t.Error("editing the copy changed the fixture")
				}
			}
		})
	}
}

// TestDistroCopyRocky9Layout spells out the RHEL-family facts the trees
// exist for: the absolute crypto-policy link and the modes.
func TestDistroCopyRocky9Layout(t *testing.T) {
	root := CopyDistroTree(t, "rocky9")
	link := filepath.Join(root, "etc/crypto-policies/back-ends/opensshserver.config")
	target, err := os.Readlink(link)
	if err != nil || target != "/usr/share/crypto-policies/DEFAULT/opensshserver.txt" {
		t.Fatalf("opensshserver.config -> %q (%v)", target, err)
	}
	b, err := os.ReadFile(filepath.Join(root, target))
	if err != nil || !bytes.HasPrefix(b, []byte("Ciphers ")) {
		t.Errorf("policy file: %q %v", b, err)
	}
	for p, want := range map[string]fs.FileMode{
		"etc/ssh/sshd_config":                  0o600,
		"etc/ssh/sshd_config.d":                0o700,
		"etc/ssh/sshd_config.d/50-redhat.conf": 0o600,
		"etc/ssh/ssh_config":                   0o644,
		"etc/ssh/ssh_config.d":                 0o755,
	} {
		st, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if st.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", p, st.Mode().Perm(), want)
		}
	}
}
