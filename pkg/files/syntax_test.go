package files

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

func TestLex(t *testing.T) {
	tests := []struct {
		d       Dialect
		in      string
		kind    LineKind
		keyword string
		args    []string
		value   string
		err     string
	}{
		{Server, "", Blank, "", nil, "", ""},
		{Server, " \t ", Blank, "", nil, "", ""},
		{Server, "# Port 22", Comment, "", nil, "", ""},
		{Server, "   #Port 22", Comment, "", nil, "", ""},
		{Server, "Port 22", Directive, "Port", []string{"22"}, "22", ""},
		{Server, "Port=22", Directive, "Port", []string{"22"}, "22", ""},
		{Server, "Port = 22", Directive, "Port", []string{"22"}, "22", ""},
		{Server, "Port =22", Directive, "Port", []string{"22"}, "22", ""},
		{Server, "Port= 22", Directive, "Port", []string{"22"}, "22", ""},
		{Server, "Port==22", Directive, "Port", []string{"=22"}, "=22", ""},
		{Server, "\tport\t22\t", Directive, "port", []string{"22"}, "22", ""},
		{Server, "Port 22 # ssh", Directive, "Port", []string{"22"}, "22", ""},
		{Server, "Port 22#x", Directive, "Port", []string{"22#x"}, "22#x", ""},
		{Server, "Port 22\f", Directive, "Port", []string{"22"}, "22", ""},
		{Server, `Banner "/etc/my banner"`, Directive, "Banner", []string{"/etc/my banner"}, `"/etc/my banner"`, ""},
		{Server, `Banner '/a "b"'`, Directive, "Banner", []string{`/a "b"`}, `'/a "b"'`, ""},
		{Server, `Banner a\ b`, Directive, "Banner", []string{"a b"}, `a\ b`, ""},
		{Server, `Banner a"b c"d`, Directive, "Banner", []string{"ab cd"}, `a"b c"d`, ""},
		{Server, `AllowUsers alice  bob # admins`, Directive, "AllowUsers", []string{"alice", "bob"}, "alice  bob", ""},
		{Server, `Banner "/etc/x`, Directive, "Banner", nil, "", "unterminated"},
		{Server, "Port", Directive, "Port", nil, "", "no argument"},
		{Server, "Port   ", Directive, "Port", nil, "", "no argument"},
		{Server, "Port #", Directive, "Port", nil, "", ""},
		{Server, "Port 2\x002", Directive, "", nil, "", "NUL byte"},
		{Server, `"Port" 22`, Directive, "Port", []string{"22"}, "22", ""},
		{Server, `"Port 22`, Comment, "", nil, "", ""},
		{Server, "ForceCommand /bin/echo 'hi' # not a comment  ", Directive, "ForceCommand", []string{"/bin/echo 'hi' # not a comment"}, "/bin/echo 'hi' # not a comment", ""},
		{Server, "ForceCommand=  internal-sftp", Directive, "ForceCommand", []string{"internal-sftp"}, "internal-sftp", ""},
		// OpenSSH 9.2 keeps '#' in VersionAddendum (9.3 cuts it).
		{Server, "VersionAddendum hello world # c", Directive, "VersionAddendum", []string{"hello world # c"}, "hello world # c", ""},
		{Client, "ProxyCommand ssh -W %h:%p bastion # via", Directive, "ProxyCommand", []string{"ssh -W %h:%p bastion # via"}, "ssh -W %h:%p bastion # via", ""},
		{Client, "ProxyCommand = =nc %h %p", Directive, "ProxyCommand", []string{"nc %h %p"}, "nc %h %p", ""},
		{Client, `ProxyCommand sh -c "x`, Directive, "ProxyCommand", []string{"sh", "-c"}, "", "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f := Parse("/t", tt.d, []byte(tt.in))
			if tt.in == "" {
				if len(f.Lines) != 0 {
					t.Fatalf("empty input gave %d lines", len(f.Lines))
				}
				return
			}
			l := f.Lines[0]
			if l.Kind != tt.kind {
				t.Fatalf("kind = %v, want %v", l.Kind, tt.kind)
			}
			if tt.err != "" {
				if l.Err() == nil || !strings.Contains(l.Err().Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", l.Err(), tt.err)
				}
				return
			}
			if l.Err() != nil && tt.kind == Directive && tt.args != nil {
				t.Fatalf("unexpected error %v", l.Err())
			}
			if l.Keyword() != tt.keyword {
				t.Errorf("keyword = %q, want %q", l.Keyword(), tt.keyword)
			}
			if diff := cmp.Diff(tt.args, l.Args()); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			if l.Value() != tt.value {
				t.Errorf("value = %q, want %q", l.Value(), tt.value)
			}
		})
	}
}

