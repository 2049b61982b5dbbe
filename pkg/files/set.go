package files

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// EditKind says what an Edit did to a line.
type EditKind uint8

const (
	// EditUpdate replaced a directive's value in place.
	EditUpdate EditKind = iota + 1
	// EditInsert added a directive (or a block header) line.
	EditInsert
	// EditRemove deleted a directive line.
	EditRemove
)

// String returns "update", "insert" or "remove".
func (k EditKind) String() string {
	return [...]string{"", "update", "insert", "remove"}[k]
}

// Edit is one line-level change made by Set or Unset.
type Edit struct {
	Kind EditKind
	// File is the changed file's path; Line the line number the change
	// concerns (after the change for inserts, before it for removals).
	File string
	Line int
	// Before and After are the line's text (without terminator); Before is
	// empty for an insert, After for a removal.
	Before, After string
}

// String renders the edit as "file:line: kind: before -> after".
func (e Edit) String() string {
	return fmt.Sprintf("%s:%d: %s: %q -> %q", e.File, e.Line, e.Kind, e.Before, e.After)
}

// Set makes keyword name take the value args in scope (written as given,
// compared in normal form), editing the
// occurrence that decides the value if there is one, or inserting the
// keyword where it takes effect: into the scope's block, into the global
// section of the file into (the main file when nil), or as a new block
// placed before any block that would shadow it. Set then re-evaluates the
// configuration; if the value still does not take effect, every change is
// undone and a *Conflict names the directive that wins instead. Set returns
// the edits made (none when the value is already in effect).
func (c *Config) Set(scope Scope, name string, args []string, into *File) ([]Edit, error) {
	k, norm, err := c.keyword(scope, name, args)
	if err != nil {
		return nil, err
	}
	if v, ok := c.effectiveIn(scope, k); ok && slices.Equal(v.Args, norm) {
		return nil, nil
	}
	snap := c.snapshot()
	edits, err := c.set(scope, k, FormatValue(k, args), into)
	if err == nil {
		err = c.reload()
	}
	var lost bool
	if err == nil {
		v, ok := c.effectiveIn(scope, k)
		lost = !ok || !slices.Equal(v.Args, norm)
	}
	if err == nil && !lost {
		return edits, nil
	}
	c.restore(snap)
	if err != nil {
		return nil, err
	}
	// Name the winner as it stands in the unchanged files.
	cf := &Conflict{Keyword: k.Name, Scope: scope, Reason: "an earlier directive takes precedence"}
	if v, ok := c.effectiveIn(scope, k); ok {
		cf.Winner = v.Origin()
		cf.Reason = fmt.Sprintf("it sets %s, and changing it would change what other %s get; %s", FormatValue(k, v.Args), c.others(), c.fixHint())
	}
	return nil, cf
}

// fixHint says how a person resolves a conflict.
func (c *Config) fixHint() string {
	if c.Dialect == Server {
		return "narrow that block's criteria or remove the line there"
	}
	return "move that default into a Host * block at the end of the main file"
}

// Unset removes every directive setting keyword name in scope.
func (c *Config) Unset(scope Scope, name string) ([]Edit, error) {
	k, ok := CatalogueFor(c.Dialect).Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown %s keyword %q", c.Dialect, name)
	}
	var edits []Edit
	for _, en := range c.Entries {
		if en.Keyword != k || !c.inScope(scope, en) || !slices.Contains(en.File.Lines, en.Line) {
			continue
		}
		edits = append(edits, Edit{Kind: EditRemove, File: en.File.Path, Line: en.Line.Num, Before: en.Line.Text})
		en.File.Remove(en.Line)
	}
	if len(edits) == 0 {
		return nil, nil
	}
	return edits, c.reload()
}

func (c *Config) others() string {
	if c.Dialect == Server {
		return "connections"
	}
	return "hosts"
}

