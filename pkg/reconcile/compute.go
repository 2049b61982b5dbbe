package reconcile

import (
	"errors"
	"fmt"
	"slices"

	"github.com/rs/zerolog"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/files"
)

// DropInName is the agent's own drop-in file, created in the main file's
// drop-in directory; "00-" makes it sort first.
const DropInName = "00-sshconverge.conf"

// DropInHeader is the first line of a drop-in the agent creates.
const DropInHeader = "# Managed by sshconverge: settings here implement the desired state; edit that instead."

// Options configure Compute.
type Options struct {
	// Root is the filesystem root every path resolves under.
	Root *files.Root
	// LocalUsers are the local accounts an ssh value must take effect for
	// (nil: files' default, root and one other).
	LocalUsers []string
	// Log receives one debug event per key and a warning per configuration
	// warning.
	Log zerolog.Logger
}

// Compute reads the configuration each side of st names and plans the
// changes that bring it to st. It changes nothing on disk. An error means
// the configuration could not be read or is invalid; conflicts are not
// errors but Changes with Action Conflict.
func Compute(st *desired.State, opts Options) (*Plan, error) {
	p := &Plan{}
	for _, side := range []*desired.Side{st.Server, st.Client} {
		if side == nil {
			continue
		}
		if err := p.addSide(side, opts); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func sideName(d files.Dialect) string {
	if d == files.Server {
		return "sshd"
	}
	return "ssh"
}

func (p *Plan) addSide(side *desired.Side, opts Options) error {
	name := sideName(side.Dialect)
	cfg, err := files.Load(opts.Root, side.Path, side.Dialect)
	if err != nil {
		return fmt.Errorf("%s configuration: %w", name, err)
	}
	cfg.LocalUsers = opts.LocalUsers
	if side.Dialect == files.Server {
		if v, err := cfg.ValueIn(files.Scope{}, "PidFile"); err == nil && v != nil {
			p.PidFile = v.Args[0]
		}
	}
	for _, w := range cfg.Warnings {
		opts.Log.Warn().Str("side", name).Msg(w.Error())
	}
	// Observe every key on the configuration as read, before any edit.
	type item struct {
		c       Change
		setting desired.Setting
	}
	var items []item
	add := func(c Change, s desired.Setting) error {
		v, err := cfg.ValueIn(c.Scope, c.Keyword)
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", c.Source, c.Scope, c.Keyword, err)
		}
		switch {
		case v == nil:
		case v.Default:
			c.Effective, c.Default = v.Args, true
		default:
			c.Effective, c.Origin = v.Args, v.Origin().String()
		}
		items = append(items, item{c, s})
		return nil
	}
	for _, s := range side.Settings {
		if err := add(Change{Side: name, Keyword: s.Keyword.Name, Desired: s.Normal, Source: s.Pos}, s); err != nil {
			return err
		}
	}
	for _, a := range side.Absent {
		if err := add(Change{Side: name, Keyword: a.Keyword.Name, Absent: true, Source: a.Pos}, desired.Setting{}); err != nil {
			return err
		}
	}
	for _, b := range side.Blocks {
		for _, s := range b.Settings {
			if err := add(Change{Side: name, Scope: b.Scope, Keyword: s.Keyword.Name, Desired: s.Normal, Source: s.Pos}, s); err != nil {
				return err
			}
		}
	}
	// A keyword set nowhere goes into the agent's own drop-in when the main
	// file includes a drop-in directory before any block, so that package
	// upgrades never meet an edited conffile.
	var dropIn *files.File
	if dir, ok := cfg.DropInDir(); ok {
		if st, err := opts.Root.Stat(dir); err == nil && st.IsDir() {
			dropIn = cfg.AddFile(dir + "/" + DropInName)
		}
	}
	// Then plan the edits in order: each sees the ones before it.
	for _, it := range items {
		c := it.c
		var edits []files.Edit
		var err error
		if c.Absent {
			edits, err = cfg.Unset(c.Scope, c.Keyword)
		} else {
			edits, err = cfg.Set(c.Scope, c.Keyword, it.setting.Args, dropIn)
		}
		var conflict *files.Conflict
		switch {
		case errors.As(err, &conflict):
			c.Action, c.Reason = Conflict, conflict.Error()
		case err != nil:
			return fmt.Errorf("%s: %s %s: %w", c.Source, c.Scope, c.Keyword, err)
		default:
			c.Action, c.Edits = actionOf(edits), edits
		}
		p.Changes = append(p.Changes, c)
		opts.Log.Debug().Str("side", name).Stringer("scope", c.Scope).Str("key", c.Keyword).
			Strs("effective", c.Effective).Str("origin", c.Origin).Strs("desired", c.Desired).
			Str("action", string(c.Action)).Msg("planned")
	}
	// Every change must take effect on the staged files as a whole: a
	// later edit must not have undone an earlier one.
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Side != name || c.Action == Conflict || c.Absent {
			continue
		}
		v, err := cfg.ValueIn(c.Scope, c.Keyword)
		if err != nil {
			return err
		}
		if v == nil || !slices.Equal(v.Args, c.Desired) {
			c.Action, c.Edits = Conflict, nil
			c.Reason = fmt.Sprintf("%s for %s would not take effect with the other changes applied", c.Keyword, c.Scope)
			if v != nil && !v.Default {
				c.Reason += fmt.Sprintf(": %s wins", v.Origin())
			}
			c.Reason += "; check the desired state for settings that contradict each other"
		}
	}
	if dropIn != nil && len(dropIn.Lines) > 0 {
		if _, onDisk := cfg.Original(dropIn.Path); !onDisk {
			dropIn.Insert(0, DropInHeader)
			for i := range p.Changes {
				for j := range p.Changes[i].Edits {
					if e := &p.Changes[i].Edits[j]; e.File == dropIn.Path {
						e.Line++
					}
				}
			}
		}
	}
	for _, f := range cfg.Changed() {
		before, existed := cfg.Original(f.Path)
		if !existed {
			before = nil
		}
		p.Files = append(p.Files, FileChange{Side: name, Path: f.Path, Before: before, After: f.Bytes(), Like: side.Path})
	}
	return nil
}

// actionOf classifies the edits of one key.
func actionOf(edits []files.Edit) Action {
	if len(edits) == 0 {
		return None
	}
	act := Insert
	for _, e := range edits {
		switch e.Kind {
		case files.EditUpdate:
			return Update
		case files.EditRemove:
			act = Remove
		}
	}
	return act
}