func TestParseLineEndings(t *testing.T) {
	src := "Port 22\r\nPort 2222\nX11Forwarding no"
	f := Parse("/t", Server, []byte(src))
	if got := len(f.Lines); got != 3 {
		t.Fatalf("%d lines, want 3", got)
	}
	wantEOL := []string{"\r\n", "\n", ""}
	for i, l := range f.Lines {
		if l.EOL() != wantEOL[i] {
			t.Errorf("line %d EOL = %q, want %q", i+1, l.EOL(), wantEOL[i])
		}
	}
	if f.Lines[0].Args()[0] != "22" {
		t.Errorf("CRLF line args = %q", f.Lines[0].Args())
	}
	if got := string(f.Bytes()); got != src {
		t.Errorf("round trip = %q", got)
	}
}

// distroFiles returns every file of the distro fixtures.
func distroFiles(t testing.TB) map[string][]byte {
	files := map[string][]byte{}
	err := filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".md") || strings.Contains(p, "/fuzz/") {
			return err
		}
		b, err := os.ReadFile(p)
		files[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestRoundTripDistro(t *testing.T) {
	files := distroFiles(t)
	if len(files) < 5 {
		t.Fatalf("only %d fixture files under testdata", len(files))
	}
	for p, b := range files {
		for _, d := range []Dialect{Server, Client} {
			if got := Parse(p, d, b).Bytes(); !bytes.Equal(got, b) {
				t.Errorf("%s (%s): round trip differs", p, d)
			}
		}
	}
}

// FuzzRoundTrip proves that parse then render reproduces any input byte
// for byte, in both dialects, and that lexing never panics.
func FuzzRoundTrip(f *testing.F) {
	for _, b := range distroFiles(f) {
		f.Add(b)
	}
	for _, s := range []string{
		"Port 22\r\nPort=2222 # x\n\tMatch User \"a b\"\n  ForceCommand echo '#'\n",
		"Host *\n ProxyCommand ssh -W %h:%p \"b\n",
		"\xe9t\xe9 # latin-1\nBanner none",
		"A=\"\\\"\"\\\n\f\r\r\n\x00",
		"\"Port\" 22\nP\"or\"t=22 #\n\"Port 22\n=Port 22\n\"\" Port 22\n\"ForceCommand\"  a  b \f\nPort\n  \"Host\" a\tb\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, d := range []Dialect{Server, Client} {
			file := Parse("/fuzz", d, src)
			if got := file.Bytes(); !bytes.Equal(got, src) {
				t.Fatalf("%s: round trip of %q gave %q", d, src, got)
			}
			if !file.renders(string(src)) || file.renders(string(src)+"\n") || len(src) > 0 && file.renders(string(src[1:])) {
				t.Fatalf("%s: renders disagrees with Bytes on %q", d, src)
			}
			for _, l := range file.Lines {
				checkLexed(t, d, l)
			}
		}
	})
}

