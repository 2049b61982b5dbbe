package files

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Draft is an editing session over a Config, as hclwrite is over
// hclsyntax: Set and Unset stage edits that change only the lines they
// must, each yielding a new Config to check against (Config), and
// FileChanges renders the files whose bytes changed. The Config a Draft
// starts from, and every Config it yields, stay as they were: an edit
// makes new Files that share the unchanged lines.
type Draft struct {
	cfg   *Config
	fresh map[string]string // content of the files AddFile added, by path

	// Protected reports whether a file belongs to another owner (a
	// package, a generator such as cloud-init). Set edits such a file
	// only when no line in the file of its own (into) can win; nil
	// protects nothing.
	Protected func(path string) bool

	together int // the runs of settings SetAll staged as one change
}

// NewDraft starts an editing session over c.
func NewDraft(c *Config) *Draft {
	return &Draft{cfg: c, fresh: map[string]string{}}
}

// Config returns the configuration with every edit staged so far.
func (d *Draft) Config() *Config { return d.cfg }

// AddFile adds a file that is not on disk at the configuration path name,
// holding content (e.g. a header comment), so that edits can go into it:
// a new drop-in, which an Include glob then matches as if it were on disk.
// It does nothing when the configuration holds that file already. A file
// added but never edited is not among the FileChanges.
func (d *Draft) AddFile(name, content string) error {
	if d.cfg.File(name) != nil {
		return nil
	}
	f := Parse(name, d.cfg.Dialect, []byte(content))
	if !slices.ContainsFunc(f.Lines, func(l *Line) bool { return l.Kind == Directive }) {
		// Nothing to walk (a header comment): the file joins the files,
		// and the derive of the first edit into it places it where an
		// Include reads it.
		next := *d.cfg
		next.evals = &evalMemo{}
		next.Files = append(slices.Clip(d.cfg.Files), f)
		next.byPath = maps.Clone(d.cfg.byPath)
		if next.byPath != nil {
			next.byPath[name] = f
		}
		d.cfg, d.fresh[name] = &next, content
		return nil
	}
	next, err := d.cfg.derive(map[string]*File{name: f})
	if err != nil {
		return err
	}
	d.cfg, d.fresh[name] = next, content
	return nil
}

// Set makes keyword name take the value args in scope (written as given,
// compared in normal form): it edits the occurrence that decides the
// value if there is one, or inserts the keyword where it takes effect:
// into the scope's block, into the global section of the file at the
// configuration path into (the main file when ""), or as a new block
// placed before any block that would shadow it. When that does not take
// effect, or would edit a Protected file, the value goes into the file
// into instead (a new block at its end for a block scope), if it takes
// effect from there. Otherwise nothing is staged and a *Conflict names
// the directive that wins. Set returns the edits made (none when the
// value is in effect already).
func (d *Draft) Set(scope Scope, name string, args []string, into string) ([]Edit, error) {
	c := d.cfg
	k, norm, err := c.keyword(scope, name, args)
	if err != nil {
		return nil, err
	}
	if ok, _, err := c.holds(scope, k, norm); err != nil || ok {
		return nil, err
	}
	value := FormatValue(k, args)
	ch := newChange(c)
	if err := ch.set(scope, k, value, into); err != nil {
		return nil, err
	}
	if into != "" && (d.touchesProtected(ch) || !d.takesEffect(ch, scope, k, norm)) {
		alt := newChange(c)
		alt.setInto(scope, k, value, into)
		if d.takesEffect(alt, scope, k, norm) {
			return d.commit(alt)
		}
	}
	if !d.takesEffect(ch, scope, k, norm) {
		return nil, c.conflict(scope, k, norm)
	}
	return d.commit(ch)
}

// Setting is one keyword and its value as written, for SetAll.
type Setting struct {
	Name string
	Args []string
}

