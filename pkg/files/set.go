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
	vs, err := c.effectiveIn(scope, k)
	if err != nil {
		return nil, err
	}
	if ok, _ := holds(vs, norm); ok {
		return nil, nil
	}
	snap := c.snapshot()
	edits, err := c.set(scope, k, FormatValue(k, args), into)
	if err == nil {
		err = c.reload()
	}
	var lost bool
	if err == nil {
		vs, _ := c.effectiveIn(scope, k)
		ok, _ := holds(vs, norm)
		lost = !ok
	}
	if err == nil && !lost {
		return edits, nil
	}
	c.restore(snap)
	if err != nil {
		return nil, err
	}
	// Name the winner as it stands in the unchanged files.
	cf := &Conflict{Keyword: k.Name, Scope: scope, Reason: "the new line would sit where it does not apply"}
	vs, _ = c.effectiveIn(scope, k)
	if _, v := holds(vs, norm); v != nil && !v.Default {
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
	k, err := CatalogueFor(c.Dialect).Find(name)
	if err != nil {
		return nil, err
	}
	// Check every occurrence before removing any, so that a conflict
	// leaves the files as they were.
	var doomed []*Entry
	for _, en := range c.Entries {
		if en.Keyword != k || !c.inScope(scope, en) || slices.ContainsFunc(doomed, func(d *Entry) bool { return d.Line == en.Line }) {
			continue
		}
		if other := c.sharedOutside(scope, en.Line); other != nil {
			return nil, &Conflict{Keyword: k.Name, Scope: scope, Winner: en.Pos(),
				Reason: fmt.Sprintf("that line sits in a file that is also read %s, so removing it would change what other %s get", where(other), c.others())}
		}
		doomed = append(doomed, en)
	}
	var edits []Edit
	for _, en := range doomed {
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
	k, err := CatalogueFor(c.Dialect).Find(name)
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

// defaultLocalUsers are the local users a client value must hold for when
// Config.LocalUsers is nil: ssh's Match user and localuser depend on who
// runs ssh, so a value takes effect only if it does for root and others.
var defaultLocalUsers = []string{"root", "sshconverge-probe"}

// ValueIn returns the effective value of keyword name for scope: for a
// Match or Host block, what a connection or host the block selects gets;
// for the global section, what one that no block selects gets (for ssh, as
// the first of the local users runs it). When no directive sets the
// keyword there it returns OpenSSH's default (Value.Default), or nil when
// the default is not known.
func (c *Config) ValueIn(scope Scope, name string) (*Value, error) {
	k, err := CatalogueFor(c.Dialect).Find(name)
	if err != nil {
		return nil, err
	}
	vs, err := c.effectiveIn(scope, k)
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// effectiveIn returns the value of k for each probe that stands for scope
// (connections or hosts the scope selects; for the global section, ones no
// criterion selects).
func (c *Config) effectiveIn(scope Scope, k *Keyword) ([]*Value, error) {
	var vs []*Value
	if c.Dialect == Server {
		conn, err := ProbeConn(scope)
		if err != nil {
			return nil, err
		}
		return append(vs, c.Server(conn).valueOrDefault(c.Dialect, k)), nil
	}
	users := c.LocalUsers
	if users == nil {
		users = defaultLocalUsers
	}
	for _, u := range users {
		vs = append(vs, c.Client(Target{Host: ProbeHost(scope), LocalUser: u}).valueOrDefault(c.Dialect, k))
	}
	return vs, nil
}

// holds reports whether every value in vs is set to norm; otherwise it
// returns the first value that is not (nil when unset).
func holds(vs []*Value, norm []string) (bool, *Value) {
	for _, v := range vs {
		if v == nil || !slices.Equal(v.Args, norm) {
			return false, v
		}
	}
	return true, nil
}

// inScope reports whether entry en belongs to scope. A block nested in
// another (through an Include inside it) is not the scope its header names:
// it applies only where the outer block does.
func (c *Config) inScope(scope Scope, en *Entry) bool {
	b := en.Block
	switch {
	case scope.Global():
		return b == nil
	case b == nil || b.Parent != nil:
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

// sharedOutside returns an entry for line l that lies outside scope (its
// file is included at several places), or nil.
func (c *Config) sharedOutside(scope Scope, l *Line) *Entry {
	for _, en := range c.Entries {
		if en.Line == l && !c.inScope(scope, en) {
			return en
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
		for _, en := range occ {
			if other := c.sharedOutside(scope, en.Line); other != nil {
				return nil, &Conflict{Keyword: k.Name, Scope: scope, Winner: en.Pos(),
					Reason: fmt.Sprintf("that line sits in a file that is also read %s, so editing it would change what other %s get; set the value in %s by hand", where(other), c.others(), scope)}
			}
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
	for _, b := range c.Blocks {
		if c.inScope(scope, &Entry{Block: b}) {
			f := b.File
			h := slices.Index(f.Lines, b.Line)
			l := f.Insert(f.blockEnd(h), f.indentOf(h)+k.Name+" "+value)
			return []Edit{{Kind: EditInsert, File: f.Path, Line: l.Num, After: l.Text}}, nil
		}
	}
	return c.addBlock(scope, k, value)
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
	// Keep blocks apart by a blank line, as people write them, and keep the
	// comments above the shadowing block with it.
	if at < len(f.Lines) {
		j := at
		for j > 0 && f.Lines[j-1].Kind != Directive {
			j--
		}
		for j < at && f.Lines[j].Kind == Blank {
			j++
		}
		at = j
		f.Insert(at, "")
	} else if at > 0 && strings.TrimSpace(f.Lines[at-1].Text) != "" {
		f.Insert(at, "")
		at++
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
		conn, err := ProbeConn(scope)
		return err == nil && serverMatch(b.Criteria, conn)
	}
	host := ProbeHost(scope)
	if b.Host {
		return matchHostPatterns(host, b.Patterns)
	}
	ok, _, _ := newEffective().clientMatch(b.Criteria, &clientState{target: Target{Host: host}, host: host}, false)
	return ok
}

// ProbeHost returns a host name that scope's Host patterns select: the
// first positive pattern with wildcards filled in. For the global scope it
// returns a name no sensible pattern list names.
func ProbeHost(scope Scope) string {
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

// ProbeConn returns a connection that scope's Match criteria select (the
// zero Conn for the global section), or an error if it finds none.
func ProbeConn(scope Scope) (Conn, error) {
	var conn Conn
	crit := mustCriteria(Server, scope.Match)
	if scope.Match != "" && crit == nil {
		return conn, fmt.Errorf("Match %s: not valid sshd Match criteria", scope.Match)
	}
	for _, cr := range crit {
		switch cr.Attr {
		case "user":
			conn.User = pickCandidate(patternCandidates(cr.Arg), conn.User, func(s string) bool { return MatchPatternList(s, cr.Arg, false) == 1 })
		case "host":
			conn.Host = pickCandidate(patternCandidates(strings.ToLower(cr.Arg)), conn.Host, func(s string) bool { return MatchPatternList(s, cr.Arg, true) == 1 })
		case "rdomain":
			conn.RDomain = pickCandidate(patternCandidates(cr.Arg), conn.RDomain, func(s string) bool { return MatchPatternList(s, cr.Arg, false) == 1 })
		case "address":
			conn.Addr = pickCandidate(addrCandidates(cr.Arg), conn.Addr, func(s string) bool { return matchAddrList(s, cr.Arg) == 1 })
		case "localaddress":
			conn.LAddr = pickCandidate(addrCandidates(cr.Arg), conn.LAddr, func(s string) bool { return matchAddrList(s, cr.Arg) == 1 })
		case "localport":
			conn.LPort, _ = strconv.Atoi(cr.Arg)
		}
	}
	if !serverMatch(crit, conn) {
		return conn, fmt.Errorf("Match %s: no connection satisfies these criteria", scope.Match)
	}
	return conn, nil
}

// pickCandidate returns the first candidate that ok accepts, preferring
// one already chosen for an earlier criterion of the same attribute.
func pickCandidate(cands []string, have string, ok func(string) bool) string {
	if have != "" && ok(have) {
		return have
	}
	for _, c := range cands {
		if ok(c) {
			return c
		}
	}
	return have
}

// patternCandidates returns names that may match a pattern list: its
// positive patterns with wildcards filled in, then generic names.
func patternCandidates(list string) []string {
	var out []string
	for _, p := range strings.Split(list, ",") {
		if p != "" && p[0] != '!' {
			out = append(out, fillPattern(p), strings.NewReplacer("*", "", "?", "z").Replace(p))
		}
	}
	return append(out, "sshconverge-probe", "x")
}

// addrCandidates returns addresses that may match an address list.
func addrCandidates(list string) []string {
	var out []string
	for _, p := range strings.Split(list, ",") {
		if p == "" || p[0] == '!' {
			continue
		}
		if pfx, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pfx.Addr().String(), pfx.Addr().Next().String())
			continue
		}
		out = append(out, strings.NewReplacer("*", "1", "?", "1").Replace(p))
	}
	return append(out, "192.0.2.1", "198.51.100.1", "203.0.113.1", "10.0.0.1", "127.0.0.1", "::1")
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
	c.Files, c.Entries, c.Blocks, c.Warnings = l.cfg.Files, l.cfg.Entries, l.cfg.Blocks, l.cfg.Warnings
	return l.errs.Err()
}

// DropInDir returns the directory of the first Include in the main file's
// global section whose pattern is DIR/*.conf (Debian, Ubuntu and RHEL 9 ship
// one on the first lines), or false when there is none.
func (c *Config) DropInDir() (string, bool) {
	for _, l := range c.Main.Lines {
		if isHeader(l) {
			break
		}
		if l.Kind != Directive || l.Err != nil || !strings.EqualFold(l.Keyword, "include") {
			continue
		}
		for _, arg := range l.Args {
			if !path.IsAbs(arg) {
				arg = SSHDir + "/" + arg
			}
			if dir, file := path.Split(path.Clean(arg)); file == "*.conf" && !hasMeta(dir) {
				return path.Clean(dir), true
			}
		}
	}
	return "", false
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
		b, ok := c.orig[f.Path]
		if !ok && len(f.Lines) == 0 {
			continue // a new file nothing was written into
		}
		if !ok || string(b) != string(f.Bytes()) {
			out = append(out, f)
		}
	}
	return out
}
