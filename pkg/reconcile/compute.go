package reconcile

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

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
	// Version is the OpenSSH release the configuration is for (the zero
	// Version: files.DefaultVersion).
	Version files.Version
	// SSHDAccepts, when set, has sshd check the configuration whose main
	// file is the given path, as it stands: nil when sshd accepts it.
	SSHDAccepts func(main string) error
	// EditForeign allows editing files other owners have (packages,
	// cloud-init, crypto-policies) even when a file of the agent's own
	// could set the value instead.
	EditForeign bool
	// Log receives one debug event per key and a warning per configuration
	// warning.
	Log zerolog.Logger
}

// Compute reads the configuration each side of st names and plans the
// changes that bring it to st. It changes nothing on disk. An error means
// the configuration could not be read or is invalid; conflicts are not
// errors but Changes with Status Conflicted.
func Compute(st *desired.State, opts Options) (*Plan, error) {
	p := &Plan{Version: opts.Version}
	owners := NewOwners(opts.Root) // both sides: the package databases are read once
	for _, side := range []*desired.Side{st.Server, st.Client} {
		if side == nil {
			continue
		}
		sp := &sidePlan{side: side, name: sideOf(side.Dialect), opts: opts, owners: owners}
		if err := sp.run(); err != nil {
			return nil, err
		}
		p.Changes = append(p.Changes, sp.changes...)
		p.Files = append(p.Files, sp.files()...)
		for _, f := range sp.cfg.Files {
			if d := path.Dir(f.Path); !slices.Contains(p.Dirs, d) {
				p.Dirs = append(p.Dirs, d)
			}
		}
		if sp.name == Server {
			p.ServerConfig, p.PidFile, p.HostKeys = sp.main, sp.pidFile, sp.hostKeys
			p.ServerDigest, p.ServerFilesChanged = sp.cfg.DiskDigest(), sp.cfg.Changed()
		} else {
			p.ClientConfig = sp.main
		}
	}
	return p, nil
}

// sidePlan is the planning of one side: the rules fill it in, in order.
type sidePlan struct {
	side *desired.Side
	name Side
	opts Options

	cfg      *files.Config // the configuration as read from disk
	draft    *files.Draft  // the edits planned so far
	owners   *Owners       // who else owns the configuration's files (shared by the sides)
	main     string        // the main file OpenSSH reads
	dropIn   string        // the agent's drop-in ("" when not used)
	pidFile  string        // sshd's PidFile
	hostKeys []string      // sshd's HostKey files
	changes  []Change      // one per desired key, in desired-file order
	args     [][]string    // each change's desired value as written
}

// rule is one step of planning a side.
type rule struct {
	name  string
	apply func(*sidePlan) error
}

// rules are the steps of planning a side, in order; README.md's "Where
// edits go" states them for people.
var rules = []rule{
	{"read the configuration as OpenSSH does", (*sidePlan).read},
	{"observe every desired key as the files stand", (*sidePlan).observe},
	{"list the Match blocks that override global keys; remove those that must not", (*sidePlan).overrides},
	{"put keywords set nowhere into the agent's drop-in", (*sidePlan).useDropIn},
	{"edit where each value takes effect, in desired order", (*sidePlan).edit},
	{"check every change on the staged files as a whole", (*sidePlan).verify},
}

// run applies the rules in order, stopping at the first error.
func (sp *sidePlan) run() error {
	for _, r := range rules {
		sp.opts.Log.Trace().Stringer("side", sp.name).Str("rule", r.name).Msg("planning")
		if err := r.apply(sp); err != nil {
			return err
		}
	}
	return nil
}

// vendorFiles are where a distribution keeps the main files when /etc/ssh
// has none (openSUSE, SLES 16: the vendor files under /usr/etc/ssh).
var vendorFiles = map[string]string{
	desired.DefaultServerPath: "/usr/etc/ssh/sshd_config",
	desired.DefaultClientPath: "/usr/etc/ssh/ssh_config",
}

// MainFile returns the file OpenSSH reads for side under root: the
// desired state's path, or, when that is the default and absent, the
// distribution's vendor file.
func MainFile(root *files.Root, side *desired.Side) string {
	p := side.Path
	if _, err := root.Stat(p); err == nil || side.PathSet {
		return p
	}
	if v, ok := vendorFiles[p]; ok {
		if _, err := root.Stat(v); err == nil {
			return v
		}
	}
	return p
}

