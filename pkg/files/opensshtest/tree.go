package opensshtest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Tree is a generated OpenSSH configuration tree.
type Tree struct {
	// Files maps a path relative to the root (e.g. "etc/ssh/sshd_config")
	// to the file's content.
	Files map[string]string
	// Set holds the canonical names (aliases resolved, e.g. "TCPKeepAlive"
	// for KeepAlive) of the keywords the tree sets somewhere in a file that
	// OpenSSH reads, deduplicated and sorted. Include, Match and Host are
	// not listed.
	Set []string
	// Conns are the connections to query with sshd -T (server trees). The
	// zero Conn (no -C) comes first, except in trees with a Match LocalPort
	// line: there sshd -T refuses any query without lport ("'Match
	// LocalPort' in configuration but 'lport' not in connection test
	// specification"), so every Conn has LPort set, the first being
	// {LPort: 22}.
	Conns []Conn
	// Hosts are the host names to query with ssh -G (client trees).
	Hosts []string
}

// Write writes the tree's files under root, with mode 0644 for files and
// 0755 for directories.
func (t Tree) Write(root string) error {
	paths := make([]string, 0, len(t.Files))
	for p := range t.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if filepath.IsAbs(p) || strings.HasPrefix(filepath.Clean(p), "..") {
			return fmt.Errorf("opensshtest: tree path %q is not relative to the root", p)
		}
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(t.Files[p]), 0o644); err != nil {
			return err
		}
		if err := os.Chmod(full, 0o644); err != nil { // whatever the umask
			return err
		}
	}
	return nil
}

// String renders the tree's files, in path order, for failure messages.
func (t Tree) String() string {
	paths := make([]string, 0, len(t.Files))
	for p := range t.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "-- %s --\n%s\n", p, t.Files[p])
	}
	return b.String()
}

// Count returns how many random trees a differential test should
// generate: def, or SSHCONVERGE_DIFF_TREES when set (for longer runs).
func Count(tb testing.TB, def int) int {
	s := os.Getenv("SSHCONVERGE_DIFF_TREES")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("SSHCONVERGE_DIFF_TREES=%q: want a positive number", s)
	}
	return n
}

// CountFor is Count for tests that run against every installation
// (Installs): def trees for the host's own OpenSSH and other for each
// chroot release, unless SSHCONVERGE_DIFF_TREES sets one count for all.
// (300 trees for each of five releases take about 25 minutes on two
// cores; 300 for the host and 100 for the others about 11.)
func CountFor(tb testing.TB, in Install, def, other int) int {
	if os.Getenv("SSHCONVERGE_DIFF_TREES") != "" || in.Name == HostInstall {
		return Count(tb, def)
	}
	return other
}

// Generate returns a random server tree (GenerateServer) when server is
// true, else a random client tree (GenerateClient).
func Generate(r *rand.Rand, server bool) Tree {
	return GenerateFor(r, server, GenOptions{})
}

// GenerateFor is Generate for the OpenSSH release opts describes: the tree
// uses only keywords, spellings and lexical forms that release knows.
func GenerateFor(r *rand.Rand, server bool, opts GenOptions) Tree {
	if server {
		return generateServer(r, opts)
	}
	return generateClient(r, opts)
}