// checkLexed compares what l's offsets give (Keyword, Args, Err, Value)
// with eagerLex's reading of the same text.
func checkLexed(t *testing.T, d Dialect, l *Line) {
	t.Helper()
	kind, kw, args, err := eagerLex(d, l.Text)
	if l.Kind != kind || l.Keyword() != kw || !slices.Equal(l.Args(), args) || (l.Err() == nil) != (err == nil) ||
		err != nil && l.Err().Error() != err.Error() {
		t.Fatalf("%s: %q lexes as kind %v keyword %q args %q error %v; want %v %q %q %v", d, l.Text, l.Kind, l.Keyword(), l.Args(), l.Err(), kind, kw, args, err)
	}
	if err == nil && kind == Directive {
		// The value span holds exactly the arguments.
		want := []string{l.Value()}
		if !isRawLine(d, kw) {
			want, _, _ = argvSplit(l.Value())
		}
		if !slices.Equal(want, args) {
			t.Fatalf("%s: value %q of %q splits into %q, not the arguments %q", d, l.Value(), l.Text, want, args)
		}
	}
}

// eagerLex is the lexing a Line keeps as offsets, done at once from the
// text and OpenSSH's functions (strdelim, argv_split): the oracle for
// Line's Keyword, Args and Err.
func eagerLex(d Dialect, text string) (kind LineKind, kw string, args []string, err error) {
	if i := strings.IndexByte(text, 0); i >= 0 {
		return Directive, "", nil, fmt.Errorf("NUL byte at column %d (OpenSSH would silently truncate the line there); remove it", i+1)
	}
	content := strings.TrimRight(text, trailingWS)
	if content == "" && text != "" {
		content = text[:1] // OpenSSH never strips the first byte
	}
	kw, _, _, next, ok := strdelim(content, 0)
	if ok && kw == "" && next >= 0 {
		kw, _, _, next, ok = strdelim(content, next)
	}
	switch {
	case !ok, kw == "" && strings.TrimLeft(content, whitespace) != "", kw != "" && kw[0] == '#':
		return Comment, "", nil, nil
	case kw == "":
		return Blank, "", nil, nil
	}
	if next < 0 || next >= len(content) {
		return Directive, kw, nil, fmt.Errorf("no argument after keyword %q", kw)
	}
	args, _, err = argvSplit(content[next:])
	if err == nil && isRawLine(d, kw) {
		start, end := rawValue(d, content, next)
		args = []string{content[start:end]}
	}
	return Directive, kw, args, err
}

// FuzzLoad feeds arbitrary bytes as a main file (with a drop-in that
// includes it back, so loops occur) through loading, evaluation and an
// edit in both dialects: errors are fine, panics and hangs are not, a
// load in parts (see loader.prepare) agrees with a load in one, and an
// edit either succeeds or leaves the file's bytes untouched.
func FuzzLoad(f *testing.F) {
	for _, b := range distroFiles(f) {
		f.Add(b)
	}
	f.Add([]byte("Include /etc/ssh/d/*\nMatch all\nPort 22\nHost *\n"))
	f.Add([]byte("Port 22\nHost x"))                   // a block's header as the unterminated last line
	f.Add([]byte("PermitRootLogin yes\nMatch User x")) // (see TestSetAllUnterminatedLastLine)
	dir := f.TempDir()
	must(f, os.MkdirAll(filepath.Join(dir, "etc/ssh/d"), 0o755))
	must(f, os.WriteFile(filepath.Join(dir, "etc/ssh/d/x"), []byte("Include /etc/ssh/main\nMatch User x\n"), 0o644))
	r, err := NewRoot(dir)
	must(f, err)
	f.Fuzz(func(t *testing.T, src []byte) {
		must(t, os.WriteFile(filepath.Join(dir, "etc/ssh/main"), src, 0o644))
		for _, d := range []Dialect{Server, Client} {
			c, err := Load(r, "/etc/ssh/main", d)
			if c.Main == nil {
				t.Fatalf("no main file: %v", err)
			}
			if one, parts := dumpLoad(c, err), dumpLoad(load(r, "/etc/ssh/main", d, LoadOptions{}, func(int) int { return 3 })); parts != one {
				t.Fatalf("read in 3 parts:\n%s\nin one:\n%s", parts, one)
			}
			c.Server(Conn{User: "x", Addr: "192.0.2.1", LPort: 22})
			c.Client(Target{Host: "x", LocalUser: "root"})
			if err != nil {
				continue
			}
			scope, key := Scope{Match: "User x"}, "ClientAliveInterval"
			if d == Client {
				scope, key = Scope{Host: "x"}, "ServerAliveInterval"
			}
			d := NewDraft(c)
			if _, err := d.Set(scope, key, []string{"7"}, ""); err != nil && len(d.FileChanges()) > 0 {
				t.Fatalf("failed Set (%v) changed the files", err)
			}
			sets := fuzzSets[c.Dialect]
			setAllIsSetInTurn(t, c, scope, sets)
			setAllIsSetInTurn(t, c, Scope{}, sets)
		}
	})
}

