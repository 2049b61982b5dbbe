// Package reconcile compares a desired state (pkg/desired) with the
// OpenSSH configuration on disk (pkg/files) and produces a Plan: plain data
// saying, per desired key, what OpenSSH uses now, where that comes from, and
// the exact edit that would bring it in line. The audit (--check) prints a
// plan; apply executes exactly a plan and nothing else.
package reconcile

import (
	"github.com/sshconverge/agent/pkg/files"
)

// Action is what a plan does for one desired key.
type Action string

// The actions.
const (
	// None: the effective value already is the desired one.
	None Action = "none"
	// Update: an existing directive's value is changed in place.
	Update Action = "update"
	// Insert: a directive (and perhaps its block header) is added.
	Insert Action = "insert"
	// Remove: directives are deleted (an absent keyword is set).
	Remove Action = "remove"
	// Conflict: the desired value cannot take effect without changing what
	// other connections or hosts get; nothing is changed for this key.
	Conflict Action = "conflict"
)

// Change is the plan for one desired key.
type Change struct {
	// Side is "sshd" or "ssh".
	Side string
	// Scope is the global section, a Match block or a Host block.
	Scope files.Scope
	// Keyword is the canonical keyword.
	Keyword string
	// Absent is true when the key must not be set (Desired is then nil).
	Absent bool
	// Desired is the desired value in normal form (see files.Normalize);
	// the edits write it as the desired state spells it.
	Desired []string
	// Effective is the value OpenSSH uses now, in normal form; nil when
	// nothing sets it (OpenSSH's default applies).
	Effective []string
	// Origin is the file:line the effective value comes from ("" when
	// unset).
	Origin string
	// Default is true when nothing sets the key and Effective is
	// OpenSSH's default.
	Default bool
	// Action says what the plan does.
	Action Action
	// Edits are the exact line changes, in order (none for None and
	// Conflict).
	Edits []files.Edit
	// Reason explains a conflict: which directive wins and how to fix it.
	Reason string
	// Source is where the key is declared in the desired-state file.
	Source files.Pos
}

// FileChange is the new content of one configuration file.
type FileChange struct {
	// Side is "sshd" or "ssh".
	Side string
	// Path is the file's configuration path (e.g. /etc/ssh/sshd_config).
	Path string
	// Before is the content read from disk; nil for a new file.
	Before []byte
	// After is the content the plan writes.
	After []byte
	// Like is the configuration path whose mode, owner and SELinux label a
	// new file copies (the side's main file).
	Like string
}

// Plan is the complete result of comparing desired and observed state.
type Plan struct {
	// Changes holds one entry per desired key, in desired-file order.
	Changes []Change
	// Files are the files whose content changes, in reading order.
	Files []FileChange
	// PidFile is the sshd PidFile the server configuration names (its
	// default when unset; "" when the plan has no sshd side).
	PidFile string
}

// Summary counts the plan's changes: ok (no action), changed (update,
// insert or remove) and conflict.
func (p *Plan) Summary() (ok, changed, conflict int) {
	for _, c := range p.Changes {
		switch c.Action {
		case None:
			ok++
		case Conflict:
			conflict++
		default:
			changed++
		}
	}
	return ok, changed, conflict
}

// InSync reports whether nothing needs to change and nothing conflicts.
func (p *Plan) InSync() bool {
	_, changed, conflict := p.Summary()
	return changed == 0 && conflict == 0
}