// SetAll is Set for each setting in order, all in scope and with into:
// the same edits and errors, one of each per setting. Runs of settings
// whose edits take effect together are staged as one change: the
// configuration is derived and evaluated once for the run, not once per
// setting, so a plan of many keys into a large file costs about one.
func (d *Draft) SetAll(scope Scope, sets []Setting, into string) ([][]Edit, []error) {
	edits, errs := make([][]Edit, len(sets)), make([]error, len(sets))
	inTurn := func(i int) { edits[i], errs[i] = d.Set(scope, sets[i].Name, sets[i].Args, into) }
	for i := 0; i < len(sets); {
		j := i + d.cfg.runTogether(scope, sets[i:])
		switch {
		case j-i < 2:
			inTurn(i)
			i++
			continue
		case d.setTogether(scope, sets[i:j], into, edits[i:j]):
			i = j
			continue
		}
		// The first setting often decides where the others go: in a
		// protected file's block, it makes a new block in into, and the
		// others then take that one. Set it in turn, and try the rest of
		// the run together once more.
		inTurn(i)
		if j-i > 2 && d.setTogether(scope, sets[i+1:j], into, edits[i+1:j]) {
			i = j
			continue
		}
		for i++; i < j; i++ {
			inTurn(i)
		}
	}
	return edits, errs
}

// runTogether returns how many settings from the first on setTogether may
// stage as one: each resolves, names a keyword none before it in the run
// does, and is not one the evaluation consults for other keywords' values
// (a consulted keyword is set in turn, between runs).
func (c *Config) runTogether(scope Scope, sets []Setting) int {
	seen := map[*Keyword]bool{}
	for n, s := range sets {
		k, _, err := c.keyword(scope, s.Name, s.Args)
		if err != nil || seen[k] || c.Catalogue().consulted(k) {
			return n
		}
		seen[k] = true
	}
	return len(sets)
}

// setTogether stages sets, a run runTogether allows, as one change,
// placed as Set places them one after the other, and keeps it when every
// value then takes effect; it reports false, staging nothing, when it
// cannot tell that the change is what Set would stage in turn: a
// conflict, an edit into a Protected file, or a value that does not take
// effect. (Set checks each value on the configuration as edited up to it.
// The value of a keyword the evaluation does not consult for others
// depends only on its own lines and on the blocks, and the only block
// such a change adds is its first setting's, so checking every value
// once, at the end, is the same check.)
func (d *Draft) setTogether(scope Scope, sets []Setting, into string, edits [][]Edit) bool {
	c := d.cfg
	pending, ok := c.unheld(scope, sets)
	if !ok || len(pending) < 2 {
		return false // (one setting: Set costs no more)
	}
	ch := newChange(c)
	for _, p := range pending {
		from := len(ch.edits)
		err := ch.set(scope, p.k, FormatValue(p.k, sets[p.i].Args), into)
		if err != nil || into != "" && d.touchesProtected(ch) {
			return false
		}
		edits[p.i] = slices.Clip(ch.edits[from:])
	}
	next, err := c.derive(ch.files)
	if err != nil {
		return false
	}
	for _, p := range pending {
		if ok, _, err := next.holds(scope, p.k, p.norm); err != nil || !ok {
			return false
		}
	}
	d.cfg = next
	d.together++
	return true
}

// resolved is setting i of a SetAll, resolved: its keyword and value in
// normal form.
type resolved struct {
	i    int
	k    *Keyword
	norm []string
}

// unheld resolves sets and returns those whose value does not hold in
// scope; ok is false when one does not resolve.
func (c *Config) unheld(scope Scope, sets []Setting) (_ []resolved, ok bool) {
	var out []resolved
	for i, s := range sets {
		k, norm, err := c.keyword(scope, s.Name, s.Args)
		if err != nil {
			return nil, false
		}
		held, _, err := c.holds(scope, k, norm)
		if err != nil {
			return nil, false
		}
		if !held {
			out = append(out, resolved{i, k, norm})
		}
	}
	return out, true
}

// touchesProtected reports whether ch edits a protected file.
func (d *Draft) touchesProtected(ch *change) bool {
	if d.Protected == nil {
		return false
	}
	for p := range ch.files {
		if d.Protected(p) {
			return true
		}
	}
	return false
}

