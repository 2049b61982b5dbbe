package files

import (
	"fmt"
	"slices"
	"strings"
)

// change stages the line edits of one Set or Unset on top of cfg, which
// it never modifies: each edited file gets a new version in files.
type change struct {
	cfg   *Config
	files map[string]*File // the edited version of each file, by path
	edits []Edit
	next  *Config // the configuration with the change made, once derived
	// tested and effective are takesEffect's answer, once asked.
	tested, effective bool
	// added is the header of the block addBlock added to the main file:
	// a later set of the same change (SetAll) for the scope goes into it.
	added *Line
	// own holds the file versions this change made by inserting, which no
	// configuration holds yet, with the line terminator of their lines.
	own map[*File]string
	// moved maps a file's unterminated last line to the copy an insert
	// after it made to give it a terminator (see File.insert): a later set
	// of the same change finds the line there.
	moved map[*Line]*Line
}

func newChange(c *Config) *change { return &change{cfg: c, files: map[string]*File{}} }

// file returns the current version of f: this change's, else the
// configuration's (an Entry or Block may hold an earlier version).
func (ch *change) file(f *File) *File {
	if g, ok := ch.files[f.Path]; ok {
		return g
	}
	if g := ch.cfg.File(f.Path); g != nil {
		return g
	}
	return f
}

// line returns the line of this change's version of its file that
// stands for l, a line of the configuration.
func (ch *change) line(l *Line) *Line {
	for {
		m, ok := ch.moved[l]
		if !ok {
			return l
		}
		l = m
	}
}

// update gives directive line l of f the value value.
func (ch *change) update(f *File, l *Line, value string) {
	cur, l := ch.file(f), ch.line(l)
	i := slices.Index(cur.Lines, l)
	next := cur.replaced(i, l.withValue(value))
	ch.files[f.Path] = next
	ch.edits = append(ch.edits, Edit{Kind: EditUpdate, File: f.Path, Line: i + 1, Before: l.Text, After: next.Lines[i].Text})
}

// remove deletes line l of f, unless an earlier edit did.
func (ch *change) remove(f *File, l *Line) {
	cur, l := ch.file(f), ch.line(l)
	i := slices.Index(cur.Lines, l)
	if i < 0 {
		return
	}
	ch.files[f.Path] = cur.removed(i)
	ch.edits = append(ch.edits, Edit{Kind: EditRemove, File: f.Path, Line: i + 1, Before: l.Text})
}

// insert adds a line with text before index i of f, recording the edit
// unless it is layout (a blank line). The first insert into a file copies
// its lines; the copy is the change's own until it is derived, so the
// inserts after it (a new block's lines, SetAll's settings) go into it in
// place.
func (ch *change) insert(f *File, i int, text string) {
	cur := ch.file(f)
	eol, own := ch.own[cur]
	if !own {
		eol = cur.EOL()      // adding lines that end the same never changes it
		cur = cur.copied(16) // room for a block and its settings
		if ch.own == nil {
			ch.own = map[*File]string{}
		}
		ch.own[cur] = eol
	}
	var before *Line
	if i > 0 {
		before = cur.Lines[i-1]
	}
	cur.insert(i, text, eol)
	if before != nil && cur.Lines[i-1] != before {
		if ch.moved == nil {
			ch.moved = map[*Line]*Line{}
		}
		ch.moved[before] = cur.Lines[i-1]
	}
	ch.files[f.Path] = cur
	if text != "" {
		ch.edits = append(ch.edits, Edit{Kind: EditInsert, File: f.Path, Line: i + 1, After: cur.Lines[i].Text})
	}
}

// set writes value (configuration text) for k in scope without checking
// that it takes effect. The rules, in order: edit the occurrence that
// decides the value, in place (for cumulative keywords, the first, the
// others removed); a global keyword set nowhere goes at the end of the
// global section of the file into (the main file when ""); a block keyword
// goes at the end of the scope's block, or into a new block.
func (ch *change) set(scope Scope, k *Keyword, value, into string) error {
	c := ch.cfg
	var occ []*Entry
	for _, en := range c.Entries {
		if en.Keyword == k && c.inScope(scope, en) {
			occ = append(occ, en)
		}
	}
	switch {
	case len(occ) > 0:
		return ch.setInPlace(scope, k, value, occ)
	case scope.Global():
		f := c.Main
		if into != "" {
			f = c.File(into)
		}
		ch.insert(f, ch.file(f).GlobalEnd(), k.Name+" "+value)
		return nil
	}
	for _, b := range c.Blocks {
		if c.blockInScope(scope, b) {
			ch.insertInBlock(b.File, b.Line, k.Name+" "+value)
			return nil
		}
	}
	if ch.added != nil {
		ch.insertInBlock(c.Main, ch.added, k.Name+" "+value)
		return nil
	}
	ch.addBlock(scope, k, value)
	return nil
}