// fuzzSets are the settings FuzzLoad gives SetAll, in a block and
// globally: keywords the evaluation consults for no other.
var fuzzSets = map[Dialect][]Setting{
	Server: {{"ClientAliveInterval", []string{"7"}}, {"MaxAuthTries", []string{"4"}}, {"PermitTTY", []string{"no"}}},
	Client: {{"ServerAliveInterval", []string{"7"}}, {"ServerAliveCountMax", []string{"2"}}, {"ConnectTimeout", []string{"9"}}},
}

// TestLineSize: a configuration holds one Line per line of its files, so
// a Line stays small; a field added to it shows here.
func TestLineSize(t *testing.T) {
	if got := unsafe.Sizeof(Line{}); got > 32 {
		t.Fatalf("a Line takes %d bytes, more than 32", got)
	}
}

// TestWideKeyword: a Line keeps its keyword's offset and length in 16 bits
// each; a keyword that starts or runs past that is found again when asked
// for, and reads the same.
func TestWideKeyword(t *testing.T) {
	long := strings.Repeat("k", 70000)
	for _, tt := range []struct {
		text string
		wide bool
	}{
		{strings.Repeat(" ", 70000) + "Port 22", true},
		{strings.Repeat("\t", 65534) + "=Port=22 # c", false}, // starts at 65,535
		{strings.Repeat("\t", 65535) + "=Port=22 # c", true},
		{long + " x y", true},
		{`"` + long + `" 1`, true},
		{"Port " + strings.Repeat("2", 70000), false},
	} {
		for _, d := range []Dialect{Server, Client} {
			l := Parse("/x", d, []byte(tt.text)).Lines[0]
			checkLexed(t, d, l)
			if wide := l.flags&wideKeyword != 0; wide != tt.wide {
				t.Errorf("%.20q...: wideKeyword is %v, want %v", tt.text, wide, tt.wide)
			}
		}
	}
}

// TestEmptyLinesShared: a file's empty lines with the same terminator are
// one Line (most large configurations are a third blank lines), and the
// file still renders to its bytes.
func TestEmptyLinesShared(t *testing.T) {
	src := "Host a\n\n  User x\n\n\r\n\r\n \n\n"
	f := Parse("/x", Client, []byte(src))
	if got := string(f.Bytes()); got != src {
		t.Fatalf("renders %q, want %q", got, src)
	}
	lf, crlf, blank := f.Lines[1], f.Lines[4], f.Lines[6]
	if f.Lines[3] != lf || f.Lines[7] != lf || f.Lines[5] != crlf || lf == crlf || blank == lf {
		t.Errorf("empty lines not shared by terminator: %p %p %p / %p %p / %p", f.Lines[1], f.Lines[3], f.Lines[7], f.Lines[4], f.Lines[5], f.Lines[6])
	}
	if lf.Kind != Blank || crlf.Kind != Blank || lf.EOL() != "\n" || crlf.EOL() != "\r\n" {
		t.Errorf("shared empty lines: %+v %+v", *lf, *crlf)
	}
	if f.headers != 1 || f.directives != 1 {
		t.Errorf("size hints: %d headers, %d other directives; want 1 and 1", f.headers, f.directives)
	}
}