func (c *Config) keyword(scope Scope, name string, args []string) (*Keyword, []string, error) {
	k, ok := CatalogueFor(c.Dialect).Lookup(name)
	if !ok {
		return nil, nil, fmt.Errorf("unknown %s keyword %q", c.Dialect, name)
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

// probe returns the connection or host that stands for scope: for a block,
// one that its criteria or patterns select; for the global section, one
// that no criterion selects.
func (c *Config) effectiveIn(scope Scope, k *Keyword) (*Value, bool) {
	var e *Effective
	if c.Dialect == Server {
		e = c.Server(sampleConn(scope))
	} else {
		e = c.Client(Target{Host: sampleHost(scope), LocalUser: "sshconverge-probe"})
	}
	return e.Get(k)
}

// inScope reports whether entry en belongs to scope.
func (c *Config) inScope(scope Scope, en *Entry) bool {
	b := en.Block
	switch {
	case scope.Global():
		return b == nil
	case b == nil:
		return false
	case scope.Host != "":
		return b.Host && strings.Join(b.Patterns, " ") == scope.Host
	default:
		return !b.Host && sameCriteria(b.Criteria, scope.Match, c.Dialect)
	}
}

func sameCriteria(have []Criterion, want string, d Dialect) bool {
	w, err := parseCriteria(d, want)
	return err == nil && slices.Equal(have, w)
}

// set writes value (configuration text) for k in scope without verifying
// that it takes effect.
func (c *Config) set(scope Scope, k *Keyword, value string, into *File) ([]Edit, error) {
	var occ []*Entry
	for _, en := range c.Entries {
		if en.Keyword == k && c.inScope(scope, en) {
			occ = append(occ, en)
		}
	}
	if len(occ) > 0 {
		win := occ[0]
		if k.Combine == LastWins || k.Combine == LastWinsAnywhere {
			win = occ[len(occ)-1]
		}
		before := win.Line.Text
		win.File.SetValue(win.Line, value)
		edits := []Edit{{Kind: EditUpdate, File: win.File.Path, Line: win.Line.Num, Before: before, After: win.Line.Text}}
		if k.Combine == Cumulative {
			for _, en := range occ[1:] {
				if slices.Contains(en.File.Lines, en.Line) {
					edits = append(edits, Edit{Kind: EditRemove, File: en.File.Path, Line: en.Line.Num, Before: en.Line.Text})
					en.File.Remove(en.Line)
				}
			}
		}
		return edits, nil
	}
	if scope.Global() {
		f := into
		if f == nil {
			f = c.Main
		}
		l := f.Insert(f.GlobalEnd(), k.Name+" "+value)
		return []Edit{{Kind: EditInsert, File: f.Path, Line: l.Num, After: l.Text}}, nil
	}
	// An existing block of this scope: append to it.
	for _, en := range c.blocks() {
		if c.inScope(scope, &Entry{Block: en}) {
			f := en.File
			h := slices.Index(f.Lines, en.Line)
			l := f.Insert(f.blockEnd(h), f.indentOf(h)+k.Name+" "+value)
			return []Edit{{Kind: EditInsert, File: f.Path, Line: l.Num, After: l.Text}}, nil
		}
	}
	return c.addBlock(scope, k, value)
}

// blocks returns every block of the configuration in evaluation order,
// including blocks with no directives.
func (c *Config) blocks() []*Block {
	var bs []*Block
	seen := map[*Block]bool{}
	for _, en := range c.Entries {
		for b := en.Block; b != nil && !seen[b]; b = b.Parent {
			seen[b] = true
			bs = append(bs, b)
		}
	}
	// Blocks without directives are found by scanning the files.
	for _, f := range c.Files {
		for _, l := range f.Lines {
			if isHeader(l) && !slices.ContainsFunc(bs, func(b *Block) bool { return b.Line == l }) {
				if b, err := parseBlock(c.Dialect, f, l, nil); err == nil {
					bs = append(bs, b)
				}
			}
		}
	}
	return bs
}

// addBlock adds a new block for scope to the main file holding the one
// directive, before the first block of the main file that would shadow it,
// or at the end.
func (c *Config) addBlock(scope Scope, k *Keyword, value string) ([]Edit, error) {
	f := c.Main
	header, at := "Match "+scope.Match, len(f.Lines)
	if scope.Host != "" {
		header = "Host " + scope.Host
	}
	for i, l := range f.Lines {
		if isHeader(l) && c.shadows(f, l, scope) {
			at = i
			break
		}
	}
	indent := f.indentOf(len(f.Lines))
	// Keep blocks apart by a blank line, as people write them.
	if at == len(f.Lines) && at > 0 && strings.TrimSpace(f.Lines[at-1].Text) != "" {
		f.Insert(at, "")
		at++
	} else if at < len(f.Lines) {
		f.Insert(at, "")
	}
	h := f.Insert(at, header)
	l := f.Insert(at+1, indent+k.Name+" "+value)
	return []Edit{
		{Kind: EditInsert, File: f.Path, Line: h.Num, After: h.Text},
		{Kind: EditInsert, File: f.Path, Line: l.Num, After: l.Text},
	}, nil
}

// shadows reports whether the block headed by line l would take
// precedence for the connections or hosts scope selects.
func (c *Config) shadows(f *File, l *Line, scope Scope) bool {
	b, err := parseBlock(c.Dialect, f, l, nil)
	if err != nil {
		return false
	}
	if c.Dialect == Server {
		return serverMatch(b.Criteria, sampleConn(scope))
	}
	host := sampleHost(scope)
	if b.Host {
		return matchHostPatterns(host, b.Patterns)
	}
	ok, _, _ := newEffective().clientMatch(b.Criteria, &clientState{target: Target{Host: host}, host: host}, false)
	return ok
}

// sampleHost returns a host name that scope's Host patterns select: the
// first positive pattern with wildcards filled in. For the global scope it
// returns a name no sensible pattern list names.
func sampleHost(scope Scope) string {
	if scope.Host == "" {
		if scope.Match != "" {
			for _, c := range mustCriteria(Client, scope.Match) {
				if (c.Attr == "host" || c.Attr == "originalhost") && !c.Negate {
					return fillPattern(firstPositive(c.Arg, ","))
				}
			}
		}
		return "sshconverge-probe.invalid"
	}
	return fillPattern(firstPositive(scope.Host, " "))
}

// sampleConn returns a connection that scope's Match criteria select (the
// zero Conn for the global section).
func sampleConn(scope Scope) Conn {
	var conn Conn
	for _, c := range mustCriteria(Server, scope.Match) {
		p := fillPattern(firstPositive(c.Arg, ","))
		switch c.Attr {
		case "user":
			conn.User = p
		case "host":
			conn.Host = p
		case "address", "localaddress":
			a := p
			if pfx, err := netip.ParsePrefix(p); err == nil {
				a = pfx.Addr().String()
			}
			if c.Attr == "address" {
				conn.Addr = a
			} else {
				conn.LAddr = a
			}
		case "localport":
			conn.LPort, _ = strconv.Atoi(p)
		case "rdomain":
			conn.RDomain = p
		}
	}
	return conn
}

func mustCriteria(d Dialect, s string) []Criterion {
	if s == "" {
		return nil
	}
	c, _ := parseCriteria(d, s)
	return c
}

func firstPositive(list, sep string) string {
	for _, p := range strings.Split(list, sep) {
		if p != "" && !strings.HasPrefix(p, "!") {
			return p
		}
	}
	return ""
}

// fillPattern turns a wildcard pattern into a name it matches.
func fillPattern(p string) string {
	return strings.NewReplacer("*", "x", "?", "x").Replace(p)
}

// snapshot is a copy of every file's lines, to undo edits.
type snapshot map[*File][]Line

func (c *Config) snapshot() snapshot {
	s := snapshot{}
	for _, f := range c.Files {
		ls := make([]Line, len(f.Lines))
		for i, l := range f.Lines {
			ls[i] = *l
		}
		s[f] = ls
	}
	return s
}

func (c *Config) restore(s snapshot) {
	for f, ls := range s {
		f.Lines = f.Lines[:0]
		for i := range ls {
			l := ls[i]
			f.Lines = append(f.Lines, &l)
		}
	}
	_ = c.reload()
}

// reload rebuilds Entries from the files held in memory (and any file an
// Include newly matches on disk).
func (c *Config) reload() error {
	l := &loader{cfg: &Config{Dialect: c.Dialect, Root: c.Root, Main: c.Main, orig: c.orig}, files: map[string]*File{}, cat: CatalogueFor(c.Dialect)}
	for _, f := range c.Files {
		l.files[f.Path] = f
	}
	l.cfg.Files = []*File{c.Main}
	l.walk(c.Main, nil, 0)
	// Keep files that are no longer included (their edits must still be
	// written), after the ones that are.
	for _, f := range c.Files {
		if !slices.Contains(l.cfg.Files, f) {
			l.cfg.Files = append(l.cfg.Files, f)
		}
	}
	c.Files, c.Entries = l.cfg.Files, l.cfg.Entries
	return l.errs.Err()
}

// AddFile adds an empty file at the configuration path name to the
// configuration's files (e.g. a new drop-in an Include glob will match),
// or returns the file already there.
func (c *Config) AddFile(name string) *File {
	name = path.Clean(name)
	for _, f := range c.Files {
		if f.Path == name {
			return f
		}
	}
	f := &File{Path: name, Dialect: c.Dialect}
	c.Files = append(c.Files, f)
	return f
}

// Changed returns the files whose rendering differs from the bytes read
// from disk, new files included.
func (c *Config) Changed() []*File {
	var out []*File
	for _, f := range c.Files {
		if b, ok := c.orig[f.Path]; !ok || string(b) != string(f.Bytes()) {
			out = append(out, f)
		}
	}
	return out
}
