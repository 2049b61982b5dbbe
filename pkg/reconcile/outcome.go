package reconcile

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sshconverge/agent/pkg/files"
)

// ReportSchemaVersion is the version of the JSON report's schema
// (docs/report.schema.json); it changes only when a field changes meaning
// or goes away.
const ReportSchemaVersion = 1

// Outcome is what one run did: its plan (nil when it failed before
// planning), what an apply did, the sshd it found, and its error.
type Outcome struct {
	// Check is true for --check, false for an apply.
	Check bool
	Plan  *Plan
	// Apply is what an apply did (zero in check mode).
	Apply ApplyResult
	// SSHD is the sshd the run found (nil without an sshd side).
	SSHD *SSHD
	// Pending is true when a reload is due after the run.
	Pending bool
	// OpenSSH is the version of the OpenSSH configured ("" unknown).
	OpenSSH string
	// Err is the run's error.
	Err error
}

// Mode is "check" or "apply".
func (o Outcome) Mode() string {
	if o.Check {
		return "check"
	}
	return "apply"
}

// InSync reports whether, after the run, the configuration is what the
// desired state asks and the running sshd uses it: for --check the plan
// must need nothing; an apply must have succeeded with nothing in
// conflict or mismatched.
func (o Outcome) InSync() bool {
	switch {
	case o.Err != nil || o.Plan == nil:
		return false
	case o.Check:
		return o.Plan.InSync() && !o.Pending
	}
	s := o.Plan.Summary()
	return s.Conflict == 0 && s.Mismatch == 0 && s.Failed == 0 && !o.Pending
}

// Report is the JSON document one run prints (--format json); its schema
// is docs/report.schema.json.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Host          string    `json:"host"`
	Time          time.Time `json:"time"`
	Mode          string    `json:"mode"`
	Root          string    `json:"root"`
	Desired       string    `json:"desired"`
	// OpenSSH is the version of the OpenSSH the run configured, from its
	// sshd -V (or --openssh-version); "" when unknown.
	OpenSSH string `json:"openssh_version,omitempty"`
	InSync  bool   `json:"in_sync"`
	// ReloadPending is true when sshd's configuration changed and sshd
	// has not read it since.
	ReloadPending bool           `json:"reload_pending"`
	Summary       Summary        `json:"summary"`
	Results       []ReportResult `json:"results"`
	// Written and Restored are the files an apply wrote, and those it
	// put back after a failure.
	Written  []string `json:"written,omitempty"`
	Restored []string `json:"restored,omitempty"`
	// SSHD is the running sshd the run found, and what its reload did.
	SSHD  *ReportSSHD  `json:"sshd,omitempty"`
	Error *ReportError `json:"error,omitempty"`
	Diff  string       `json:"diff,omitempty"`
}

// ReportResult is one desired key in a Report.
type ReportResult struct {
	Side       Side         `json:"side"`
	Scope      string       `json:"scope"`
	Keyword    string       `json:"keyword"`
	Desired    []string     `json:"desired"`
	Absent     bool         `json:"absent,omitempty"`
	Effective  []string     `json:"effective"`
	Origin     string       `json:"origin,omitempty"`
	Default    bool         `json:"default,omitempty"`
	Status     Status       `json:"status"`
	Action     Action       `json:"action"`
	Edits      []ReportEdit `json:"edits,omitempty"`
	Reason     string       `json:"reason,omitempty"`
	Note       string       `json:"note,omitempty"`
	Source     string       `json:"source"`
	Verified   Verified     `json:"verified"`
	Daemon     []string     `json:"daemon,omitempty"`
	Everywhere bool         `json:"everywhere,omitempty"`
	Overrides  []Override   `json:"overrides,omitempty"`
}

// ReportEdit is one line change in a Report.
type ReportEdit struct {
	File   string         `json:"file"`
	Line   int            `json:"line"`
	Kind   files.EditKind `json:"kind"`
	Before string         `json:"before,omitempty"`
	After  string         `json:"after,omitempty"`
}

// ReportSSHD is the running sshd in a Report.
type ReportSSHD struct {
	PID    int           `json:"pid,omitempty"`
	Exe    string        `json:"exe,omitempty"`
	Args   []string      `json:"args,omitempty"`
	Found  string        `json:"found,omitempty"`
	Mode   ReloadMode    `json:"reload_mode"`
	Reload ReloadOutcome `json:"reload,omitempty"`
	// Did says what the reload did, in words (e.g. a socket restart).
	Did string `json:"did,omitempty"`
}