// insertInBlock adds directive text at the end of the block of f whose
// header is line header, indented as the block's lines are.
func (ch *change) insertInBlock(f *File, header *Line, text string) {
	f = ch.file(f)
	h := slices.Index(f.Lines, ch.line(header))
	ch.insert(f, f.blockEnd(h), f.indentOf(h)+text)
}

// setInto writes value for k into the file into alone: at the end of its
// global section, or as a new block at its end for a block scope.
func (ch *change) setInto(scope Scope, k *Keyword, value, into string) {
	f := ch.file(ch.cfg.File(into))
	if scope.Global() {
		ch.insert(f, f.GlobalEnd(), k.Name+" "+value)
		return
	}
	header := "Match " + scope.Match
	if scope.Host != "" {
		header = "Host " + scope.Host
	}
	at, indent := len(f.Lines), f.indentOf(len(f.Lines))
	if at > 0 && strings.TrimSpace(f.Lines[at-1].Text) != "" {
		ch.insert(f, at, "")
		at++
	}
	ch.insert(f, at, header)
	ch.insert(f, at+1, indent+k.Name+" "+value)
}

// setInPlace edits the occurrence of k in occ that decides its value; a
// line that other scopes read too is a conflict.
func (ch *change) setInPlace(scope Scope, k *Keyword, value string, occ []*Entry) error {
	c := ch.cfg
	for _, en := range occ {
		if other := c.sharedOutside(scope, en); other != nil {
			return &Conflict{Keyword: k.Name, Scope: scope, Winner: en.Pos(),
				Reason: fmt.Sprintf("that line sits in a file that is also read %s, so editing it would change what other %s get; set the value in %s by hand", where(other), c.others(), scope)}
		}
	}
	win := occ[0]
	if k.Combine == LastWins || k.Combine == LastWinsAnywhere {
		win = occ[len(occ)-1]
	}
	ch.update(win.File, win.Line, value)
	if k.Combine == Cumulative {
		for _, en := range occ[1:] {
			ch.remove(en.File, en.Line)
		}
	}
	return nil
}

// addBlock adds a new block for scope to the main file holding the one
// directive, before the first block of the main file that would shadow it
// (above that block's comments), or at the end.
func (ch *change) addBlock(scope Scope, k *Keyword, value string) {
	f := ch.file(ch.cfg.Main)
	header, at := "Match "+scope.Match, len(f.Lines)
	if scope.Host != "" {
		header = "Host " + scope.Host
	}
	for i, l := range f.Lines {
		if isHeader(l) && ch.cfg.shadows(f, l, scope) {
			at = i
			break
		}
	}
	indent := f.indentOf(len(f.Lines))
	// Keep blocks apart by a blank line, as people write them, and keep
	// the comments above the shadowing block with it.
	if at < len(f.Lines) {
		j := at
		for j > 0 && f.Lines[j-1].Kind != Directive {
			j--
		}
		for j < at && f.Lines[j].Kind == Blank {
			j++
		}
		at = j
		ch.insert(f, at, "")
	} else if at > 0 && strings.TrimSpace(f.Lines[at-1].Text) != "" {
		ch.insert(f, at, "")
		at++
	}
	ch.insert(f, at, header)
	ch.added = ch.file(f).Lines[at]
	ch.insert(f, at+1, indent+k.Name+" "+value)
}

// shadows reports whether the block headed by line l would take
// precedence for the connections or hosts scope selects.
func (c *Config) shadows(f *File, l *Line, scope Scope) bool {
	cat := c.Catalogue()
	b, err := cat.parseBlock(f, l, cat.view(l), nil)
	if err != nil {
		return false
	}
	if c.Dialect == Server {
		conn, err := c.Catalogue().ProbeConn(scope)
		return err == nil && serverMatch(b.Criteria, conn)
	}
	host := c.Catalogue().ProbeHost(scope)
	if b.Host {
		return matchHostPatterns(host, b.Patterns)
	}
	ok, _, _ := newEffective(0).clientMatch(b.Criteria, &clientState{target: Target{Host: host}, host: host}, false)
	return ok
}