// read loads the side's configuration and starts the draft.
func (sp *sidePlan) read() error {
	sp.main = MainFile(sp.opts.Root, sp.side)
	cfg, err := sp.load()
	if err != nil {
		return files.Prefix(sp.name.String()+" configuration: ", err)
	}
	sp.cfg = cfg.WithLocalUsers(sp.opts.LocalUsers)
	sp.draft = files.NewDraft(sp.cfg)
	if !sp.opts.EditForeign {
		sp.draft.Protected = sp.owners.Protected
	}
	for _, w := range cfg.Warnings {
		sp.opts.Log.Warn().Stringer("side", sp.name).Msg(w.Error())
	}
	if sp.name == Server {
		sp.pidFile, sp.hostKeys = DaemonFiles(sp.cfg)
	}
	return nil
}

// load reads the configuration for the OpenSSH release of Options. When
// the model refuses it (a keyword it does not know, such as a
// distribution's own) but the host's sshd accepts it as it stands, it is
// read again keeping those directives untouched (listed as not modelled).
func (sp *sidePlan) load() (*files.Config, error) {
	opts := files.LoadOptions{Version: sp.opts.Version}
	cfg, err := files.LoadWith(sp.opts.Root, sp.main, sp.side.Dialect, opts)
	// Only an unknown keyword is worth asking sshd about: it hangs on an
	// Included FIFO and spins on an Include fan-out the model refuses.
	if err == nil || sp.name != Server || !cfg.OnlyUnknownKeywords() || sp.opts.SSHDAccepts == nil || sp.opts.SSHDAccepts(sp.main) != nil {
		return cfg, err
	}
	opts.KeepUnknown = true
	if kept, kerr := files.LoadWith(sp.opts.Root, sp.main, sp.side.Dialect, opts); kerr == nil {
		for _, u := range kept.Unmodelled {
			sp.opts.Log.Warn().Str("origin", u.Pos.String()).Str("keyword", u.Keyword).Msg("sshd accepts a keyword the model does not know: left as it is")
		}
		return kept, nil
	}
	return cfg, err
}

// DaemonFiles returns the pid file and the host key files an sshd
// configuration names (or sshd's defaults).
func DaemonFiles(cfg *files.Config) (pidFile string, hostKeys []string) {
	pidFile, hostKeys = DaemonDefaults()
	if v, err := cfg.ValueIn(files.Scope{}, "PidFile"); err == nil && v != nil {
		pidFile = v.Args[0]
	}
	if v, err := cfg.ValueIn(files.Scope{}, "HostKey"); err == nil && v != nil && !v.Default {
		hostKeys = v.Args
	}
	return pidFile, hostKeys
}

// DaemonDefaults returns sshd's pid file and host key files when its
// configuration names none.
func DaemonDefaults() (pidFile string, hostKeys []string) {
	return "/run/sshd.pid", []string{"/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key"}
}

// observe records, for every desired key, the value OpenSSH uses now and
// where it comes from, before any edit.
func (sp *sidePlan) observe() error {
	add := func(c Change, args []string) error {
		c.Side = sp.name
		v, err := sp.cfg.ValueIn(c.Scope, c.Keyword)
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
		sp.changes, sp.args = append(sp.changes, c), append(sp.args, args)
		return nil
	}
	var errs []error
	for _, s := range sp.side.Settings {
		errs = append(errs, add(Change{Keyword: s.Keyword.Name, Desired: s.Normal, Source: s.Pos}, s.Args))
	}
	for _, a := range sp.side.Absent {
		errs = append(errs, add(Change{Keyword: a.Keyword.Name, Absent: true, Source: a.Pos}, nil))
	}
	for _, b := range sp.side.Blocks {
		for _, s := range b.Settings {
			errs = append(errs, add(Change{Scope: b.Scope, Keyword: s.Keyword.Name, Desired: s.Normal, Source: s.Pos}, s.Args))
		}
	}
	return errors.Join(errs...)
}

