package opensshtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// distroDir returns the directory holding the distro fixture trees,
// pkg/files/testdata/distro, found from this source file so that tests in
// any package (whatever their working directory) can use it.
func distroDir() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("opensshtest: cannot locate the source of the distro fixtures")
	}
	dir := filepath.Join(filepath.Dir(self), "..", "testdata", "distro")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("opensshtest: distro fixtures not found at %s", dir)
	}
	return dir, nil
}

// variantsDir is the subdirectory of testdata/distro holding variant trees
// (rocky9-stig): trees that pkg/files' own fixture tests, which glob
// testdata/distro/*/etc/ssh, must not pick up yet. See the README.
const variantsDir = "_variants"

// DistroTrees returns the names of the distro fixture trees under
// pkg/files/testdata/distro (debian12, rocky9, ...) and of the variant
// trees under its _variants directory (rocky9-stig), sorted. It panics when
// the fixtures cannot be found, which only happens outside a source checkout.
func DistroTrees() []string {
	dir, err := distroDir()
	if err != nil {
		panic(err)
	}
	var names []string
	for _, d := range []string{dir, filepath.Join(dir, variantsDir)} {
		entries, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			panic(err)
		}
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), "_") {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	return names
}

// distroTreeDir returns the directory of the tree called name.
func distroTreeDir(dir, name string) (string, bool) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, "_") {
		return "", false
	}
	for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, variantsDir, name)} {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, true
		}
	}
	return "", false
}

// distroMode is one line of testdata/distro/modes.txt.
type distroMode struct {
	tree, path string
	mode       fs.FileMode
}

// distroLink is one line of testdata/distro/links.txt.
type distroLink struct {
	tree, path, target string
}

// readTable parses a testdata/distro table: lines of three fields
// separated by white space, '#' comment lines and blank lines ignored. The
// second field must be a path inside the tree.
func readTable(dir, file string) ([][3]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	var rows [][3]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want three fields, got %q", file, n, line)
		}
		p := filepath.ToSlash(filepath.Clean(f[1]))
		if filepath.IsAbs(f[1]) || p == "." || p == ".." || strings.HasPrefix(p, "../") {
			return nil, fmt.Errorf("%s:%d: path %q is not inside the tree", file, n, f[1])
		}
		rows = append(rows, [3]string{f[0], p, f[2]})
	}
	return rows, sc.Err()
}

// readDistroModes parses testdata/distro/modes.txt ("TREE PATH OCTAL-MODE").
func readDistroModes(dir string) ([]distroMode, error) {
	rows, err := readTable(dir, "modes.txt")
	if err != nil {
		return nil, err
	}
	var modes []distroMode
	for _, r := range rows {
		m, err := strconv.ParseUint(r[2], 8, 32)
		if err != nil || m > 0o7777 {
			return nil, fmt.Errorf("modes.txt: %s %s: bad mode %q", r[0], r[1], r[2])
		}
		modes = append(modes, distroMode{tree: r[0], path: r[1], mode: fs.FileMode(m)})
	}
	return modes, nil
}

// readDistroLinks parses testdata/distro/links.txt ("TREE PATH TARGET").
func readDistroLinks(dir string) ([]distroLink, error) {
	rows, err := readTable(dir, "links.txt")
	if err != nil {
		return nil, err
	}
	var links []distroLink
	for _, r := range rows {
		links = append(links, distroLink{tree: r[0], path: r[1], target: r[2]})
	}
	return links, nil
}