// takesEffect reports whether k has the value norm in scope once ch is
// made (the derived configuration is kept with ch for commit). A change is
// made for one Set, so it is derived and evaluated once: that is the cost
// of an edit, and the answer is kept with ch.
func (d *Draft) takesEffect(ch *change, scope Scope, k *Keyword, norm []string) bool {
	if !ch.tested {
		ch.tested = true
		if next, err := d.cfg.derive(ch.files); err == nil {
			ch.next = next
			ch.effective, _, _ = next.holds(scope, k, norm)
		}
	}
	return ch.effective
}

// commit makes ch's configuration the draft's.
func (d *Draft) commit(ch *change) ([]Edit, error) {
	if ch.next == nil {
		next, err := d.cfg.derive(ch.files)
		if err != nil {
			return nil, err
		}
		ch.next = next
	}
	d.cfg = ch.next
	return ch.edits, nil
}

// Unset removes every directive setting keyword name in scope. If one of
// them sits in a file also read outside scope, nothing is staged and a
// *Conflict says so.
func (d *Draft) Unset(scope Scope, name string) ([]Edit, error) {
	c := d.cfg
	k, err := c.Catalogue().Find(name)
	if err != nil {
		return nil, err
	}
	// Check every occurrence before removing any.
	var doomed []*Entry
	seen := map[*Line]bool{}
	for _, en := range c.Entries {
		if en.Keyword != k || !c.inScope(scope, en) || seen[en.Line] {
			continue
		}
		seen[en.Line] = true
		if other := c.sharedOutside(scope, en); other != nil {
			return nil, &Conflict{Keyword: k.Name, Scope: scope, Winner: en.Pos(),
				Reason: fmt.Sprintf("that line sits in a file that is also read %s, so removing it would change what other %s get", where(other), c.others())}
		}
		doomed = append(doomed, en)
	}
	if len(doomed) == 0 {
		return nil, nil
	}
	ch := newChange(c)
	for _, en := range doomed {
		ch.remove(en.File, en.Line)
	}
	return d.commit(ch)
}

// Verify reports whether keyword name has the normal-form value want in
// scope on the configuration as edited so far, and returns the value in
// effect there (nil when nothing sets it and its default is unknown).
func (d *Draft) Verify(scope Scope, name string, want []string) (bool, *Value, error) {
	k, err := d.cfg.Catalogue().Find(name)
	if err != nil {
		return false, nil, err
	}
	return d.cfg.holds(scope, k, want)
}

// FileChange is the new content of one file a Draft changed.
type FileChange struct {
	// Path is the file's configuration path (e.g. /etc/ssh/sshd_config).
	Path string
	// Before is the content read from disk; "" for a new file. It shares
	// the configuration's memory (a string: nobody can change it).
	Before string
	// New is true for a file that did not exist.
	New bool

	after *rendered // the file as edited, shared by the copies of the change
}

// rendered is an edited file and its content, rendered once.
type rendered struct {
	file  *File
	once  sync.Once
	bytes []byte
}

// After returns the content with the edits. It is rendered when first
// asked for (an audit that only reports drift never needs it) and then
// returned again: the bytes are shared, and must not be written.
func (c FileChange) After() []byte {
	if c.after == nil {
		return nil
	}
	c.after.once.Do(func() { c.after.bytes = c.after.file.Bytes() })
	return c.after.bytes
}

// FileChanges returns the files whose content the edits changed, new files
// included, in reading order.
func (d *Draft) FileChanges() []FileChange {
	var out []FileChange
	for _, f := range d.cfg.Files {
		before, ok := d.cfg.orig[f.Path]
		if ok && before.file == f {
			continue // not edited
		}
		if ok {
			if !f.renders(before.text) {
				out = append(out, FileChange{Path: f.Path, Before: before.text, after: &rendered{file: f}})
			}
		} else if fresh, ok := d.fresh[f.Path]; ok && !f.renders(fresh) {
			out = append(out, FileChange{Path: f.Path, New: true, after: &rendered{file: f}})
		}
	}
	return out
}

