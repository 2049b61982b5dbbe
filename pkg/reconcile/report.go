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
		b.WriteString(udiff.Unified(from, "b"+name, f.Before, string(f.After())))
	}
	return b.String()
}
