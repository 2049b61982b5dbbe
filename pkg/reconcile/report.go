package reconcile

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	udiff "github.com/aymanbagabas/go-udiff"
)

func valueText(args []string) string {
	if args == nil {
		return "(unset)"
	}
	return strings.Join(args, " ")
}

// effectiveText is the effective value, marked when it is the default.
func (c Change) effectiveText() string {
	if c.Default {
		return valueText(c.Effective) + " (default)"
	}
	return valueText(c.Effective)
}

// detail is the text report's last column: the value in sync and where it
// comes from, or the change and how it is made.
func (c Change) detail() string {
	want := valueText(c.Desired)
	if c.Absent {
		want = "(absent)"
	}
	switch {
	case c.Status == InSync && len(c.Edits) > 0:
		e := c.Edits[0]
		return fmt.Sprintf("%s  (%s: %s %s:%d)", c.effectiveText(), c.Reason, c.Action, e.File, e.Line)
	case c.Status == InSync:
		if c.Origin != "" {
			return c.effectiveText() + "  (" + c.Origin + ")"
		}
		return c.effectiveText()
	case c.Status == Conflicted:
		return fmt.Sprintf("%s -> %s: %s", c.effectiveText(), want, c.Reason)
	case len(c.Edits) == 0:
		return fmt.Sprintf("%s -> %s  (%s)", c.effectiveText(), want, c.Reason)
	}
	e := c.Edits[0]
	return fmt.Sprintf("%s -> %s  (%s %s:%d)", c.effectiveText(), want, c.Action, e.File, e.Line)
}

// WriteText writes one line per change and the summary line
// "ok=N changed=N conflict=N" (with mismatch=N and failed=N when not 0).
func (p *Plan) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	for _, c := range p.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Status, c.Side, c.Scope, c.Keyword, c.detail())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range p.Changes {
		if c.Note != "" {
			fmt.Fprintf(w, "note: %s %s %s: %s\n", c.Side, c.Scope, c.Keyword, c.Note)
		}
		for _, o := range c.Overrides {
			if o.Differs && !o.Desired {
				fmt.Fprintf(w, "warning: %s %s %s is %s for connections matching %q (%s)\n", c.Side, c.Scope, c.Keyword, valueText(o.Value), o.Criteria, o.Origin)
			}
		}
	}
	s := p.Summary()
	line := fmt.Sprintf("ok=%d changed=%d conflict=%d", s.OK, s.Changed, s.Conflict)
	if s.Mismatch > 0 {
		line += fmt.Sprintf(" mismatch=%d", s.Mismatch)
	}
	if s.Failed > 0 {
		line += fmt.Sprintf(" failed=%d", s.Failed)
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

// Diff returns a unified diff (a/PATH, b/PATH) of every file change.
func (p *Plan) Diff() string {
	var b strings.Builder
	for _, f := range p.Files {
		name := f.Path
		if f.Target != "" {
			name = f.Target // the file written, not a link to it
		}
		from := "a" + name
		if f.New {
			from = "/dev/null"
		}
		b.WriteString(unified(from, "b"+name, f.Before, f.After()))
	}
	return b.String()
}

// unified is udiff.Unified(from, to, old, new) computed on the lines that
// differ, not on the whole files, and rendered with the files' own lines
// as context: an edit of a 12.8 MB file is diffed in microseconds instead
// of a fifth of a second and 200 MB. The hunks are the whole-file diff's,
// except that where a run of equal lines leaves a choice (which of three
// blank lines went) the two may choose differently (TestUnifiedWindow).
func unified(from, to, old string, new []byte) string {
	const context = udiff.DefaultContextLines
	p, eo, en := changedLines(old, new)
	edits := udiff.Lines(old[p:eo], string(new[p:en]))
	if len(edits) == 0 {
		return ""
	}
	// Render only the lines the hunks show: the edits and their context.
	start := linesBack(old, p+edits[0].Start, context)
	end := linesOn(old, p+edits[len(edits)-1].End, context)
	for i := range edits {
		edits[i].Start += p - start
		edits[i].End += p - start
	}
	u, err := udiff.ToUnifiedDiff(from, to, old[start:end], edits, context)
	if err != nil {
		return udiff.Unified(from, to, old, string(new)) // cannot happen: the edits are udiff's own
	}
	skipped := strings.Count(old[:start], "\n") // the same lines in both
	for _, h := range u.Hunks {
		h.FromLine += skipped
		h.ToLine += skipped
	}
	return u.String()
}

// changedLines returns the lines that differ: old[p:eo] became new[p:en],
// where p, eo and en are line starts and what lies around is common.
func changedLines(old string, new []byte) (p, eo, en int) {
	for p < len(old) && p < len(new) && old[p] == new[p] {
		p++
	}
	p = strings.LastIndexByte(old[:p], '\n') + 1 // the same line start in both
	s := 0
	for s < len(old)-p && s < len(new)-p && old[len(old)-1-s] == new[len(new)-1-s] {
		s++
	}
	eo, en = len(old)-s, len(new)-s
	if (eo > 0 && old[eo-1] != '\n') || (en > 0 && new[en-1] != '\n') {
		// Not a line start in both: the common part starts after its first
		// newline, if it has one (the same bytes follow in both).
		next := linesOn(old, eo, 1)
		eo, en = next, en+next-eo
	}
	return p, eo, en
}

// linesBack returns the start of the line n lines before the one that
// starts at i (the text's start if there are fewer).
func linesBack(text string, i, n int) int {
	for ; n > 0 && i > 0; n-- {
		i = strings.LastIndexByte(text[:i-1], '\n') + 1
	}
	return i
}

// linesOn returns the position just past the nth newline from i (the
// text's end if there are fewer): from a line start, the end of n lines.
func linesOn(text string, i, n int) int {
	for ; n > 0 && i < len(text); n-- {
		j := strings.IndexByte(text[i:], '\n')
		if j < 0 {
			return len(text)
		}
		i += j + 1
	}
	return i
}
