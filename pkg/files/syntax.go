package files

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
)

// LineKind classifies a line of a configuration file.
type LineKind uint8

const (
	// Blank is an empty or whitespace-only line.
	Blank LineKind = iota
	// Comment is a line whose first token starts with '#', or a line
	// OpenSSH skips without a word (an unterminated quoted keyword).
	Comment
	// Directive is a keyword line.
	Directive
)

// Line is one line of a configuration file. Text and EOL together are the
// line's exact bytes; the rest is a parse of Text, only meaningful for
// Directive lines.
//
// A Line is never changed once lexed: an edit makes a new Line, so every
// File and Config holding the old one stays as it was. It is kept small
// (32 bytes, Text sharing the file's bytes, the parse kept as offsets into
// Text): a configuration holds one per line. Keyword, Args and Err are
// computed from those offsets when asked for.
type Line struct {
	// Text is the line without its terminator.
	Text string

	valStart, valEnd uint32 // the value's byte offsets into Text
	// The keyword's offset and length, unless wideKeyword: a keyword
	// starting or running past 65,535 bytes is found again when asked for.
	kwStart, kwLen uint16
	// Kind classifies the line.
	Kind  LineKind
	eol   eol
	flags lineFlags
}

// lineFlags record what a Line's offsets alone do not say.
type lineFlags uint8

const (
	kwQuoted    lineFlags = 1 << iota // the keyword as written holds quotes
	rawLine                           // a raw-line keyword: the value is one argument
	lexBad                            // a lexing error (see Line.Err)
	wideKeyword                       // kwStart and kwLen do not hold the keyword's span
)

// Keyword returns a directive's keyword as written (quotes removed, case
// kept); "" for other lines and for a line with a NUL byte.
func (l *Line) Keyword() string {
	if l.Kind != Directive {
		return ""
	}
	start, end := int(l.kwStart), int(l.kwStart)+int(l.kwLen)
	if l.flags&wideKeyword != 0 {
		_, start, end, _, _ = keyword(lineContent(l.Text))
	}
	kw := l.Text[start:end]
	if l.flags&kwQuoted != 0 {
		kw, _, _, _, _ = strdelim(kw, 0)
	}
	return kw
}

// Args returns a directive's arguments as OpenSSH splits them: quotes and
// escapes removed, a trailing comment dropped; a raw-line keyword's value
// is one argument. For a line with a lexing error they are the arguments
// before it. Each call splits anew.
func (l *Line) Args() []string {
	switch {
	case l.Kind != Directive:
		return nil
	case l.flags&rawLine != 0:
		return []string{l.Text[l.valStart:l.valEnd]}
	}
	args, _, _ := argvSplit(l.Text[l.valStart:l.valEnd])
	return args
}

// Err returns the lexing error OpenSSH would report for the line, or nil.
func (l *Line) Err() error {
	if l.flags&lexBad == 0 {
		return nil
	}
	again := Line{Text: l.Text} // the line itself is never changed
	return lex(&again, Server)
}

// eol is a line terminator.
type eol uint8

const (
	eolNone eol = iota // the last line, without a terminator
	eolLF              // "\n"
	eolCRLF            // "\r\n"
)

var eolText = [...]string{eolNone: "", eolLF: "\n", eolCRLF: "\r\n"}

func eolOf(s string) eol {
	switch s {
	case "\n":
		return eolLF
	case "\r\n":
		return eolCRLF
	}
	return eolNone
}

// EOL returns the line's terminator: "\n", "\r\n", or "" for a last line
// without one.
func (l *Line) EOL() string { return eolText[l.eol] }

// Value returns a directive's argument text as written: for raw-line
// keywords the rest of the line verbatim, otherwise the bytes from the
// first to the last argument (quotes kept, trailing comment excluded). It
// is "" for a line with a lexing error and for other kinds of line.
func (l *Line) Value() string {
	if l.Kind != Directive || l.flags&lexBad != 0 {
		return ""
	}
	return l.Text[l.valStart:l.valEnd]
}

// File is one configuration file held losslessly: Bytes returns exactly
// the bytes it was parsed from. A File is immutable: an edit (see Draft)
// makes a new File that shares the unchanged lines.
type File struct {
	// Path is the file's path as OpenSSH names it, e.g. /etc/ssh/sshd_config.
	Path string
	// Dialect is the language the file is written in.
	Dialect Dialect
	// Lines are the file's lines in order.
	Lines []*Line

	// When parsed, the directive lines that open a Host or Match block
	// and the others (size hints for the configuration that reads it).
	headers, directives int
}

