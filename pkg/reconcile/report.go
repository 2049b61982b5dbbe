package reconcile

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

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
// "ok=N changed=N conflict=N".
func (p *Plan) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	for _, c := range p.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Status, c.Side, c.Scope, c.Keyword, c.detail())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	ok, changed, conflict := p.Summary()
	_, err := fmt.Fprintf(w, "ok=%d changed=%d conflict=%d\n", ok, changed, conflict)
	return err
}

// Diff returns a unified diff (a/PATH, b/PATH) of every file change.
func (p *Plan) Diff() string {
	var b strings.Builder
	for _, f := range p.Files {
		from := "a" + f.Path
		if f.Before == nil {
			from = "/dev/null"
		}
		b.WriteString(udiff.Unified(from, "b"+f.Path, string(f.Before), string(f.After)))
	}
	return b.String()
}

// Report is the JSON document one run prints (--format json).
type Report struct {
	Host    string    `json:"host"`
	Time    time.Time `json:"time"`
	Mode    string    `json:"mode"`
	Root    string    `json:"root"`
	Desired string    `json:"desired"`
	InSync  bool      `json:"in_sync"`
	// ReloadPending is true when an earlier run changed the sshd
	// configuration and did not get to reload sshd.
	ReloadPending bool           `json:"reload_pending"`
	Summary       ReportSummary  `json:"summary"`
	Results       []ReportResult `json:"results"`
	Diff          string         `json:"diff,omitempty"`
}

// ReportSummary counts the results by status.
type ReportSummary struct {
	OK       int `json:"ok"`
	Changed  int `json:"changed"`
	Conflict int `json:"conflict"`
}

// ReportResult is one desired key in a Report.
type ReportResult struct {
	Side      Side         `json:"side"`
	Scope     string       `json:"scope"`
	Keyword   string       `json:"keyword"`
	Desired   []string     `json:"desired"`
	Absent    bool         `json:"absent,omitempty"`
	Effective []string     `json:"effective"`
	Origin    string       `json:"origin,omitempty"`
	Default   bool         `json:"default,omitempty"`
	Status    Status       `json:"status"`
	Action    Action       `json:"action"`
	Edits     []ReportEdit `json:"edits,omitempty"`
	Reason    string       `json:"reason,omitempty"`
	Source    string       `json:"source"`
}

// ReportEdit is one line change in a Report.
type ReportEdit struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Kind   string `json:"kind"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// Report returns the plan as a JSON-ready document; diff is included when
// withDiff is set.
func (p *Plan) Report(host, mode, root, desiredFile string, now time.Time, withDiff bool) Report {
	ok, changed, conflict := p.Summary()
	r := Report{Host: host, Time: now.UTC(), Mode: mode, Root: root, Desired: desiredFile, InSync: p.InSync(),
		Summary: ReportSummary{ok, changed, conflict}, Results: []ReportResult{}}
	for _, c := range p.Changes {
		rr := ReportResult{Side: c.Side, Scope: c.Scope.String(), Keyword: c.Keyword, Desired: c.Desired, Absent: c.Absent,
			Effective: c.Effective, Origin: c.Origin, Default: c.Default, Status: c.Status, Action: c.Action, Reason: c.Reason, Source: c.Source.String()}
		for _, e := range c.Edits {
			rr.Edits = append(rr.Edits, ReportEdit{File: e.File, Line: e.Line, Kind: e.Kind.String(), Before: e.Before, After: e.After})
		}
		r.Results = append(r.Results, rr)
	}
	if withDiff {
		r.Diff = p.Diff()
	}
	return r
}
