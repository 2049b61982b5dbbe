package files

import (
	"fmt"
	"slices"
	"strings"
)

// FormatValue renders normal-form arguments as configuration text,
// quoting an argument that is empty or holds whitespace, quotes, a
// backslash or a leading '#'. A raw-line keyword's value is written as is.
func FormatValue(k *Keyword, args []string) string {
	if k.Type == TypeRawLine {
		return strings.Join(args, " ")
	}
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\"'\\") && a[0] != '#' {
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

// SetValue replaces the value of a directive line in place, keeping the
// keyword as written, the indentation, the separator and any trailing
// comment or whitespace.
func (f *File) SetValue(l *Line, value string) {
	l.Text = l.Text[:l.valStart] + value + l.Text[l.valEnd:]
	l.lex(f.Dialect)
}

// Remove deletes line l from the file.
func (f *File) Remove(l *Line) {
	if i := slices.Index(f.Lines, l); i >= 0 {
		f.Lines = slices.Delete(f.Lines, i, i+1)
		f.renumber()
	}
}

// Insert inserts a new line with text before the line at index i
// (len(f.Lines) appends), ending it as the file's lines end, and returns
// it. Appending to a file whose last line has no terminator keeps it so:
// the old last line gets one and the new one goes without.
func (f *File) Insert(i int, text string) *Line {
	eol := f.EOL()
	if i > 0 && i == len(f.Lines) && f.Lines[i-1].EOL == "" {
		f.Lines[i-1].EOL, eol = eol, ""
	}
	l := &Line{Text: text, EOL: eol}
	l.lex(f.Dialect)
	f.Lines = slices.Insert(f.Lines, i, l)
	f.renumber()
	return l
}

func (f *File) renumber() {
	for i, l := range f.Lines {
		l.Num = i + 1
	}
}

// isHeader reports whether l opens a Host or Match block.
func isHeader(l *Line) bool {
	return l.Kind == Directive && l.Err == nil && (strings.EqualFold(l.Keyword, "match") || strings.EqualFold(l.Keyword, "host"))
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