// Parse splits src into lines and lexes each as OpenSSH would. It never
// fails: lexing errors are recorded on the lines (see File.Errors), so that
// any input, valid or not, renders back to the same bytes.
func Parse(path string, d Dialect, src []byte) *File {
	return parse(path, d, string(src)) // one copy; every line's Text slices it
}

// parse is Parse of src held as a string: the lines share its bytes.
func parse(path string, d Dialect, s string) *File {
	return parseParts(path, d, splitLines(s, cores(len(s))))
}

// parallelFrom is the part of a file one core reads at least: below it,
// starting a goroutine costs about what it saves.
const parallelFrom = 1 << 20

// cores returns how many cores read a file of size bytes: one per
// parallelFrom bytes, as many as Go may use at most.
func cores(size int) int { return max(1, min(runtime.GOMAXPROCS(0), size/parallelFrom)) }

// parseParts parses the file whose text is parts joined, each part but
// the last ending in a line terminator. Lines lex alone (OpenSSH has no
// continuation lines), so the parts are lexed at once, each on its own
// core into its own stretch of the file's lines.
func parseParts(path string, d Dialect, parts []string) *File {
	sizes := make([]int, len(parts))
	n := 0
	for i, part := range parts {
		sizes[i] = lineCount(part)
		n += sizes[i]
	}
	f := &File{Path: path, Dialect: d, Lines: populated[*Line](n, n)}
	if len(parts) == 1 {
		f.headers, f.directives = lexLines(f.Lines, parts[0], d)
		return f
	}
	counts := make([][2]int, len(parts)) // headers and directives
	var wg sync.WaitGroup
	rest := f.Lines
	for i, part := range parts {
		dst := rest[:sizes[i]]
		rest = rest[sizes[i]:]
		wg.Go(func() { counts[i][0], counts[i][1] = lexLines(dst, part, d) })
	}
	wg.Wait()
	for _, c := range counts {
		f.headers += c[0]
		f.directives += c[1]
	}
	return f
}

// lineCount returns the number of lines in s: one per terminator, and one
// for a last line without any.
func lineCount(s string) int {
	n := strings.Count(s, "\n")
	if s != "" && s[len(s)-1] != '\n' {
		n++
	}
	return n
}

// splitLines cuts s into at most n parts of whole lines, of about the
// same size.
func splitLines(s string, n int) []string {
	parts := make([]string, 0, n)
	for ; n > 1; n-- {
		i := strings.IndexByte(s[len(s)/n:], '\n')
		if i < 0 {
			break
		}
		cut := len(s)/n + i + 1
		parts = append(parts, s[:cut])
		s = s[cut:]
	}
	return append(parts, s)
}

// lexLines splits s into lines and lexes each into dst, which has room for
// exactly lineCount(s), and returns how many open a Host or Match block
// and how many are other directives.
func lexLines(dst []*Line, s string, d Dialect) (headers, directives int) {
	// The lines are allocated a slab at a time: empty lines share one
	// Line, so the count is only a bound.
	var slab []Line
	// An empty line is the same whatever its place: s holds one per
	// terminator, shared (a Line is never written once lexed).
	var empty [eolCRLF + 1]*Line
	for i := range dst {
		text, end := s, eolNone
		if j := strings.IndexByte(s, '\n'); j >= 0 {
			text, end, s = s[:j], eolLF, s[j+1:]
			if strings.HasSuffix(text, "\r") {
				text, end = text[:len(text)-1], eolCRLF
			}
		}
		if text == "" && empty[end] != nil {
			dst[i] = empty[end]
			continue
		}
		if len(slab) == cap(slab) {
			slab = populated[Line](0, min(len(dst)-i, 1024))
		}
		slab = append(slab, Line{Text: text, eol: end})
		l := &slab[len(slab)-1]
		_ = lex(l, d) // kept on the line (see Line.Err)
		switch {
		case text == "":
			empty[end] = l
		case isHeader(l):
			headers++
		case l.Kind == Directive:
			directives++
		}
		dst[i] = l
	}
	return headers, directives
}

// Bytes renders the file: every line's Text followed by its EOL.
func (f *File) Bytes() []byte {
	n := 0
	for _, l := range f.Lines {
		n += len(l.Text) + len(l.EOL())
	}
	b := make([]byte, 0, n)
	for _, l := range f.Lines {
		b = append(b, l.Text...)
		b = append(b, l.EOL()...)
	}
	return b
}

// renders reports whether Bytes would return exactly s, without rendering.
func (f *File) renders(s string) bool {
	for _, l := range f.Lines {
		eol := l.EOL()
		if !strings.HasPrefix(s, l.Text) || !strings.HasPrefix(s[len(l.Text):], eol) {
			return false
		}
		s = s[len(l.Text)+len(eol):]
	}
	return s == ""
}