// keyword resolves name for an edit in scope and normalizes args.
func (c *Config) keyword(scope Scope, name string, args []string) (*Keyword, []string, error) {
	k, err := c.Catalogue().Find(name)
	if err != nil {
		return nil, nil, err
	}
	if c.Dialect == Server && !scope.Global() && !k.InMatch {
		return nil, nil, fmt.Errorf("%s is not allowed inside a Match block", k.Name)
	}
	if scope.Host != "" && c.Dialect == Server {
		return nil, nil, fmt.Errorf("sshd_config has no Host blocks; use Match Host")
	}
	norm, err := Normalize(c.Dialect, k, args)
	return k, norm, err
}

// holds reports whether k has the value norm for every probe of scope;
// otherwise it returns the first value that differs (nil when unset).
func (c *Config) holds(scope Scope, k *Keyword, norm []string) (bool, *Value, error) {
	vs, err := c.valuesIn(scope, k)
	if err != nil {
		return false, nil, err
	}
	for _, v := range vs {
		if v == nil || !slices.Equal(v.Args, norm) {
			return false, v, nil
		}
	}
	return true, vs[0], nil
}

// conflict explains, on the unchanged configuration, why k cannot take
// the value norm in scope.
func (c *Config) conflict(scope Scope, k *Keyword, norm []string) *Conflict {
	cf := &Conflict{Keyword: k.Name, Scope: scope, Reason: "the new line would sit where it does not apply"}
	_, v, _ := c.holds(scope, k, norm)
	switch {
	case v != nil && v.cause != "":
		if v.From[0].Keyword != k {
			cf.Winner = v.Origin()
		}
		cf.Reason = v.cause
	case v != nil && !v.Default:
		cf.Winner = v.Origin()
		cf.Reason = fmt.Sprintf("it sets %s, and changing it would change what other %s get; %s", FormatValue(k, v.Args), c.others(), c.fixHint(k))
	}
	return cf
}

// fixHint says how a person resolves a conflict over k.
func (c *Config) fixHint(k *Keyword) string {
	switch {
	case c.Dialect == Server:
		return "narrow that block's criteria or remove the line there"
	case k.Combine == Cumulative:
		// Where the default sits does not matter: every line adds up.
		return fmt.Sprintf("%s lines add up wherever they sit, so remove that line or set it only for the hosts that need it", k.Name)
	}
	return "move that default into a Host * block at the end of the main file"
}

func (c *Config) others() string {
	if c.Dialect == Server {
		return "connections"
	}
	return "hosts"
}

// defaultLocalUsers are the local users a client value must hold for when
// none are given (see Config.WithLocalUsers): ssh's Match user and
// localuser depend on who runs ssh, so a value takes effect only if it
// does for root and others.
var defaultLocalUsers = []string{"root", "sshconverge-probe"}

