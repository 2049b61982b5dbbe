package files

import (
	"fmt"
	"slices"
	"strings"
)

// EditKind says what an Edit did to a line.
type EditKind uint8

//go:generate go tool stringer -type EditKind -linecomment

const (
	// EditUpdate replaced a directive's value in place.
	EditUpdate EditKind = iota + 1 // update
	// EditInsert added a directive (or a block header) line.
	EditInsert // insert
	// EditRemove deleted a directive line.
	EditRemove // remove
)

// MarshalText returns the kind's word: update, insert or remove.
func (k EditKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Edit is one line-level change made by a Draft's Set or Unset.
type Edit struct {
	Kind EditKind
	// File is the changed file's path; Line the line number the change
	// concerns (after the change for inserts, before it for removals).
	File string
	Line int
	// Before and After are the line's text (without terminator); Before is
	// empty for an insert, After for a removal.
	Before, After string
}

// String renders the edit as "file:line: kind: before -> after".
func (e Edit) String() string {
	return fmt.Sprintf("%s:%d: %s: %q -> %q", e.File, e.Line, e.Kind, e.Before, e.After)
}

// FormatValue renders normal-form arguments as configuration text,
// quoting an argument that is empty or holds whitespace, quotes, a
// backslash, or starts with '#' or '=' (which OpenSSH would read as a
// comment or as the keyword's separator). A raw-line keyword's value is written as is.
func FormatValue(k *Keyword, args []string) string {
	if k.Type == TypeRawLine {
		return strings.Join(args, " ")
	}
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\"'\\") && a[0] != '#' && a[0] != '=' {
			out[i] = a
			continue
		}
		var b strings.Builder
		b.WriteByte('"')
		for j := 0; j < len(a); j++ {
			if a[j] == '"' || a[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(a[j])
		}
		b.WriteByte('"')
		out[i] = b.String()
	}
	return strings.Join(out, " ")
}

// withValue returns the text of directive line l with its value replaced,
// keeping the keyword as written, the indentation, the separator and any
// trailing comment or whitespace.
func (l *Line) withValue(value string) string {
	return l.Text[:l.valStart] + value + l.Text[l.valEnd:]
}

// newLine lexes text as a line of dialect d ending in eol.
func newLine(d Dialect, text, eol string) *Line {
	l := &Line{Text: text, eol: eolOf(eol)}
	_ = lex(l, d) // kept on the line (see Line.Err)
	return l
}

// replaced returns a copy of f whose line i has the text text.
func (f *File) replaced(i int, text string) *File {
	lines := slices.Clone(f.Lines)
	lines[i] = newLine(f.Dialect, text, f.Lines[i].EOL())
	return &File{Path: f.Path, Dialect: f.Dialect, Lines: lines}
}

// removed returns a copy of f without line i.
func (f *File) removed(i int) *File {
	lines := slices.Delete(slices.Clone(f.Lines), i, i+1)
	return &File{Path: f.Path, Dialect: f.Dialect, Lines: lines}
}

// copied returns a copy of f with room for n more lines, for a change to
// edit in place before any configuration holds it.
func (f *File) copied(n int) *File {
	lines := populated[*Line](len(f.Lines), len(f.Lines)+n)
	copy(lines, f.Lines)
	return &File{Path: f.Path, Dialect: f.Dialect, Lines: lines}
}

// insert adds a new line holding text before the line at index i
// (len(f.Lines) appends), ending it with eol (the file's, see EOL); f must
// be a copy no configuration holds yet. Appending to a file whose last
// line has no terminator keeps it so: the old last line gets one and the
// new one goes without.
func (f *File) insert(i int, text, eol string) {
	if i > 0 && i == len(f.Lines) && f.Lines[i-1].eol == eolNone {
		prev := *f.Lines[i-1]
		prev.eol, eol = eolOf(eol), ""
		f.Lines[i-1] = &prev
	}
	f.Lines = slices.Insert(f.Lines, i, newLine(f.Dialect, text, eol))
}

// isHeader reports whether l opens a Host or Match block.
func isHeader(l *Line) bool {
	if l.Kind != Directive || l.flags&lexBad != 0 {
		return false
	}
	kw := l.Keyword()
	return strings.EqualFold(kw, "match") || strings.EqualFold(kw, "host")
}

// GlobalEnd returns the index at which a directive inserted into the
// file's global section takes effect: just after the last directive that
// precedes the first Host/Match line, else just before that line (and the
// comment lines directly above it), else the end of the file.
func (f *File) GlobalEnd() int {
	first := len(f.Lines)
	for i, l := range f.Lines {
		if isHeader(l) {
			first = i
			break
		}
	}
	for i := first - 1; i >= 0; i-- {
		if f.Lines[i].Kind == Directive {
			return i + 1
		}
	}
	if first == len(f.Lines) {
		return first
	}
	i := first
	for i > 0 && f.Lines[i-1].Kind == Comment {
		i--
	}
	return i
}

// blockEnd returns the index just past the last directive of the block
// whose header is at index h.
func (f *File) blockEnd(h int) int {
	end := h + 1
	for i := h + 1; i < len(f.Lines) && !isHeader(f.Lines[i]); i++ {
		if f.Lines[i].Kind == Directive {
			end = i + 1
		}
	}
	return end
}

// indentOf returns the indentation used by the block whose header is at
// index h (its first directive's), or by the file's blocks, or a tab.
func (f *File) indentOf(h int) string {
	lead := func(l *Line) string { return l.Text[:len(l.Text)-len(strings.TrimLeft(l.Text, " \t"))] }
	for i := h + 1; i < len(f.Lines) && !isHeader(f.Lines[i]); i++ {
		if f.Lines[i].Kind == Directive {
			return lead(f.Lines[i])
		}
	}
	inBlock := false
	for _, l := range f.Lines {
		if isHeader(l) {
			inBlock = true
		} else if inBlock && l.Kind == Directive && lead(l) != "" {
			return lead(l)
		}
	}
	return "\t"
}

// Scope says where a setting applies: the global section, one Match block
// (by its criteria text) or one Host block (by its pattern list).
type Scope struct {
	// Match is the criteria of an sshd or ssh Match block, as written
	// after the keyword (e.g. "User backup").
	Match string
	// Host is the pattern list of an ssh Host block (e.g. "examplehost").
	Host string
}

// Global reports whether s is the global section.
func (s Scope) Global() bool { return s.Match == "" && s.Host == "" }

// String returns "global", "Match CRITERIA" or "Host PATTERNS".
func (s Scope) String() string {
	switch {
	case s.Match != "":
		return "Match " + s.Match
	case s.Host != "":
		return "Host " + s.Host
	}
	return "global"
}

// Conflict is returned when a value cannot take effect without changing
// what other hosts or connections get: Winner decides instead.
type Conflict struct {
	Keyword string
	Scope   Scope
	Winner  Pos
	Reason  string
}

// Error names the keyword, the scope and the winning directive.
func (c *Conflict) Error() string {
	if c.Winner.File == "" {
		return fmt.Sprintf("%s for %s cannot take effect: %s", c.Keyword, c.Scope, c.Reason)
	}
	return fmt.Sprintf("%s for %s cannot take effect: %s wins (%s)", c.Keyword, c.Scope, c.Winner, c.Reason)
}
