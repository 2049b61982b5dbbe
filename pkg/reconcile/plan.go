// Package reconcile compares a desired state (pkg/desired) with the
// OpenSSH configuration on disk (pkg/files) and produces a Plan: plain data
// saying, per desired key, what OpenSSH uses now, where that comes from, and
// the exact edit that would bring it in line. The audit (--check) prints a
// plan; Apply executes exactly a plan and nothing else, through a System
// (the files and the sshd that reads them).
package reconcile

import (
	"time"

	"github.com/sshconverge/agent/pkg/files"
)

//go:generate go tool stringer -type Side,Action,Status,ReloadMode,ReloadOutcome,Verified -linecomment -output enums_string.go

// Side is one of the two configurations a desired state names.
type Side uint8

// The sides.
const (
	// Server is sshd's configuration.
	Server Side = iota + 1 // sshd
	// Client is ssh's system-wide configuration.
	Client // ssh
)

// MarshalText returns "sshd" or "ssh".
func (s Side) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// sideOf returns the side that edits configurations of dialect d.
func sideOf(d files.Dialect) Side {
	if d == files.Server {
		return Server
	}
	return Client
}

// Action is what a plan does for one desired key.
type Action uint8

// The actions.
const (
	// NoOp: no edit for this key (it is in sync, or another change
	// brings it in line).
	NoOp Action = iota // none
	// Update: an existing directive's value is changed in place.
	Update // update
	// Insert: a directive (and perhaps its block header) is added.
	Insert // insert
	// Remove: directives are deleted (an absent keyword is set).
	Remove // remove
	// Conflict: the desired value cannot take effect without changing what
	// other connections or hosts get; nothing is changed for this key.
	Conflict // conflict
)

// MarshalText returns the action's word: none, update, insert, remove or
// conflict.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Status is what a change means to the audit.
type Status uint8

// The statuses.
const (
	// InSync: the configuration on disk already has the desired value.
	InSync Status = iota // ok
	// Changed: the plan brings the key in line (by its own edits or by
	// another key's).
	Changed // changed
	// Conflicted: the desired value cannot take effect; see Reason.
	Conflicted // conflict
	// Mismatched: the files have the value, but the running sshd uses
	// another (see Change.Daemon and Reason).
	Mismatched // mismatch
	// Failed: the change was planned but the run failed before it was
	// made (or it was undone).
	Failed // failed
)

// MarshalText returns ok, changed or conflict.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Change is the plan for one desired key.
type Change struct {
	// Side is the configuration the key belongs to.
	Side Side
	// Scope is the global section, a Match block or a Host block.
	Scope files.Scope
	// Keyword is the canonical keyword.
	Keyword string
	// Absent is true when the key must not be set (Desired is then nil).
	Absent bool
	// Everywhere is true for a Match block's override of a global key
	// that must hold for every connection: the override is removed.
	Everywhere bool
	// Desired is the desired value in normal form (see files.Normalize);
	// the edits write it as the desired state spells it.
	Desired []string
	// Effective is the value OpenSSH uses now, in normal form; nil when
	// nothing sets it and its default is not known.
	Effective []string
	// Origin is the file:line the effective value comes from ("" when
	// unset).
	Origin string
	// Default is true when nothing sets the key and Effective is
	// OpenSSH's default.
	Default bool
	// Status says whether the key is in sync, changed or in conflict.
	Status Status
	// Action says what the plan does for this key itself.
	Action Action
	// Edits are the exact line changes, in order (none for NoOp and
	// Conflict).
	Edits []files.Edit
	// Reason explains a conflict (which directive wins and how to fix
	// it), or a change made by another key's edits.
	Reason string
	// Note says where the value was set when the line that decides it
	// sits in a file another owner has (left as it is).
	Note string
	// Source is where the key is declared in the desired-state file.
	Source files.Pos
	// Verified says how the value was confirmed (see VerifyDaemon);
	// Daemon is the running sshd's value when it differs.
	Verified Verified
	Daemon   []string
	// Overrides are the Match blocks that set a global sshd key for the
	// connections they select (whatever the global value says).
	Overrides []Override
}