// ReportError is a failed run's error: its message, and the positioned
// errors it holds (a bad desired file, a bad configuration).
type ReportError struct {
	Message string           `json:"message"`
	Errors  []ReportPosition `json:"errors,omitempty"`
}

// ReportPosition is one positioned error.
type ReportPosition struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
}

// Report returns the run as a JSON-ready document; the diff is included
// when withDiff is set.
func (o Outcome) Report(host, root, desiredFile string, now time.Time, withDiff bool) Report {
	r := Report{SchemaVersion: ReportSchemaVersion, Host: host, Time: now.UTC(), Mode: o.Mode(), Root: root,
		Desired: desiredFile, OpenSSH: o.OpenSSH, InSync: o.InSync(), ReloadPending: o.Pending, Results: []ReportResult{},
		Written: o.Apply.Written, SSHD: o.reportSSHD(), Error: reportError(o.Err)}
	if o.Apply.Restored {
		r.Restored = o.Apply.Written
	}
	if o.Plan == nil {
		return r
	}
	r.Summary = o.Plan.Summary()
	for _, c := range o.Plan.Changes {
		r.Results = append(r.Results, c.result())
	}
	if withDiff {
		r.Diff = o.Plan.Diff()
	}
	return r
}

func (c Change) result() ReportResult {
	rr := ReportResult{Side: c.Side, Scope: c.Scope.String(), Keyword: c.Keyword, Desired: c.Desired, Absent: c.Absent,
		Effective: c.Effective, Origin: c.Origin, Default: c.Default, Status: c.Status, Action: c.Action, Reason: c.Reason, Note: c.Note,
		Source: c.Source.String(), Verified: c.Verified, Daemon: c.Daemon, Everywhere: c.Everywhere, Overrides: c.Overrides}
	for _, e := range c.Edits {
		rr.Edits = append(rr.Edits, ReportEdit{File: e.File, Line: e.Line, Kind: e.Kind, Before: e.Before, After: e.After})
	}
	return rr
}

func (o Outcome) reportSSHD() *ReportSSHD {
	if o.SSHD == nil {
		return nil
	}
	r := &ReportSSHD{Mode: o.SSHD.Mode, Reload: o.Apply.Reload, Found: o.SSHD.Found, Did: o.SSHD.Did}
	if l := o.SSHD.Listener; l != nil {
		r.PID, r.Exe, r.Args = l.PID, l.Exe, l.Args
	}
	return r
}

func reportError(err error) *ReportError {
	if err == nil {
		return nil
	}
	r := &ReportError{Message: err.Error()}
	var list files.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			r.Errors = append(r.Errors, ReportPosition{File: e.Pos.File, Line: e.Pos.Line, Col: e.Pos.Col, Message: e.Msg})
		}
	}
	return r
}

// WriteText writes the text report: the diff when asked, whether a reload
// is pending, the plan's lines and summary, and after an apply what was
// restored and what sshd did.
func (o Outcome) WriteText(w io.Writer, withDiff bool) error {
	var b strings.Builder
	if o.Plan != nil && withDiff {
		b.WriteString(o.Plan.Diff())
	}
	if o.Pending {
		b.WriteString("reload pending: the sshd configuration changed and sshd has not read it since\n")
	}
	if o.Plan != nil {
		if err := o.Plan.WriteText(&b); err != nil {
			return err
		}
	}
	if o.Apply.Restored {
		for _, p := range o.Apply.Written {
			fmt.Fprintf(&b, "restored: %s\n", p)
		}
	}
	if line := o.sshdLine(); line != "" {
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sshdLine says what the run did to sshd, when an apply touched it.
func (o Outcome) sshdLine() string {
	if o.Check || o.SSHD == nil || o.Apply.Reload == 0 {
		return ""
	}
	line := fmt.Sprintf("sshd: %s", o.Apply.Reload)
	if l := o.SSHD.Listener; l != nil {
		line += fmt.Sprintf(" (pid %d, found through %s)", l.PID, o.SSHD.Found)
	}
	if o.SSHD.Did != "" {
		line += ": " + o.SSHD.Did
	}
	return line
}