// ValueIn returns the effective value of keyword name for scope: for a
// Match or Host block, what a connection or host the block selects gets;
// for the global section, what one that no block selects gets (for ssh, as
// the first of the local users runs it). When no directive sets the
// keyword there it returns OpenSSH's default (Value.Default), or nil when
// the default is not known.
func (c *Config) ValueIn(scope Scope, name string) (*Value, error) {
	k, err := c.Catalogue().Find(name)
	if err != nil {
		return nil, err
	}
	vs, err := c.valuesIn(scope, k)
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// valuesIn returns the value of k for each probe that stands for scope
// (connections or hosts the scope selects; for the global section, ones no
// criterion selects).
func (c *Config) valuesIn(scope Scope, k *Keyword) ([]*Value, error) {
	if c.Dialect == Server {
		e, err := c.server(scope)
		if err != nil {
			return nil, err
		}
		return []*Value{e.valueOrDefault(c.Dialect, k)}, nil
	}
	users := c.localUsers
	if users == nil {
		users = defaultLocalUsers
	}
	vs := make([]*Value, len(users))
	for i, u := range users {
		vs[i] = c.client(Target{Host: c.Catalogue().ProbeHost(scope), LocalUser: u}).valueOrDefault(c.Dialect, k)
	}
	return vs, nil
}

// evalMemo keeps a configuration's evaluations for the targets (ssh) and
// scopes (sshd) asked about. A plan asks each configuration it derives
// whether a value holds, then asks the same configuration again for the
// next keys, and at the end verifies every key on the last one: each
// configuration is evaluated once per target or scope instead. A client
// configuration without a Match user or localuser criterion gives every
// local user the same values, and is evaluated once for all of them.
type evalMemo struct {
	mu   sync.Mutex
	seen map[Target]*Effective
	// servers holds sshd's evaluation for the connection that stands for
	// each scope (Catalogue.ProbeConn).
	servers map[Scope]*Effective
	// users is whether the local user can change a value (see
	// matchesUser); known once asked.
	users, known bool
}

// client is Client, evaluated once per target (callers asking at the same
// time wait for it): the Effective is shared, and only read.
func (c *Config) client(t Target) *Effective {
	m := c.evals
	if m == nil {
		return c.Client(t)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.known {
		m.users, m.known = c.matchesUser(), true
	}
	if !m.users {
		t.LocalUser = "" // who runs ssh changes nothing here
	}
	return remembered(&m.seen, t, func() *Effective { return c.Client(t) })
}

// remembered returns (*memo)[k], made by eval the first time it is asked
// for; the caller holds the memo's lock.
func remembered[K comparable](memo *map[K]*Effective, k K, eval func() *Effective) *Effective {
	e, ok := (*memo)[k]
	if !ok {
		e = eval()
		if *memo == nil {
			*memo = map[K]*Effective{}
		}
		(*memo)[k] = e
	}
	return e
}

// server is Server for the connection that stands for scope, evaluated
// once per scope (as client is per target).
func (c *Config) server(scope Scope) (*Effective, error) {
	conn, err := c.Catalogue().ProbeConn(scope)
	if err != nil {
		return nil, err
	}
	m := c.evals
	if m == nil {
		return c.Server(conn), nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return remembered(&m.servers, scope, func() *Effective { return c.Server(conn) }), nil
}

// matchesUser reports whether a Match block of the configuration has a
// user or localuser criterion: the only ones that read the local user
// (see clientMatch).
func (c *Config) matchesUser() bool {
	for _, b := range c.Blocks {
		for _, cr := range b.Criteria {
			if cr.Attr == "user" || cr.Attr == "localuser" {
				return true
			}
		}
	}
	return false
}

// inScope reports whether entry en belongs to scope. A block nested in
// another (through an Include inside it) is not the scope its header names:
// it applies only where the outer block does.
func (c *Config) inScope(scope Scope, en *Entry) bool { return c.blockInScope(scope, en.Block) }

func (c *Config) blockInScope(scope Scope, b *Block) bool {
	switch {
	case scope.Global():
		return b == nil
	case b == nil || b.Parent != nil:
		return false
	case scope.Host != "":
		return b.Host && joinedIs(b.Patterns, scope.Host)
	default:
		return !b.Host && sameCriteria(b.Criteria, scope.Match, c.Catalogue())
	}
}

// joinedIs reports whether strings.Join(words, " ") == s, without joining
// (a scope is compared with every Host block of a configuration).
func joinedIs(words []string, s string) bool {
	for i, w := range words {
		if i > 0 {
			if s == "" || s[0] != ' ' {
				return false
			}
			s = s[1:]
		}
		if !strings.HasPrefix(s, w) {
			return false
		}
		s = s[len(w):]
	}
	return s == ""
}

func sameCriteria(have []Criterion, want string, cat *Catalogue) bool {
	w, err := cat.ParseCriteria(want)
	return err == nil && slices.Equal(have, w)
}

// sharedOutside returns an entry for en's line that lies outside scope
// (its file is included at several places), or nil.
func (c *Config) sharedOutside(scope Scope, en *Entry) *Entry {
	if c.walked[en.File.Path] < 2 {
		return nil // one reading, one entry: en itself
	}
	for _, other := range c.Entries {
		if other.Line == en.Line && !c.inScope(scope, other) {
			return other
		}
	}
	return nil
}

// where says in which block an entry is read, for messages.
func where(en *Entry) string {
	if en.Block == nil {
		return "at global scope"
	}
	return fmt.Sprintf("inside %q (%s)", strings.TrimSpace(en.Block.Line.Text), en.Block.Pos())
}