// Errors returns the lexing errors of the file's lines, positioned.
func (f *File) Errors() ErrorList {
	var errs ErrorList
	for i, l := range f.Lines {
		if err := l.Err(); err != nil {
			errs.Add(Pos{File: f.Path, Line: i + 1}, err.Error())
		}
	}
	return errs
}

// EOL returns the line terminator most lines of the file use ("\n" when
// the file has none), the style new lines should follow.
func (f *File) EOL() string {
	crlf, lf := 0, 0
	for _, l := range f.Lines {
		switch l.eol {
		case eolCRLF:
			crlf++
		case eolLF:
			lf++
		}
	}
	if crlf > lf {
		return "\r\n"
	}
	return "\n"
}

const (
	whitespace = " \t\r\n"
	trailingWS = " \t\r\n\f"
)

// lex fills the parse of l from l.Text, following OpenSSH 9.2's
// process_config_line: strip trailing whitespace, take the keyword with
// strdelim, then split the rest with argv_split. It returns the lexing
// error it records (see Line.Err). It allocates nothing but that error:
// the arguments are only scanned here.
func lex(l *Line, d Dialect) error {
	*l = Line{Text: l.Text, eol: l.eol}
	if i := strings.IndexByte(l.Text, 0); i >= 0 {
		l.Kind, l.flags = Directive, lexBad
		return fmt.Errorf("NUL byte at column %d (OpenSSH would silently truncate the line there); remove it", i+1)
	}
	content := lineContent(l.Text)
	kw, kwStart, kwEnd, next, ok := keyword(content)
	switch {
	case !ok:
		l.Kind = Comment // OpenSSH ignores a line whose keyword has no closing quote
		return nil
	case kw == "" && strings.TrimLeft(content, whitespace) == "":
		l.Kind = Blank
		return nil
	case kw == "" || kw[0] == '#':
		l.Kind = Comment
		return nil
	}
	l.Kind = Directive
	if kwStart <= math.MaxUint16 && kwEnd-kwStart <= math.MaxUint16 {
		l.kwStart, l.kwLen = uint16(kwStart), uint16(kwEnd-kwStart)
	} else {
		l.flags |= wideKeyword
	}
	if kwEnd-kwStart != len(kw) {
		l.flags |= kwQuoted
	}
	if next < 0 || next >= len(content) {
		l.valStart, l.valEnd = uint32(len(content)), uint32(len(content))
		l.flags |= lexBad
		return fmt.Errorf("no argument after keyword %q", kw)
	}
	end, err := argvScan(content[next:])
	l.valStart, l.valEnd = uint32(next), uint32(next+end)
	if err != nil {
		l.flags |= lexBad
		return err
	}
	if isRawLine(d, kw) {
		start, end := rawValue(d, content, next)
		l.valStart, l.valEnd = uint32(start), uint32(end)
		l.flags |= rawLine
	}
	return nil
}

// lineContent is a line as OpenSSH reads it: trailing whitespace stripped,
// but never the first byte.
func lineContent(text string) string {
	for len(text) > 1 && strings.IndexByte(trailingWS, text[len(text)-1]) >= 0 {
		text = text[:len(text)-1]
	}
	return text
}

// keyword finds a line's keyword in its content as strdelim does (an
// empty first token, from a leading '=', is skipped once).
func keyword(content string) (kw string, start, end, next int, ok bool) {
	kw, start, end, next, ok = strdelim(content, 0)
	if ok && kw == "" && next >= 0 {
		kw, start, end, next, ok = strdelim(content, next)
	}
	return kw, start, end, next, ok
}

// rawValue returns the span of a raw-line keyword's value within content:
// the rest of the line after the separator, as OpenSSH takes it.
func rawValue(d Dialect, content string, next int) (start, end int) {
	skip := whitespace
	if d == Client {
		skip += "=" // readconf.c parse_command skips '=' too
	}
	start = next
	for start < len(content) && strings.IndexByte(skip, content[start]) >= 0 {
		start++
	}
	return start, len(content)
}