// overrides lists, for every global sshd key, the Match blocks that set
// it for the connections they select, and warns of those whose value is
// not the desired one. For a key that must hold everywhere, each such
// block's line is a change of its own: removed, so that the global value
// applies (a block in a file included inside another block is a
// conflict: it is no scope of its own).
func (sp *sidePlan) overrides() error {
	if sp.name != Server {
		return nil
	}
	for i, n := 0, len(sp.changes); i < n; i++ {
		c := sp.changes[i]
		if !c.Scope.Global() || c.Absent {
			continue
		}
		ovs, err := sp.cfg.Overrides(c.Keyword)
		if err != nil {
			return err
		}
		for _, o := range ovs {
			ov := Override{Criteria: o.Criteria(), Origin: o.Entry.Pos().String(), Value: o.Entry.Args,
				Differs: !slices.Equal(o.Entry.Args, c.Desired), Desired: sp.desiredInBlock(o.Criteria(), c.Keyword)}
			sp.changes[i].Overrides = append(sp.changes[i].Overrides, ov)
			if !ov.Differs || ov.Desired {
				continue // the same, or what the desired state asks for that block
			}
			sp.opts.Log.Warn().Str("keyword", c.Keyword).Str("match", ov.Criteria).Str("origin", ov.Origin).Strs("value", ov.Value).
				Msg("a Match block overrides the desired global value for the connections it selects")
			if sp.everywhere(c.Keyword) {
				sp.removeOverride(c, o, i)
			}
		}
	}
	return nil
}

// desiredInBlock reports whether the desired state sets keyword in a Match
// block with these criteria.
func (sp *sidePlan) desiredInBlock(criteria, keyword string) bool {
	cat := sp.cfg.Catalogue()
	want, err := cat.ParseCriteria(criteria)
	if err != nil {
		return false
	}
	for _, b := range sp.side.Blocks {
		have, err := cat.ParseCriteria(b.Scope.Match)
		if err == nil && slices.Equal(have, want) && slices.ContainsFunc(b.Settings, func(s desired.Setting) bool { return s.Keyword.Name == keyword }) {
			return true
		}
	}
	return false
}

// everywhere reports whether keyword must hold for every connection.
func (sp *sidePlan) everywhere(keyword string) bool {
	return slices.ContainsFunc(sp.side.Everywhere, func(e desired.Everywhere) bool { return e.Keyword.Name == keyword })
}

// removeOverride adds the change that removes override o of global
// change c (at index i): once per block scope.
func (sp *sidePlan) removeOverride(c Change, o files.Override, i int) {
	scope, ok := o.Scope()
	for _, have := range sp.changes {
		if have.Everywhere && have.Keyword == c.Keyword && have.Scope == scope && ok {
			return
		}
	}
	rm := Change{Side: c.Side, Scope: scope, Keyword: c.Keyword, Desired: c.Desired, Effective: o.Entry.Args,
		Origin: o.Entry.Pos().String(), Everywhere: true, Source: c.Source}
	if !ok {
		rm.Scope = files.Scope{Match: o.Criteria()}
		rm.Status, rm.Action = Conflicted, Conflict
		rm.Reason = fmt.Sprintf("%s must hold everywhere, but the Match block at %s sits in a file included inside another block (%s); remove %s there by hand",
			c.Keyword, o.Block.Pos(), o.Block.Parent.Pos(), o.Entry.Pos())
	}
	sp.changes, sp.args = append(sp.changes, rm), append(sp.args, sp.args[i])
}

// useDropIn makes the agent's drop-in the place for keywords set nowhere
// when the main file includes an existing drop-in directory before any
// block, so that package upgrades never meet an edited conffile.
func (sp *sidePlan) useDropIn() error {
	dir, ok := sp.cfg.DropInDir()
	if !ok {
		return nil
	}
	if st, err := sp.opts.Root.Stat(dir); err != nil || !st.IsDir() {
		return nil
	}
	sp.dropIn = dir + "/" + DropInName
	return sp.draft.AddFile(sp.dropIn, DropInHeader+"\n")
}

// edit plans each key's edits in desired order; each sees the ones
// before it. The keys of one scope that follow each other are set
// together (files.Draft.SetAll: the same edits, at the cost of about one).
func (sp *sidePlan) edit() error {
	for i := 0; i < len(sp.changes); {
		c := &sp.changes[i]
		switch {
		case c.Status == Conflicted: // decided by an earlier rule
			i++
		case c.Absent || c.Everywhere:
			edits, err := sp.draft.Unset(c.Scope, c.Keyword)
			if err := sp.planned(c, edits, err); err != nil {
				return err
			}
			i++
		default:
			n := sp.settingsFrom(i)
			sets := make([]files.Setting, n)
			for j := range sets {
				sets[j] = files.Setting{Name: sp.changes[i+j].Keyword, Args: sp.args[i+j]}
			}
			edits, errs := sp.draft.SetAll(c.Scope, sets, sp.dropIn)
			for j := range sets {
				if err := sp.planned(&sp.changes[i+j], edits[j], errs[j]); err != nil {
					return err
				}
			}
			i += n
		}
	}
	return nil
}