// TestErrLeavesLineAlone: Err lexes the text again to build its error, on
// a copy: a Line is shared (by configurations, and by goroutines) and
// never written once lexed. Under the race detector a write shows.
func TestErrLeavesLineAlone(t *testing.T) {
	l := Parse("/x", Client, []byte("ProxyCommand a 'b\n")).Lines[0]
	before := *l
	done := make(chan error)
	go func() { done <- l.Err() }()
	if err, other := l.Err(), <-done; err == nil || other == nil || err.Error() != other.Error() {
		t.Fatalf("Err = %v and %v, want the same unterminated-quote error", err, other)
	}
	if *l != before {
		t.Fatalf("Err changed the line: %+v, was %+v", *l, before)
	}
}

// TestParseParts: a file lexed in parts on several cores is the file
// lexed in one: the same lines in the same order, the same size hints, the
// same bytes, wherever the cuts fall (between CRLF lines, before an empty
// or unterminated last line, inside a run of empty lines).
func TestParseParts(t *testing.T) {
	pieces := []string{"Host a b\n", "  User x\n", "\n", "\r\n", "# c\n", "Match user u\r\n",
		"ProxyCommand a 'b\n", " \n", "\tPort 22 # c\n", "Host\n", "=\n", "x\r"}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		if i%3 == 0 {
			b.WriteString("Port 2") // no terminator
		}
		src := b.String()
		whole := parseParts("/x", Client, []string{src})
		for n := 2; n <= 5; n++ {
			parts := splitLines(src, n)
			if strings.Join(parts, "") != src || len(parts) > n {
				t.Fatalf("splitLines(%q, %d) = %q", src, n, parts)
			}
			for _, p := range parts[:len(parts)-1] {
				if !strings.HasSuffix(p, "\n") {
					t.Fatalf("splitLines(%q, %d) = %q: a part ends inside a line", src, n, parts)
				}
			}
			got := parseParts("/x", Client, parts)
			if len(got.Lines) != len(whole.Lines) || got.headers != whole.headers || got.directives != whole.directives {
				t.Fatalf("%q in %d parts: %d lines, %d headers, %d directives; in one: %d, %d, %d",
					src, len(parts), len(got.Lines), got.headers, got.directives, len(whole.Lines), whole.headers, whole.directives)
			}
			for j, l := range got.Lines {
				if *l != *whole.Lines[j] {
					t.Fatalf("%q in %d parts: line %d is %+v, in one %+v", src, len(parts), j+1, *l, *whole.Lines[j])
				}
			}
			if string(got.Bytes()) != src {
				t.Fatalf("%q in %d parts renders %q", src, len(parts), got.Bytes())
			}
		}
	}
	// A file of a few MB is cut in as many parts as there are cores, at
	// most, and parses to what one part gives.
	big := strings.Repeat("Host h\n  User x\r\n\n", 1<<18) + "Port 2"
	if got := len(splitLines(big, 4)); got != 4 {
		t.Errorf("a %d-byte file is cut in %d parts, want 4", len(big), got)
	}
	if got, want := cores(len(big)), min(runtime.GOMAXPROCS(0), len(big)>>20); got != want {
		t.Errorf("a file of %d bytes is read by %d cores, want %d", len(big), got, want)
	}
	if got := cores(2*parallelFrom - 1); got != 1 {
		t.Errorf("a file of %d bytes is read by %d cores, want 1", 2*parallelFrom-1, got)
	}
	got, whole := Parse("/x", Client, []byte(big)), parseParts("/x", Client, []string{big})
	if string(got.Bytes()) != big || len(got.Lines) != len(whole.Lines) || got.headers != 1<<18 || got.directives != 1<<18+1 {
		t.Errorf("large file: %d lines (want %d), %d headers, %d directives", len(got.Lines), len(whole.Lines), got.headers, got.directives)
	}
}