// strdelim mirrors OpenSSH's strdelim (misc.c) with '=' splitting: it
// returns the token starting at i, the token's start and end offsets as
// written (quotes included), and the offset of the rest (-1 when nothing
// follows, OpenSSH's NULL). ok is false for a token with an unterminated
// quote.
func strdelim(s string, i int) (tok string, start, end, next int, ok bool) {
	if i < 0 || i > len(s) {
		return "", i, i, -1, true
	}
	j := strings.IndexAny(s[i:], whitespace+"\"=")
	if j < 0 {
		return s[i:], i, len(s), -1, true
	}
	j += i
	if s[j] == '"' {
		k := strings.IndexByte(s[j+1:], '"')
		if k < 0 {
			return "", i, i, -1, false
		}
		k += j + 1
		return s[i:j] + s[j+1:k], i, k + 1, skipSet(s, k+1, whitespace), true
	}
	next = skipSet(s, j+1, whitespace)
	if s[j] != '=' && next < len(s) && s[next] == '=' {
		next = skipSet(s, next+1, whitespace)
	}
	return s[i:j], i, j, next, true
}

func skipSet(s string, i int, set string) int {
	for i < len(s) && strings.IndexByte(set, s[i]) >= 0 {
		i++
	}
	return i
}

// argvSplit mirrors OpenSSH's argv_split (misc.c) with comments
// terminating the line: tokens split on spaces and tabs, ' and " quote,
// \\ \" \' and "\ " (outside quotes) escape, and a '#' that starts a token
// ends the line. end is the offset just past the last token.
func argvSplit(s string) (args []string, end int, err error) {
	return argv(s, true)
}

// argvScan is argvSplit without the arguments: where they end, and the
// error. It allocates nothing but the error.
func argvScan(s string) (end int, err error) {
	_, end, err = argv(s, false)
	return end, err
}

// argv is argvSplit, keeping the arguments only when keep is set.
func argv(s string, keep bool) ([]string, int, error) {
	var buf [8]string // most lines have fewer arguments: one exact copy
	args, end, err := argvAppend(buf[:0], s, keep)
	if len(args) == 0 {
		return nil, end, err
	}
	out := make([]string, len(args))
	copy(out, args)
	return out, end, err
}

// argvAppend is argv appending the arguments to args.
func argvAppend(args []string, s string, keep bool) (_ []string, end int, err error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			continue
		}
		if s[i] == '#' {
			break
		}
		// Fast path: a token without quotes or escapes is a substring.
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '"' && s[j] != '\'' && s[j] != '\\' {
			j++
		}
		if j == len(s) || s[j] == ' ' || s[j] == '\t' {
			if keep {
				args = append(args, s[i:j])
			}
			end, i = j, j
			if i >= len(s) {
				break
			}
			continue
		}
		b.Reset()
		var quote byte
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '"' || s[i+1] == '\\' || (quote == 0 && s[i+1] == ' ')):
				i++
				if keep {
					b.WriteByte(s[i])
				}
			case quote == 0 && (c == ' ' || c == '\t'):
				goto done
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote != 0 && c == quote:
				quote = 0
			default:
				if keep {
					b.WriteByte(c)
				}
			}
		}
	done:
		if quote != 0 {
			return args, len(s), fmt.Errorf("unterminated %c quote; close it or escape it with a backslash", quote)
		}
		if keep {
			args = append(args, b.String())
		}
		end = i
		if i >= len(s) {
			break
		}
	}
	return args, end, nil
}

// SplitArgs splits s into arguments as OpenSSH splits a configuration
// line's arguments: whitespace separates, quotes group, backslash escapes,
// a '#' starting an argument ends the line.
func SplitArgs(s string) ([]string, error) {
	args, _, err := argvSplit(s)
	return args, err
}

// view is how a release's parser reads one directive line: the keyword,
// its arguments, and the text after the keyword (for Match criteria).
type view struct {
	keyword string
	args    []string
	rest    string
	err     error
	ignored bool // the parser skips the line (a comment, to it)
}

// view returns how the catalogue's release reads directive line l. From
// 8.7 on that is the line's own lexing (Line.Keyword, Line.Args); before,
// lexLegacy's.
func (c *Catalogue) view(l *Line) view {
	if !c.legacy || strings.IndexByte(l.Text, 0) >= 0 {
		return view{keyword: l.Keyword(), args: l.Args(), rest: l.Text[l.valStart:], err: l.Err()}
	}
	return c.lexLegacy(l.Text)
}