// Override is a Match block that sets a global key for the connections it
// selects.
type Override struct {
	// Criteria is the block's criteria as written after Match.
	Criteria string `json:"criteria"`
	// Origin is the directive's file:line; Value its value in normal form.
	Origin string   `json:"origin"`
	Value  []string `json:"value"`
	// Differs is true when the value is not the desired global one;
	// Desired when the desired state sets it for that block itself.
	Differs bool `json:"differs"`
	Desired bool `json:"desired,omitempty"`
}

// FileChange is the new content of one configuration file.
type FileChange struct {
	files.FileChange
	// Side is the configuration the file belongs to.
	Side Side
	// Like is the configuration path whose mode, owner and SELinux label a
	// new file copies (the side's main file).
	Like string
	// Target is the file written: Path with its symbolic links resolved
	// inside the root (the link itself stays).
	Target string
}

// Plan is the complete result of comparing desired and observed state.
type Plan struct {
	// Changes holds one entry per desired key, in desired-file order.
	Changes []Change
	// Files are the files whose content changes, in reading order.
	Files []FileChange
	// Version is the OpenSSH release the plan was made for.
	Version files.Version
	// ServerConfig and ClientConfig are the main files of the sshd and the
	// ssh configuration ("" for a side the desired state does not have).
	ServerConfig, ClientConfig string
	// PidFile is the sshd PidFile the server configuration names (its
	// default when unset).
	PidFile string
	// HostKeys are the host key files the server configuration names (or
	// OpenSSH's defaults).
	HostKeys []string
	// Dirs are the directories of every configuration file read, where
	// the agent's temp files may be.
	Dirs []string
	// ServerDigest is the digest of the sshd configuration's files as
	// read from disk (see files.Config.DiskDigest); "" without an sshd side.
	ServerDigest string
	// ServerFilesChanged is when those files, or the directories their
	// Includes listed, last changed (see files.Config.Changed).
	ServerFilesChanged time.Time
}

// Summary counts changes by status.
type Summary struct {
	OK       int `json:"ok"`
	Changed  int `json:"changed"`
	Conflict int `json:"conflict"`
	Mismatch int `json:"mismatch"`
	Failed   int `json:"failed"`
}

// Summary counts the plan's changes by status.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Status {
		case InSync:
			s.OK++
		case Changed:
			s.Changed++
		case Conflicted:
			s.Conflict++
		case Mismatched:
			s.Mismatch++
		case Failed:
			s.Failed++
		}
	}
	return s
}

// InSync reports whether nothing needs to change, nothing conflicts,
// nothing failed, and no running sshd uses another value than the files.
func (p *Plan) InSync() bool {
	s := p.Summary()
	return s.Changed == 0 && s.Conflict == 0 && s.Mismatch == 0 && s.Failed == 0
}

// MarkFailed records that the run failed before making its changes: each
// change becomes Failed.
func (p *Plan) MarkFailed() {
	for i := range p.Changes {
		if p.Changes[i].Status == Changed {
			p.Changes[i].Status = Failed
		}
	}
}

// Mismatches returns the changes whose value the running sshd does not
// use.
func (p *Plan) Mismatches() []*Change {
	var out []*Change
	for i := range p.Changes {
		if p.Changes[i].Status == Mismatched {
			out = append(out, &p.Changes[i])
		}
	}
	return out
}

// ListenChanged reports whether the plan changes sshd's Port or
// ListenAddress (a socket-activated sshd then needs its socket restarted).
func (p *Plan) ListenChanged() bool {
	for _, c := range p.Changes {
		if c.Side == Server && c.Status == Changed && (c.Keyword == "Port" || c.Keyword == "ListenAddress") {
			return true
		}
	}
	return false
}

// ServerChanged reports whether the plan writes a file of sshd's
// configuration.
func (p *Plan) ServerChanged() bool {
	for _, f := range p.Files {
		if f.Side == Server {
			return true
		}
	}
	return false
}