// settingsFrom counts the changes from index i on that set a value in
// the scope of change i, one after the other.
func (sp *sidePlan) settingsFrom(i int) int {
	n := 1
	for _, c := range sp.changes[i+1:] {
		if c.Status == Conflicted || c.Absent || c.Everywhere || c.Scope != sp.changes[i].Scope {
			break
		}
		n++
	}
	return n
}

// planned records the outcome of change c's Set or Unset.
func (sp *sidePlan) planned(c *Change, edits []files.Edit, err error) error {
	if err := c.plan(edits, err); err != nil {
		return err
	}
	c.Note = sp.ownerNote(c)
	sp.opts.Log.Debug().Stringer("side", c.Side).Stringer("scope", c.Scope).Str("keyword", c.Keyword).
		Strs("effective", c.Effective).Str("origin", c.Origin).Strs("desired", c.Desired).
		Stringer("action", c.Action).Stringer("status", c.Status).Msg("planned")
	return nil
}

// ownerNote says when the value comes from a file another owner has and
// the agent set it elsewhere, leaving that file as it is.
func (sp *sidePlan) ownerNote(c *Change) string {
	if c.Origin == "" || len(c.Edits) == 0 || sp.opts.EditForeign {
		return ""
	}
	file, _, _ := strings.Cut(c.Origin, ":")
	who := sp.owners.Owner(file)
	if who == "" || slices.ContainsFunc(c.Edits, func(e files.Edit) bool { return e.File == file }) {
		return ""
	}
	return fmt.Sprintf("%s belongs to %s: left as it is; %s, read before it, sets the value", file, who, c.Edits[0].File)
}

// plan records the outcome of one key's Set or Unset. The status says
// whether the files on disk have the desired value now; the action, what
// the plan does for the key itself.
func (c *Change) plan(edits []files.Edit, err error) error {
	var conflict *files.Conflict
	switch {
	case errors.As(err, &conflict):
		c.Status, c.Action, c.Reason = Conflicted, Conflict, conflict.Error()
		return nil
	case err != nil:
		return fmt.Errorf("%s: %s %s: %w", c.Source, c.Scope, c.Keyword, err)
	}
	c.Edits, c.Action, c.Status = edits, actionOf(edits), Changed
	if c.Absent && len(edits) == 0 || !c.Absent && !c.Everywhere && c.Effective != nil && slices.Equal(c.Effective, c.Desired) {
		c.Status = InSync
	}
	switch {
	case c.Status == Changed && len(edits) == 0:
		c.Reason = "brought in line by the other changes"
	case c.Status == InSync && len(edits) > 0:
		c.Reason = "kept in line against the other changes"
	}
	return nil
}

// verify checks every change on the staged files as a whole: a later edit
// must not have undone an earlier one.
func (sp *sidePlan) verify() error {
	for i := range sp.changes {
		c := &sp.changes[i]
		if c.Status == Conflicted || c.Absent {
			continue
		}
		ok, v, err := sp.draft.Verify(c.Scope, c.Keyword, c.Desired)
		if err != nil {
			return err
		}
		if !ok {
			c.Status, c.Action, c.Edits = Conflicted, Conflict, nil
			c.Reason = fmt.Sprintf("%s for %s would not take effect with the other changes applied", c.Keyword, c.Scope)
			if v != nil && !v.Default {
				c.Reason += fmt.Sprintf(": %s wins", v.Origin())
			}
			c.Reason += "; check the desired state for settings that contradict each other"
		}
	}
	return nil
}

// files returns the side's file changes.
func (sp *sidePlan) files() []FileChange {
	var out []FileChange
	for _, f := range sp.draft.FileChanges() {
		target, err := sp.opts.Root.Resolve(f.Path)
		if err != nil {
			target = f.Path
		}
		out = append(out, FileChange{FileChange: f, Side: sp.name, Like: sp.main, Target: target})
	}
	return out
}

// actionOf classifies the edits of one key.
func actionOf(edits []files.Edit) Action {
	if len(edits) == 0 {
		return NoOp
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