// lexLegacy reads a line as OpenSSH before 8.7 did (servconf.c and
// readconf.c of 8.4, with misc.c's strdelim):
//
//   - sshd cuts every line at its first '#', wherever it stands (inside
//     quotes and raw-line values too); ssh knows no trailing comments, so
//     `Port 22 # x` is "garbage at end of line" and a list keyword takes
//     "#" and "x" as values;
//   - arguments are split by strdelim: blanks or one '=' separate, only
//     double quotes group (no escapes; single quotes are literal), and an
//     empty token (`a ""`, `a==b`) or an unterminated quote ends the
//     arguments silently;
//   - raw-line keywords take the rest of the line after the separator.
func (c *Catalogue) lexLegacy(text string) view {
	text, kw, next, ok := c.legacyKeyword(text)
	if !ok {
		return view{ignored: true}
	}
	v := view{keyword: kw}
	if next >= 0 {
		v.rest = text[next:]
	}
	k, known := c.Lookup(kw)
	if known && k.Type == TypeRawLine {
		if next >= 0 {
			v.args = c.legacyRaw(v.rest)
		}
		return v
	}
	// SetEnv uses strdelimw: '=' is part of the value.
	var empty bool
	v.args, empty, v.err = legacyArgs(text, next, !known || k.Name != "SetEnv", c.dialect == Client && known && noGarbageCheck[k.Name])
	if known && empty && v.err == nil && len(v.args) == 1 && emptyIsValue[k.Name] {
		// These read an optional second value unless strdelim says there
		// is none; after a quoted value it says "" instead.
		v.err = fmt.Errorf("bad %s value: an empty argument follows the quoted one (OpenSSH before 8.7 reads it so); remove the quotes", k.Name)
	}
	return v
}

// emptyIsValue are the keywords whose parser before 8.7 takes an empty
// token after their first argument for a (bad) second one.
var emptyIsValue = map[string]bool{"IPQoS": true, "ListenAddress": true, "AddKeysToAgent": true}

// legacyKeyword returns the line as the parser sees it (cut at '#' for
// sshd, trailing blanks stripped), its keyword and the offset of the rest
// (-1 for none); ok is false for a line the parser skips.
func (c *Catalogue) legacyKeyword(text string) (line, kw string, next int, ok bool) {
	if c.dialect == Server {
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
	}
	for len(text) > 1 && strings.IndexByte(trailingWS, text[len(text)-1]) >= 0 {
		text = text[:len(text)-1]
	}
	kw, next, null := strdelimLegacy(text, 0, true)
	if !null && kw == "" {
		kw, next, null = strdelimLegacy(text, next, true)
	}
	return text, kw, next, !null && kw != "" && kw[0] != '#'
}

// legacyRaw returns a raw-line keyword's value: the rest of the line after
// blanks (and for ssh '='), none when nothing is left.
func (c *Catalogue) legacyRaw(rest string) []string {
	skip := whitespace
	if c.dialect == Client {
		skip += "="
	}
	if raw := strings.TrimLeft(rest, skip); raw != "" {
		return []string{raw}
	}
	return nil
}

// noGarbageCheck are the ssh keywords whose parser returns before 8.4's
// "garbage at end of line" check.
var noGarbageCheck = map[string]bool{"Host": true, "UserKnownHostsFile": true, "GlobalKnownHostsFile": true}

// legacyArgs splits the arguments from offset next with strdelim. They end
// at the first empty token (empty is true then) or unterminated quote; a
// token after an empty one is "garbage at end of line" unless lenient.
func legacyArgs(text string, next int, split, lenient bool) (args []string, empty bool, err error) {
	for next >= 0 {
		tok, after, null := strdelimLegacy(text, next, split)
		switch {
		case null:
			return args, false, nil
		case tok == "":
			if more, _, null := strdelimLegacy(text, after, true); !lenient && !null && more != "" {
				return args, true, fmt.Errorf("garbage at end of line: %q", more)
			}
			return args, true, nil
		}
		args, next = append(args, tok), after
	}
	return args, false, nil
}

// strdelimLegacy is OpenSSH 8.4's strdelim_internal: the token starting at
// i and the offset of the rest (-1 for none, C's NULL). null is true when
// there is no token (i is -1) or its quote is not closed.
func strdelimLegacy(s string, i int, splitEquals bool) (tok string, next int, null bool) {
	if i < 0 {
		return "", -1, true
	}
	delims := whitespace + `"`
	if splitEquals {
		delims += "="
	}
	j := strings.IndexAny(s[i:], delims)
	if j < 0 {
		return s[i:], -1, false
	}
	j += i
	if s[j] == '"' {
		k := strings.IndexByte(s[j+1:], '"')
		if k < 0 {
			return "", -1, true
		}
		k += j + 1
		return s[i:j] + s[j+1:k], skipSet(s, k+1, whitespace), false
	}
	tok = s[i:j]
	next = skipSet(s, j+1, whitespace)
	if splitEquals && s[j] != '=' && next < len(s) && s[next] == '=' {
		next = skipSet(s, next+1, whitespace)
	}
	return tok, next, false
}
