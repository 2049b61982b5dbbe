package desired

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/sshconverge/agent/pkg/files"
)

// FuzzDesiredParse feeds arbitrary bytes to Parse. Errors are fine;
// panics and hangs are not. Beyond that, for every input:
//
//   - Parse returns a State or an error, never both or neither, and the
//     same answer twice;
//   - a State holds no value with a control character, and every setting
//     names a catalogue keyword;
//   - rendering the State back to YAML (every value a list of quoted
//     strings) and parsing that gives the same State;
//   - every setting, written as the configuration line the agent would
//     write (files.FormatValue of its arguments), lexes back to the same
//     normal form: a desired value cannot turn into a different one (or
//     into several lines) on disk.
//
// The seeds are the examples and the command-line scripts' desired files.
// Run it with go test ./pkg/desired -run '^$' -fuzz FuzzDesiredParse
// -fuzztime 60s (or .ci/fuzz.sh); a crasher is written to
// testdata/fuzz/FuzzDesiredParse and becomes part of the seed corpus.
func FuzzDesiredParse(f *testing.F) {
	for _, seed := range desiredSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		st, err := Parse("fuzz.yaml", src)
		if (st == nil) == (err == nil) {
			t.Fatalf("Parse returned state %v and error %v", st != nil, err)
		}
		st2, err2 := Parse("fuzz.yaml", src)
		if (st2 == nil) != (st == nil) || errString(err) != errString(err2) {
			t.Fatalf("Parse is not deterministic: %v, then %v", err, err2)
		}
		if st == nil {
			return
		}
		checkState(t, st)
		rendered := renderState(st)
		again, err := Parse("rendered.yaml", rendered)
		if err != nil {
			t.Fatalf("the rendered state does not parse: %v\n%s", err, rendered)
		}
		if d := diffStates(st, again); d != "" {
			t.Fatalf("the rendered state parses differently: %s\n%s", d, rendered)
		}
		for _, side := range []*Side{st.Server, st.Client} {
			checkConfigLines(t, side)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// desiredSeeds returns the examples' YAML files, the YAML files of the
// command-line scripts and this package's test input.
func desiredSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	seeds := [][]byte{[]byte(good), []byte("version: 1\n"), []byte("version: 1\nsshd: {settings: {AllowUsers: [a, \"b c\"], Banner: none}}\n")}
	err := filepath.WalkDir(filepath.Join("..", "..", "examples"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			if b, err := os.ReadFile(p); err == nil {
				seeds = append(seeds, b)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	scripts, _ := filepath.Glob(filepath.Join("..", "..", "cmd", "agent", "testdata", "scripts", "*.txtar"))
	for _, p := range scripts {
		ar, err := txtar.ParseFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		for _, af := range ar.Files {
			if strings.HasSuffix(af.Name, ".yaml") {
				seeds = append(seeds, af.Data)
			}
		}
	}
	if len(seeds) < 5 {
		tb.Fatalf("only %d seeds found; run the fuzz target from pkg/desired", len(seeds))
	}
	return seeds
}

// checkState checks what every valid State guarantees.
func checkState(t *testing.T, st *State) {
	t.Helper()
	if st.Version != 1 {
		t.Fatalf("version %d", st.Version)
	}
	for _, side := range []*Side{st.Server, st.Client} {
		if side == nil {
			continue
		}
		if !strings.HasPrefix(side.Path, "/") || filepath.Clean(side.Path) != side.Path {
			t.Fatalf("path %q is not absolute and clean", side.Path)
		}
		all := slices.Clone(side.Settings)
		for _, b := range side.Blocks {
			all = append(all, b.Settings...)
			if checkControl(b.Scope.String()) != nil {
				t.Fatalf("scope %q holds a control character", b.Scope)
			}
		}
		for _, s := range all {
			if s.Keyword == nil || len(s.Args) == 0 || s.Normal == nil {
				t.Fatalf("setting %+v is incomplete", s)
			}
			for _, a := range s.Args {
				if checkControl(a) != nil {
					t.Fatalf("%s: argument %q holds a control character", s.Keyword.Name, a)
				}
			}
		}
	}
}

// renderState writes st as a desired-state file: every string quoted,
// every value a list of its arguments.
func renderState(st *State) []byte {
	var b strings.Builder
	b.WriteString("version: 1\n")
	q := strconv.Quote
	settings := func(indent string, ss []Setting) {
		if len(ss) == 0 {
			b.WriteString(indent + "settings: {}\n")
			return
		}
		b.WriteString(indent + "settings:\n")
		for _, s := range ss {
			args := make([]string, len(s.Args))
			for i, a := range s.Args {
				args[i] = q(a)
			}
			b.WriteString(indent + "  " + q(s.Keyword.Name) + ": [" + strings.Join(args, ", ") + "]\n")
		}
	}
	for _, side := range []*Side{st.Server, st.Client} {
		if side == nil {
			continue
		}
		blocks, key := "match", "criteria"
		if side.Dialect == files.Client {
			b.WriteString("ssh:\n")
			blocks, key = "hosts", "host"
		} else {
			b.WriteString("sshd:\n")
			settings("  ", side.Settings)
			if len(side.Absent) > 0 {
				b.WriteString("  absent:\n")
				for _, a := range side.Absent {
					b.WriteString("    - " + q(a.Keyword.Name) + "\n")
				}
			}
		}
		b.WriteString("  path: " + q(side.Path) + "\n")
		if len(side.Blocks) == 0 {
			b.WriteString("  " + blocks + ": []\n")
		} else {
			b.WriteString("  " + blocks + ":\n")
		}
		for _, bl := range side.Blocks {
			scope := bl.Scope.Match
			if side.Dialect == files.Client {
				scope = bl.Scope.Host
			}
			b.WriteString("    - " + key + ": " + q(scope) + "\n")
			settings("      ", bl.Settings)
		}
	}
	return []byte(b.String())
}

// diffStates says how two States differ ("" when they do not).
func diffStates(a, b *State) string {
	for i, pair := range [][2]*Side{{a.Server, b.Server}, {a.Client, b.Client}} {
		x, y := pair[0], pair[1]
		if (x == nil) != (y == nil) {
			return "side " + strconv.Itoa(i) + " present in one only"
		}
		if x == nil {
			continue
		}
		if x.Path != y.Path {
			return "path " + x.Path + " vs " + y.Path
		}
		if d := diffSettings(x.Settings, y.Settings); d != "" {
			return d
		}
		if len(x.Absent) != len(y.Absent) {
			return "absent lists differ"
		}
		for j := range x.Absent {
			if x.Absent[j].Keyword != y.Absent[j].Keyword {
				return "absent " + x.Absent[j].Keyword.Name + " vs " + y.Absent[j].Keyword.Name
			}
		}
		if len(x.Blocks) != len(y.Blocks) {
			return "block counts differ"
		}
		for j := range x.Blocks {
			if x.Blocks[j].Scope != y.Blocks[j].Scope {
				return "scope " + x.Blocks[j].Scope.String() + " vs " + y.Blocks[j].Scope.String()
			}
			if d := diffSettings(x.Blocks[j].Settings, y.Blocks[j].Settings); d != "" {
				return x.Blocks[j].Scope.String() + ": " + d
			}
		}
	}
	return ""
}

func diffSettings(a, b []Setting) string {
	if len(a) != len(b) {
		return "setting counts differ"
	}
	for i := range a {
		if a[i].Keyword != b[i].Keyword || !slices.Equal(a[i].Args, b[i].Args) || !slices.Equal(a[i].Normal, b[i].Normal) {
			return strconv.Quote(a[i].Keyword.Name) + " " + strconv.Quote(strings.Join(a[i].Args, "|")) + "/" + strconv.Quote(strings.Join(a[i].Normal, "|")) +
				" vs " + strconv.Quote(b[i].Keyword.Name) + " " + strconv.Quote(strings.Join(b[i].Args, "|")) + "/" + strconv.Quote(strings.Join(b[i].Normal, "|"))
		}
	}
	return ""
}

// checkConfigLines writes each setting of side as the agent writes it
// into a configuration file and lexes it back as OpenSSH would.
func checkConfigLines(t *testing.T, side *Side) {
	t.Helper()
	if side == nil {
		return
	}
	all := slices.Clone(side.Settings)
	for _, b := range side.Blocks {
		all = append(all, b.Settings...)
	}
	for _, s := range all {
		line := s.Keyword.Name + " " + files.FormatValue(s.Keyword, s.Args)
		f := files.Parse("/etc/ssh/fuzz", side.Dialect, []byte(line+"\n"))
		if len(f.Lines) != 1 {
			t.Fatalf("%q is written as %d lines", line, len(f.Lines))
		}
		l := f.Lines[0]
		if l.Kind != files.Directive || l.Err() != nil || !strings.EqualFold(l.Keyword(), s.Keyword.Name) {
			t.Fatalf("%q lexes as kind %v, keyword %q, error %v", line, l.Kind, l.Keyword(), l.Err())
		}
		norm, err := files.Normalize(side.Dialect, s.Keyword, l.Args())
		if err != nil {
			t.Fatalf("%q: the desired value %q is written as a line OpenSSH reads as %q, which is invalid: %v", line, s.Args, l.Args(), err)
		}
		if !slices.Equal(norm, s.Normal) {
			t.Fatalf("%q: the desired value %q (normal %q) is written as a line OpenSSH reads as %q (normal %q)", line, s.Args, s.Normal, l.Args(), norm)
		}
	}
}
