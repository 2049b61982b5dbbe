package files

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a position in a file. Line 0 means the whole file; Col 0 means
// the whole line.
type Pos struct {
	File      string
	Line, Col int
}

// String returns "file:line:col", "file:line" or "file".
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one positioned problem in a configuration file.
type Error struct {
	Pos Pos
	Msg string

	more int // > 0: the summary of this many errors not kept
}

// Error returns "file:line: message".
func (e *Error) Error() string {
	switch {
	case e.more == 1:
		return "… and 1 more error"
	case e.more > 1:
		return fmt.Sprintf("… and %d more errors", e.more)
	case e.Pos.File == "":
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// MaxErrors is how many errors an ErrorList keeps; later ones are only
// counted, in a last line "… and N more errors", so that hostile input
// costs bounded time and memory.
const MaxErrors = 100

// ErrorList collects positioned errors so that one run reports them all,
// in the manner of go/scanner.ErrorList, up to MaxErrors.
type ErrorList []*Error

// Add appends an error at pos, or counts it when the list is full.
func (l *ErrorList) Add(pos Pos, msg string) {
	switch n := len(*l); {
	case n < MaxErrors:
		*l = append(*l, &Error{Pos: pos, Msg: msg})
	case n == MaxErrors:
		*l = append(*l, &Error{more: 1})
	default:
		(*l)[n-1].more++
	}
}

// count returns how many errors were added, those only counted included.
func (l ErrorList) count() int {
	if n := len(l); n > MaxErrors {
		return MaxErrors + l[n-1].more
	}
	return len(l)
}

// Full reports whether the list keeps no more errors (so that a caller
// can skip the work of describing them, e.g. spelling suggestions).
func (l ErrorList) Full() bool { return len(l) >= MaxErrors }

// Addf appends a formatted error at pos.
func (l *ErrorList) Addf(pos Pos, format string, args ...any) {
	l.Add(pos, fmt.Sprintf(format, args...))
}

// Sort orders the list by file, line and column; equal positions keep
// their order.
func (l ErrorList) Sort() {
	if len(l) > MaxErrors {
		l = l[:MaxErrors] // the summary stays last
	}
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
}

// Error joins the messages, one per line.
func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Err returns the list as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// prefixed is an error whose message has a prefix on every line.
type prefixed struct {
	prefix string
	err    error
}

// Prefix returns err with prefix in front of every line of its message
// (an ErrorList prints one position per line, so each keeps its context);
// errors.Is and errors.As see err. It returns nil for a nil err.
func Prefix(prefix string, err error) error {
	if err == nil {
		return nil
	}
	return &prefixed{prefix, err}
}

// Error returns the message with the prefix on every line.
func (p *prefixed) Error() string {
	lines := strings.Split(p.err.Error(), "\n")
	for i, l := range lines {
		lines[i] = p.prefix + l
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the error without its prefix.
func (p *prefixed) Unwrap() error { return p.err }