// CopyDistroTree copies the fixture tree NAME (pkg/files/testdata/distro/NAME,
// or _variants/NAME there) into a new tb.TempDir() and returns that
// directory, the root of the copy. File contents are copied byte for byte;
// symbolic links stay symbolic links with their target unchanged, and the
// links listed for NAME in links.txt are created (the crypto-policies links
// are absolute, to be resolved inside the root, so they dangle on the host).
// Files get mode 0644 and directories 0755, then the modes listed for NAME
// in modes.txt (which git cannot store: 0600 configs, a 0700 sshd_config.d)
// are applied. The copy may be edited freely.
func CopyDistroTree(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := distroDir()
	if err != nil {
		tb.Fatal(err)
	}
	src, ok := distroTreeDir(dir, name)
	if !ok {
		tb.Fatalf("opensshtest: no distro tree %q (have %v)", name, DistroTrees())
	}
	modes, err := readDistroModes(dir)
	if err != nil {
		tb.Fatalf("opensshtest: %v", err)
	}
	links, err := readDistroLinks(dir)
	if err != nil {
		tb.Fatalf("opensshtest: %v", err)
	}
	dst := tb.TempDir()
	if err := copyDistroFiles(src, dst); err != nil {
		tb.Fatalf("opensshtest: copying %s: %v", name, err)
	}
	addDistroLinks(tb, name, dst, links)
	applyDistroModes(tb, name, dst, modes)
	return dst
}

// copyDistroFiles copies the tree src into the existing directory dst:
// symbolic links with their target unchanged, directories with mode 0755,
// regular files byte for byte with mode 0644. It stops at the first error,
// and at a file of any other type.
func copyDistroFiles(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		return copyDistroEntry(p, filepath.Join(dst, rel), d)
	})
}

// copyDistroEntry copies the one file p, whose entry is d, to out as
// copyDistroFiles describes; a directory's contents are not copied.
func copyDistroEntry(p, out string, d fs.DirEntry) error {
	switch {
	case d.Type()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		return os.Symlink(target, out)
	case d.IsDir():
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		return os.Chmod(out, 0o755) // whatever the umask
	case d.Type().IsRegular():
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			return err
		}
		return os.Chmod(out, 0o644)
	default:
		return fmt.Errorf("%s: unsupported file type %v", p, d.Type())
	}
}

// addDistroLinks creates, in the copy dst of the tree name, the symbolic
// links that links.txt lists for that tree, in links.txt order, with
// their parent directories. It calls tb.Fatalf when the copy already has
// one of those paths or a link cannot be made.
func addDistroLinks(tb testing.TB, name, dst string, links []distroLink) {
	tb.Helper()
	for _, l := range links {
		if l.tree != name {
			continue
		}
		p := filepath.Join(dst, filepath.FromSlash(l.path))
		if _, err := os.Lstat(p); err == nil {
			tb.Fatalf("opensshtest: links.txt lists %s %s, which the tree already has", name, l.path)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatalf("opensshtest: %v", err)
		}
		if err := os.Symlink(l.target, p); err != nil {
			tb.Fatalf("opensshtest: %v", err)
		}
	}
}

// applyDistroModes sets, in the copy dst of the tree name, the modes that
// modes.txt lists for that tree. It calls tb.Fatalf when a listed path is
// missing or a symbolic link, or its mode cannot be set.
func applyDistroModes(tb testing.TB, name, dst string, modes []distroMode) {
	tb.Helper()
	// Files first, then directories, deepest first: a 0700 directory stays
	// usable by its owner either way, but this order never depends on that.
	var mine []distroMode
	for _, m := range modes {
		if m.tree == name {
			mine = append(mine, m)
		}
	}
	sort.SliceStable(mine, func(i, j int) bool {
		return strings.Count(mine[i].path, "/") > strings.Count(mine[j].path, "/")
	})
	for _, m := range mine {
		p := filepath.Join(dst, filepath.FromSlash(m.path))
		st, err := os.Lstat(p)
		if err != nil {
			tb.Fatalf("opensshtest: modes.txt lists %s %s, which the tree does not have", name, m.path)
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			tb.Fatalf("opensshtest: modes.txt lists %s %s, a symbolic link (its mode cannot be set)", name, m.path)
		}
		if err := os.Chmod(p, m.mode); err != nil {
			tb.Fatalf("opensshtest: %v", err)
		}
	}
}
