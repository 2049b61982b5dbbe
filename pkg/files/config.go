package files

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// MaxIncludeDepth is OpenSSH's limit on nested Include (SERVCONF_MAX_DEPTH
// and READCONF_MAX_DEPTH).
const MaxIncludeDepth = 16

// SSHDir is the directory relative Include paths are taken from.
const SSHDir = "/etc/ssh"

// Config is a configuration as OpenSSH reads it: a main file and every file
// it includes, with the directives in OpenSSH's evaluation order. A Config
// is immutable once loaded; edits go through a Draft, which yields new
// Configs and leaves this one, and every Entry and Block taken from it, as
// they were.
type Config struct {
	// Dialect is the language of every file.
	Dialect Dialect
	// Root maps configuration paths to host paths.
	Root *Root
	// Main is the file the configuration starts from.
	Main *File
	// Files holds every file read, main first, each once, in the order
	// OpenSSH first reads them; files a Draft edited but that are no
	// longer included follow.
	Files []*File
	// Entries are the value directives (not Include, Host or Match) in
	// evaluation order: Includes expanded inline, a file included twice
	// appearing twice.
	Entries []*Entry
	// Blocks are the Host and Match blocks in evaluation order, each
	// occurrence once (a file included twice gives its blocks twice).
	// Blocks[i].Index is i.
	Blocks []*Block

	// Warnings are things OpenSSH accepts silently but a person should
	// know, e.g. an Include glob that matches a directory, or a directive
	// the model does not cover (see Unmodelled).
	Warnings ErrorList
	// Unmodelled are the directives the model does not cover and leaves as
	// they are: keywords of a distribution's patches (Red Hat's
	// GSSAPIEnablek5users), and, with LoadOptions.KeepUnknown, keywords the
	// catalogue does not know. They have no Entry and no effect on values.
	Unmodelled []Unmodelled
	// Version is the OpenSSH release the configuration was read for
	// (DefaultVersion when none was given).
	Version Version

	cat         *Catalogue          // Version's catalogue of Dialect
	assumed     bool                // Version was not given (DefaultVersion assumed)
	keepUnknown bool                // see LoadOptions
	onlyUnknown bool                // every load error was an unknown keyword
	localUsers  []string            // see WithLocalUsers
	orig        map[string]origFile // files read from disk, by path; shared by derived Configs
	globs       map[string][]string // Include globs' matches on disk, by pattern; shared too
	changed     time.Time           // see Changed
	walked      map[string]int      // how many times the walk read each file, by path
	byPath      map[string]*File    // Files by path (the first of a path), when the loader made c
	evals       *evalMemo           // the evaluations made so far, when the loader made c
}

// origFile is a file as read from disk: its bytes and their parse.
type origFile struct {
	text string
	file *File
}

// Unmodelled is a directive the model does not cover.
type Unmodelled struct {
	Pos     Pos
	Keyword string // as written
	// Vendor names the distribution whose patches add the keyword; ""
	// for a keyword the catalogue does not know (LoadOptions.KeepUnknown).
	Vendor string
}

// Catalogue returns the keyword catalogue the configuration was read
// with: its dialect as its Version knows it. Keywords of its Entries and
// of edits on it come from this catalogue.
func (c *Config) Catalogue() *Catalogue {
	if c.cat == nil {
		return c.Version.Catalogue(c.Dialect)
	}
	return c.cat
}

// Original returns the bytes the file at path had when it was read, or
// false for a file that was not read from disk.
func (c *Config) Original(path string) ([]byte, bool) {
	o, ok := c.orig[path]
	if !ok {
		return nil, false
	}
	return []byte(o.text), true
}

// File returns the file at the configuration path name, or nil when the
// configuration holds none.
func (c *Config) File(name string) *File {
	if c.byPath != nil {
		return c.byPath[name]
	}
	for _, f := range c.Files {
		if f.Path == name {
			return f
		}
	}
	return nil
}

// WithLocalUsers returns a copy of c whose client values must take effect
// for each of the local accounts users (ssh's Match user and localuser
// depend on who runs ssh); nil means root and one other account.
func (c *Config) WithLocalUsers(users []string) *Config {
	cp := *c
	cp.localUsers = users
	return &cp
}

// Entry is one value directive at one place in the evaluation order.
type Entry struct {
	// File and Line locate the directive; Num is its 1-based line number
	// in File. File may be an earlier version of the configuration's file
	// of that Path (an edit after the line leaves its entry as it was):
	// both versions hold Line at Num.
	File *File
	Line *Line
	Num  int
	// Keyword is the catalogue entry the directive's keyword names.
	Keyword *Keyword
	// Args are the directive's arguments in normal form (see Normalize).
	Args []string
	// Block is the innermost Host or Match block the directive sits in,
	// nil at global scope.
	Block *Block
}

// Pos returns the directive's position.
func (e *Entry) Pos() Pos { return Pos{File: e.File.Path, Line: e.Num} }

// Block is one Host or Match block at one place in the evaluation order.
// It runs from its header line to the next Host/Match line of the same file
// or the end of that file.
type Block struct {
	// File and Line locate the header line; Num is its 1-based line
	// number in File (which may be an earlier version, as for Entry).
	File *File
	Line *Line
	Num  int
	// Index is the block's position in Config.Blocks.
	Index int
	// Parent is the block the Include that read this block's file sat in,
	// nil when that Include was at global scope or the file is the main
	// file. A block applies only when its parent applies.
	Parent *Block
	// Host is true for an ssh Host block, false for a Match block.
	Host bool
	// Patterns is a Host block's pattern list.
	Patterns []string
	// Criteria is a Match block's criteria, all of which must hold.
	Criteria []Criterion
}

// Pos returns the position of the block's header line.
func (b *Block) Pos() Pos { return Pos{File: b.File.Path, Line: b.Num} }

// Criterion is one Match criterion, e.g. "User alice,bob" or "!host x".
type Criterion struct {
	// Attr is the lowercase attribute: user, host, address, all, ...
	Attr string
	// Arg is the pattern list argument; empty for all, canonical, final.
	Arg string
	// Negate is true for ssh's "!attr" form.
	Negate bool
}

// Load reads the configuration whose main file is at the absolute
// configuration path name under root, expanding Include as OpenSSH does.
// The returned Config is complete as far as it could be read; the error,
// an ErrorList, reports every problem OpenSSH would reject, each at the
// file:line it comes from.
//
// Load reads the configuration as DefaultVersion (OpenSSH 9.2) does;
// LoadWith reads it as another release does.
func Load(root *Root, name string, d Dialect) (*Config, error) {
	return LoadWith(root, name, d, LoadOptions{})
}

// LoadOptions say how LoadWith reads a configuration.
type LoadOptions struct {
	// Version is the OpenSSH release that reads the configuration; the
	// zero Version stands for DefaultVersion. It decides the keywords
	// known (a keyword of another release is an error naming the releases
	// that know it), how lines are split (before 8.7: strdelim, and sshd
	// drops everything after a '#'), how Match criteria are split (from
	// 9.9 on: like arguments), precedence rules that changed, and the
	// defaults.
	Version Version
	// KeepUnknown says that the host's OpenSSH is known to accept the
	// configuration as it stands (sshd -t passed on it): a keyword the
	// catalogue does not know is then kept as it is, listed in Unmodelled
	// and Warnings, instead of being an error. Keywords of distribution
	// patches the model does not cover (Red Hat's GSSAPIEnablek5users,
	// KerberosUseKuserok) are always kept so.
	KeepUnknown bool
}

// LoadWith is Load for the OpenSSH release and rules opts gives.
func LoadWith(root *Root, name string, d Dialect, opts LoadOptions) (*Config, error) {
	return load(root, name, d, opts, cores)
}

// load is LoadWith reading each file on as many cores as cores says for
// its size.
func load(root *Root, name string, d Dialect, opts LoadOptions, cores func(size int) int) (*Config, error) {
	v := opts.Version.orDefault()
	cfg := &Config{Dialect: d, Root: root, Version: v, cat: v.Catalogue(d), assumed: opts.Version.IsZero(),
		keepUnknown: opts.KeepUnknown, orig: map[string]origFile{}, globs: map[string][]string{}}
	l := newLoader(cfg, nil)
	l.cores = cores
	main, err := l.read(name)
	if err != nil {
		l.errs.Addf(Pos{File: name}, "%v", err)
		return l.cfg, l.errs.Err()
	}
	return l.run(main)
}

// OnlyUnknownKeywords reports whether every error of the load that made c
// was a keyword the model's release does not know: the one kind of error
// an OpenSSH that accepts the configuration can overrule (see
// LoadOptions.KeepUnknown). Any other error (an unreadable Include, a FIFO,
// a fan-out) is the model's to report without asking OpenSSH.
func (c *Config) OnlyUnknownKeywords() bool { return c.onlyUnknown }

// derive returns the configuration c becomes when the files in edited
// (by path) replace or join its files: Includes are expanded again over
// the files held in memory (reading from disk only files an Include newly
// matches). Files no longer included are kept, after the others, so that
// their edits are still written.
func (c *Config) derive(edited map[string]*File) (*Config, error) {
	held := make(map[string]*File, len(c.Files)+len(edited))
	for _, f := range c.Files {
		held[f.Path] = f
	}
	for p, f := range edited {
		held[p] = f
	}
	l := newLoader(&Config{Dialect: c.Dialect, Root: c.Root, Version: c.Version, cat: c.cat, assumed: c.assumed, keepUnknown: c.keepUnknown, localUsers: c.localUsers, orig: c.orig, globs: c.globs, changed: c.changed}, held)
	l.sizeLike(c)
	l.prev = c
	next, err := l.run(held[c.Main.Path])
	for _, f := range c.Files {
		l.addFile(held[f.Path])
	}
	for p, f := range edited {
		if held[p] == f {
			l.addFile(f)
		}
	}
	return next, err
}

type loader struct {
	cfg     *Config
	cat     *Catalogue
	files   map[string]*File // files held in memory, by path
	listed  map[*File]bool   // the files in cfg.Files
	errs    ErrorList
	walks   int  // files walked, counting repeats
	aborted bool // a fatal Include error stops the load, as in OpenSSH
	slab    []Entry
	// blockSlab holds the blocks this load made, allocated many at once.
	blockSlab []Block
	// unknowns counts the errors that are a keyword the catalogue does
	// not know.
	unknowns int
	// prev is the configuration derive starts from: its entries and
	// blocks are taken over where the walk meets them unchanged.
	prev      *Config
	prevEntry int // the next of prev.Entries the walk may meet
	prevBlock int // the next of prev.Blocks

	ignoreUnknown string // ssh IgnoreUnknown's pattern list, once seen

	// cores says on how many cores a file read from disk is parsed and
	// its entries made (see prepare); nil is one.
	cores func(size int) int
	// ready holds the entries made ahead of the first walk of a file.
	ready map[*File]ready
}

func newLoader(cfg *Config, held map[string]*File) *loader {
	if held == nil {
		held = map[string]*File{}
	}
	cfg.evals = &evalMemo{}
	return &loader{cfg: cfg, files: held, listed: map[*File]bool{}, cat: cfg.Catalogue()}
}

// sizeLike makes room for as many entries and blocks as c has (a
// configuration derived from c has about as many).
func (l *loader) sizeLike(c *Config) {
	l.cfg.Entries = populated[*Entry](0, len(c.Entries)+8)
	l.cfg.Blocks = populated[*Block](0, len(c.Blocks)+2)
	// No slab: derive takes over c's entries, and only the few lines an
	// edit touched need new ones.
}

// addFile appends f to the configuration's files, once.
func (l *loader) addFile(f *File) {
	if !l.listed[f] {
		l.listed[f] = true
		l.cfg.Files = append(l.cfg.Files, f)
		if l.cfg.byPath == nil {
			l.cfg.byPath = map[string]*File{}
		}
		if _, ok := l.cfg.byPath[f.Path]; !ok {
			l.cfg.byPath[f.Path] = f // the first, as Files has it
		}
	}
}

// newEntry returns a new Entry, allocated with many others.
func (l *loader) newEntry(e Entry) *Entry { return inSlab(&l.slab, e, 1024) }

// inSlab stores v in *slab and returns where. A full slab is left to the
// values it holds and a new one made: small for the few entries or blocks
// an edit's derive makes, doubling up to most for a large configuration.
func inSlab[T any](slab *[]T, v T, most int) *T {
	if len(*slab) == cap(*slab) {
		*slab = populated[T](0, min(max(8, 2*cap(*slab)), most))
	}
	*slab = append(*slab, v)
	return &(*slab)[len(*slab)-1]
}

// run walks the configuration from its main file.
func (l *loader) run(main *File) (*Config, error) {
	l.cfg.Main = main
	l.addFile(main)
	l.walk(main, nil, 0)
	l.cfg.onlyUnknown = l.unknowns > 0 && l.unknowns == l.errs.count()
	return l.cfg, l.errs.Err()
}

// maxWalks bounds the files one load walks (a file included n times counts
// n times), so that Include fan-out cannot make a load run for ever. sshd
// and ssh have no such bound (only Include depth 16) and read 30,000
// drop-ins; ten times the largest fleet layouts seen leaves room.
const maxWalks = 100000

// read returns the parsed file at name, reading it from disk unless it is
// held in memory already.
func (l *loader) read(name string) (*File, error) {
	if f, ok := l.files[name]; ok {
		l.addFile(f)
		return f, nil
	}
	b, changed, err := l.cfg.Root.readFile(name)
	if err != nil {
		return nil, err
	}
	l.cfg.changed = later(l.cfg.changed, changed)
	// b is this load's alone and never written: the lines and the
	// original share its bytes instead of copying them.
	text := unsafe.String(unsafe.SliceData(b), len(b))
	n := 1
	if l.cores != nil {
		n = l.cores(len(text))
	}
	f := parseParts(name, l.cfg.Dialect, splitLines(text, n))
	if n > 1 {
		if l.ready == nil {
			l.ready = map[*File]ready{}
		}
		l.ready[f] = l.prepare(f, n)
	}
	l.cfg.orig[name] = origFile{text: text, file: f}
	l.files[name] = f
	l.addFile(f)
	return f, nil
}

// walk appends f's directives to the configuration. parent is the block the
// Include that read f sat in; depth is the Include nesting.
func (l *loader) walk(f *File, parent *Block, depth int) {
	if l.cfg.walked == nil {
		l.cfg.walked = map[string]int{}
	}
	l.cfg.walked[f.Path]++
	if l.prev == nil {
		// Room for an entry per directive, so that a large file's entries
		// do not grow the list by copies (derive sized it already).
		l.cfg.Entries = grown(l.cfg.Entries, f.directives)
		l.cfg.Blocks = grown(l.cfg.Blocks, f.headers)
	}
	pending := l.ready[f]
	delete(l.ready, f) // a file walked again gets entries of its own
	block := parent
	for i, line := range f.Lines {
		switch {
		case l.aborted:
			return
		case line.Kind != Directive:
		case pending.next(line):
			l.recordReady(pending.take(), block)
		default:
			block = l.directive(f, line, i+1, parent, block, depth)
		}
	}
}

// ready holds the entries prepare made for a file's value directives, in
// line order: a run per core.
type ready [][]Entry

// next reports whether the first entry of r is directive line's.
func (r *ready) next(line *Line) bool {
	for len(*r) > 0 && len((*r)[0]) == 0 {
		*r = (*r)[1:]
	}
	return len(*r) > 0 && (*r)[0][0].Line == line
}

// take removes the first entry of r (next found it) and returns it.
func (r *ready) take() *Entry {
	e := &(*r)[0][0]
	(*r)[0] = (*r)[0][1:]
	return e
}

// prepare makes the entries of f's value directives on n cores ahead of
// its walk: what a value directive sets (keyword, normal form) depends on
// its line alone, so the lines of a large file are read at once, and the
// walk gives each entry its block, in order. Any other directive (Include,
// Host, Match, a keyword the release does not know, a line with an error)
// gets none: the walk reads it, and reports what it must, in order.
func (l *loader) prepare(f *File, n int) ready {
	runs := make(ready, n)
	var wg sync.WaitGroup
	for i := range n {
		from, to := i*len(f.Lines)/n, (i+1)*len(f.Lines)/n
		wg.Go(func() { runs[i] = l.cat.entries(f, from, to) })
	}
	wg.Wait()
	return runs
}

// entries returns the entries of the value directives among f's lines
// from..to (indexes), without their blocks.
func (c *Catalogue) entries(f *File, from, to int) []Entry {
	lines := f.Lines[from:to]
	values := func(l *Line) bool { return l.Kind == Directive && !isHeader(l) }
	n := 0
	for _, line := range lines {
		if values(line) {
			n++
		}
	}
	out := populated[Entry](0, n)
	for i, line := range lines {
		if !values(line) {
			continue
		}
		if k, args, ok := c.value(line); ok {
			out = append(out, Entry{File: f, Line: line, Num: from + i + 1, Keyword: k, Args: args})
		}
	}
	return out
}

// value returns the keyword and normal-form arguments of directive line,
// when the walk records them as they are (see loader.entry): a keyword
// the release knows other than Include, Host and Match, with arguments
// that normalize (none never do).
func (c *Catalogue) value(line *Line) (*Keyword, []string, bool) {
	dv := c.view(line)
	if dv.ignored || dv.err != nil {
		return nil, nil, false
	}
	k, ok := c.Lookup(dv.keyword)
	if !ok || k.Name == "Include" || k.Name == "Host" || k.Name == "Match" {
		return nil, nil, false
	}
	args, err := normalize(c.dialect, k, dv.args)
	return k, args, err == nil
}

// directive reads directive line, number num of f, inside block (parent
// and depth as for walk), and returns the block the lines after it are in.
func (l *loader) directive(f *File, line *Line, num int, parent, block *Block, depth int) *Block {
	if l.reuse(f, line, num, parent, &block) {
		return block
	}
	pos := Pos{File: f.Path, Line: num}
	if l.reuseArgs(f, line, pos, block) {
		return block
	}
	if b, ok := l.reuseHeader(f, line, num, parent); ok {
		return b
	}
	dv := l.cat.view(line)
	switch {
	case dv.ignored:
		return block
	case dv.err != nil:
		l.errs.Add(pos, dv.err.Error())
		return block
	}
	k, err := l.find(dv.keyword)
	if err != nil {
		l.unknown(pos, dv.keyword, err)
		return block
	}
	switch k.Name {
	case "Include":
		l.include(dv, pos, block, depth)
	case "Host", "Match":
		if b := l.block(f, line, dv, pos, parent); b != nil {
			return b
		}
	default:
		l.entry(f, line, dv, pos, k, block)
	}
	return block
}

// block appends the Host or Match block line opens; nil (and an error)
// when its criteria do not parse.
func (l *loader) block(f *File, line *Line, dv view, pos Pos, parent *Block) *Block {
	parsed, err := l.cat.parseBlock(f, line, dv, parent)
	if err != nil {
		l.errs.Add(pos, err.Error())
		return nil
	}
	parsed.Num, parsed.Index = pos.Line, len(l.cfg.Blocks)
	b := inSlab(&l.blockSlab, parsed, 256)
	l.cfg.Blocks = append(l.cfg.Blocks, b)
	return b
}

// lookahead is how far past its cursor derive looks for an entry or block
// of the configuration it starts from: an edit inserts or removes a line
// or two at a time.
const lookahead = 4

// reuse takes over the block or entry of the previous configuration (see
// derive) that line stands for, when the walk meets it unchanged; a block
// taken over becomes *block.
func (l *loader) reuse(f *File, line *Line, num int, parent *Block, block **Block) bool {
	if l.prev == nil {
		return false
	}
	if b, ok := l.reuseBlock(f, line, num, parent); ok {
		*block = b
		l.cfg.Blocks = append(l.cfg.Blocks, b)
		return true
	}
	return l.reuseEntry(f, line, num, *block)
}

// reuseBlock returns the block of the previous configuration (see derive)
// that header line opens, when the walk meets it where that configuration
// had it: same file path and line number, same place in Blocks, same parent
// (which the walk then took over too: a block made anew is never a parent
// in the previous configuration). A block is immutable, so the two
// configurations share it.
func (l *loader) reuseBlock(f *File, line *Line, num int, parent *Block) (*Block, bool) {
	j := l.prevHeader(line)
	if j < 0 {
		return nil, false
	}
	if b := l.prev.Blocks[j]; b.File.Path == f.Path && b.Num == num && b.Index == len(l.cfg.Blocks) && b.Parent == parent {
		l.prevBlock = j + 1
		return b, true
	}
	return nil, false
}

// prevHeader returns the index in the previous configuration's Blocks of
// the block header line opens, looking up to lookahead blocks past the
// cursor; -1 when there is none.
func (l *loader) prevHeader(line *Line) int {
	bs := l.prev.Blocks
	for j := l.prevBlock; j < len(bs) && j < l.prevBlock+lookahead; j++ {
		if bs[j].Line == line {
			return j
		}
	}
	return -1
}

// fromPrev reports whether b was taken over from the previous
// configuration: a block keeps its place in Blocks when it is.
func (l *loader) fromPrev(b *Block) bool {
	return b.Index < len(l.prev.Blocks) && l.prev.Blocks[b.Index] == b
}

// reuseEntry appends the entry of the previous configuration for
// directive line, when the walk meets it where that configuration had it:
// same file path and line number, inside the same (shared) block.
func (l *loader) reuseEntry(f *File, line *Line, num int, block *Block) bool {
	if block != nil && !l.fromPrev(block) {
		return false
	}
	es := l.prev.Entries
	for j := l.prevEntry; j < len(es) && j < l.prevEntry+lookahead; j++ {
		if e := es[j]; e.Line == line {
			// A global-only keyword in a Match all block is recorded at
			// global scope (see entry).
			if e.File.Path != f.Path || e.Num != num || e.Block != block && e.Block != nil {
				return false
			}
			l.prevEntry = j + 1
			l.add(e)
			return true
		}
	}
	return false
}

// reuseArgs records directive line with the keyword and normalized
// arguments the previous configuration (see derive) has for it, when the
// walk meets that line where the previous configuration had it but cannot
// take its entry over (an edit made a new File or Block around it): the
// same line read by the same catalogue has the same keyword and arguments,
// so the line is not split again.
func (l *loader) reuseArgs(f *File, line *Line, pos Pos, block *Block) bool {
	if l.prev == nil {
		return false
	}
	es := l.prev.Entries
	for j := l.prevEntry; j < len(es) && j < l.prevEntry+lookahead; j++ {
		if e := es[j]; e.Line == line {
			l.prevEntry = j + 1
			if block, ok := l.scope(pos, e.Keyword, block); ok {
				l.record(f, line, pos, e.Keyword, block, e.Args)
			}
			return true
		}
	}
	return false
}

// reuseHeader appends a block for header line, with the patterns or
// criteria the previous configuration (see derive) parsed from it, when
// the walk meets that line where the previous configuration had it but
// cannot take its block over (an edit above it moved it, or made a new
// block around it): the same line read by the same catalogue opens the
// same block.
func (l *loader) reuseHeader(f *File, line *Line, num int, parent *Block) (*Block, bool) {
	if l.prev == nil {
		return nil, false
	}
	j := l.prevHeader(line)
	if j < 0 {
		return nil, false
	}
	l.prevBlock = j + 1
	b := l.prev.Blocks[j]
	nb := inSlab(&l.blockSlab, Block{File: f, Line: line, Num: num, Index: len(l.cfg.Blocks), Parent: parent,
		Host: b.Host, Patterns: b.Patterns, Criteria: b.Criteria}, 256)
	l.cfg.Blocks = append(l.cfg.Blocks, nb)
	return nb, true
}

// find looks a keyword up; once the error list is full, an unknown one
// costs no spelling suggestion.
func (l *loader) find(name string) (*Keyword, error) {
	if k, ok := l.cat.Lookup(name); ok {
		return k, nil
	}
	e := l.cat.unknown(name, !l.errs.Full())
	e.Assumed = l.cfg.assumed
	return nil, e
}

// unknown handles a keyword the catalogue does not know: ignored when
// ssh's IgnoreUnknown names it, kept as it is (not modelled) when it is a
// distribution's keyword or the caller said the host accepts it, an error
// otherwise.
func (l *loader) unknown(pos Pos, keyword string, err error) {
	var ke *KeywordError
	errors.As(err, &ke)
	switch {
	case l.ignoreUnknown != "" && MatchPatternList(strings.ToLower(keyword), l.ignoreUnknown, true) == 1:
	case ke != nil && ke.Vendor != "":
		l.cfg.Unmodelled = append(l.cfg.Unmodelled, Unmodelled{Pos: pos, Keyword: keyword, Vendor: ke.Vendor})
		l.cfg.Warnings.Addf(pos, "%s is a %s keyword that sshconverge does not model; the line is kept as it is", keyword, ke.Vendor)
	case l.cfg.keepUnknown:
		l.cfg.Unmodelled = append(l.cfg.Unmodelled, Unmodelled{Pos: pos, Keyword: keyword})
		l.cfg.Warnings.Addf(pos, "%s (kept as it is: OpenSSH accepts this configuration, the model of OpenSSH %s does not know the keyword)", err, l.cfg.Version)
	default:
		l.errs.Add(pos, err.Error())
		l.unknowns++
	}
}

// entry records one value directive found inside block.
func (l *loader) entry(f *File, line *Line, dv view, pos Pos, k *Keyword, block *Block) {
	block, ok := l.scope(pos, k, block)
	if !ok {
		return
	}
	if len(dv.args) == 0 && l.cat.legacy && (k.Type == TypeList || k.Type == TypePatterns || k.Combine == Cumulative) {
		return // before 8.7, a list keyword without arguments is a no-op
	}
	args, err := normalize(l.cfg.Dialect, k, dv.args) // dv.args are the line's own
	if err != nil {
		l.errs.Add(pos, err.Error())
		return
	}
	l.record(f, line, pos, k, block, args)
}

// scope returns the block a directive of keyword k inside block is
// recorded in: nil for a global-only keyword in sshd's Match all (accepted
// there, it applies as a global value, in order). ok is false, and an
// error recorded, when sshd rejects k inside block: a global-only keyword
// in a block that does not apply in its first, connection-less pass. sshd
// checks this before it reads the arguments.
func (l *loader) scope(pos Pos, k *Keyword, block *Block) (_ *Block, ok bool) {
	if l.cfg.Dialect != Server || block == nil || k.InMatch {
		return block, true
	}
	if !appliesWithoutConn(block) {
		l.errs.Addf(pos, "%s is not allowed inside a Match block (%s opens it); move it above the first Match line", k.Name, block.Pos())
		return nil, false
	}
	return nil, true
}

// record appends the entry of directive line, keyword k with normalized
// args, inside block (as scope returned it).
func (l *loader) record(f *File, line *Line, pos Pos, k *Keyword, block *Block, args []string) {
	l.add(l.newEntry(Entry{File: f, Line: line, Num: pos.Line, Keyword: k, Args: args, Block: block}))
}

// recordReady appends entry e, made by prepare, inside block (as for
// entry).
func (l *loader) recordReady(e *Entry, block *Block) {
	if block, ok := l.scope(e.Pos(), e.Keyword, block); ok {
		e.Block = block
		l.add(e)
	}
}

// add appends entry e to the configuration.
func (l *loader) add(e *Entry) {
	l.cfg.Entries = append(l.cfg.Entries, e)
	if e.Keyword.Name == "IgnoreUnknown" && l.ignoreUnknown == "" {
		// Taken wherever it stands: whether its block applies depends on
		// the host, and an error would be worse.
		l.ignoreUnknown = e.Args[0]
	}
}

// include expands one Include line.
func (l *loader) include(dv view, pos Pos, block *Block, depth int) {
	for _, arg := range dv.args {
		for _, m := range l.matches(pos, arg) {
			if !l.includeFile(pos, m, block, depth) {
				return
			}
		}
	}
}

// matches returns the paths one Include argument names, in byte order:
// the files on disk its glob matches, and the files held in memory (new
// drop-ins) it matches too.
func (l *loader) matches(pos Pos, arg string) []string {
	if arg == "" {
		l.errs.Add(pos, "empty Include argument")
		return nil
	}
	if strings.HasPrefix(arg, "~") {
		l.errs.Addf(pos, "Include %s: a path relative to a home directory is not supported here; use an absolute path", arg)
		return nil
	}
	pattern := arg
	if !path.IsAbs(pattern) {
		pattern = SSHDir + "/" + pattern
	}
	matches, err := l.glob(pattern)
	if err != nil {
		l.errs.Addf(pos, "Include %s: %v", arg, err)
		return nil
	}
	for name := range l.files {
		if _, onDisk := l.cfg.orig[name]; !onDisk && globMatch(pattern, name) && !slices.Contains(matches, name) {
			matches = append(matches, name) // a new file, held in memory only
		}
	}
	slices.Sort(matches)
	return matches
}

// glob returns the files on disk that pattern matches. A configuration
// lists a pattern once: those derived from it (after each edit of a plan)
// see the disk as it was loaded, plus the files they hold in memory.
func (l *loader) glob(pattern string) ([]string, error) {
	if m, ok := l.cfg.globs[pattern]; ok {
		return slices.Clone(m), nil
	}
	m, changed, err := l.cfg.Root.glob(pattern)
	if err == nil {
		l.cfg.globs[pattern] = slices.Clone(m)
		l.cfg.changed = later(l.cfg.changed, changed)
	}
	return m, err
}

// includeFile reads and walks the included file m; it returns false when
// the load must stop (OpenSSH aborts on these too).
func (l *loader) includeFile(pos Pos, m string, block *Block, depth int) bool {
	if depth+1 > MaxIncludeDepth {
		l.errs.Addf(pos, "Include %s: more than %d nested Includes (an Include loop?)", m, MaxIncludeDepth)
		l.aborted = true
		return false
	}
	if l.walks++; l.walks > maxWalks {
		l.errs.Addf(pos, "Include %s: more than %d files included in all; simplify the Includes", m, maxWalks)
		l.aborted = true
		return false
	}
	inc, err := l.read(m)
	switch {
	case errors.Is(err, errIsDir):
		l.cfg.Warnings.Addf(pos, "Include %s matches a directory, which OpenSSH reads as an empty file", m)
	case errors.Is(err, fs.ErrNotExist):
		l.errs.Addf(pos, "Include %s: no such file", m)
	case err != nil:
		l.errs.Addf(pos, "Include %s: %v", m, err)
	default:
		l.walk(inc, block, depth+1)
	}
	return true
}

// appliesWithoutConn reports whether sshd's connection-less first pass
// applies block b: only Match all does, and only inside blocks that do.
func appliesWithoutConn(b *Block) bool {
	for ; b != nil; b = b.Parent {
		if len(b.Criteria) != 1 || b.Criteria[0].Attr != "all" {
			return false
		}
	}
	return true
}

// parseBlock parses a Host or Match header line as the catalogue's
// release reads it (dv: its view of the line).
func (c *Catalogue) parseBlock(f *File, line *Line, dv view, parent *Block) (Block, error) {
	b := Block{File: f, Line: line, Parent: parent}
	if strings.EqualFold(dv.keyword, "host") {
		b.Host = true
		b.Patterns = dv.args
		return b, nil
	}
	words, err := c.criteriaWords(dv)
	if err != nil {
		return Block{}, err
	}
	if b.Criteria, err = c.parseCriteria(words); err != nil {
		return Block{}, err
	}
	return b, nil
}

// ParseCriteria parses and validates the criteria of a Match line of
// dialect d, as written after the keyword (e.g. "User backup"), as
// DefaultVersion reads them; Catalogue.ParseCriteria as another release
// does.
func ParseCriteria(d Dialect, s string) ([]Criterion, error) { return CatalogueFor(d).ParseCriteria(s) }

// ParseCriteria parses and validates the criteria of a Match line, as
// written after the keyword, as the catalogue's release reads them.
func (c *Catalogue) ParseCriteria(s string) ([]Criterion, error) {
	dv := view{rest: s}
	switch {
	case c.legacy:
		for next := 0; next >= 0; {
			var tok string
			var null bool
			tok, next, null = strdelimLegacy(s, next, true)
			if null || tok == "" {
				break
			}
			dv.args = append(dv.args, tok)
		}
	default:
		args, _, err := argvSplit(s)
		if err != nil {
			return nil, fmt.Errorf("Match: %w", err)
		}
		dv.args = args
	}
	words, err := c.criteriaWords(dv)
	if err != nil {
		return nil, err
	}
	return c.parseCriteria(words)
}

// criteriaWords splits a Match line's criteria as the release does:
// before 8.7 with strdelim (no comments in ssh; sshd cut the line at '#'
// already); up to 9.8 with strdelim, a word starting with '#' ending the
// line; from 9.9 on like any arguments (argv_split: single quotes group
// too), "attr=value" words split.
func (c *Catalogue) criteriaWords(dv view) ([]string, error) {
	switch {
	case c.legacy:
		return dv.args, nil
	case c.version.before(rel(9, 9)):
		var words []string
		for next := 0; next >= 0 && next < len(dv.rest); {
			var word string
			var ok bool
			word, _, _, next, ok = strdelim(dv.rest, next)
			if !ok {
				return nil, errors.New("Match: unterminated quote")
			}
			if word != "" && word[0] == '#' {
				break
			}
			words = append(words, word)
		}
		return words, nil
	}
	words := make([]string, 0, len(dv.args)+2)
	for _, w := range dv.args {
		if attr, val, ok := strings.Cut(w, "="); ok {
			if arg, known := c.criteria[strings.ToLower(strings.TrimPrefix(attr, "!"))]; known && arg {
				words = append(words, attr, val)
				continue
			}
		}
		words = append(words, w)
	}
	return words, nil
}

// parseCriteria validates the words of a Match line's criteria as
// match_cfg_line does: criteria the release knows, each with its argument
// when it takes one, "all" alone (in ssh also beside canonical/final).
func (c *Catalogue) parseCriteria(words []string) ([]Criterion, error) {
	var crit []Criterion
	for i := 0; i < len(words); i++ {
		if words[i] == "" {
			continue
		}
		cr, err := c.criterion(words, &i)
		if err != nil {
			return nil, err
		}
		crit = append(crit, cr)
	}
	if len(crit) == 0 {
		return nil, errors.New("Match: missing criteria; use Match all for every connection")
	}
	for _, cr := range crit {
		if cr.Attr == "all" && len(crit) > 1 && (c.dialect == Server || !onlyFinalCanonical(crit)) {
			return nil, errors.New("Match: 'all' cannot be combined with other criteria")
		}
	}
	return crit, nil
}

// criterion reads the criterion at words[*i] and its argument, advancing
// *i past what it read.
func (c *Catalogue) criterion(words []string, i *int) (Criterion, error) {
	word := words[*i]
	cr := Criterion{}
	if c.dialect == Client && word[0] == '!' {
		cr.Negate, word = true, word[1:]
	}
	cr.Attr = strings.ToLower(word)
	needsArg, known := c.criteria[cr.Attr]
	if !known {
		return cr, c.criterionError(word)
	}
	if needsArg {
		if *i++; *i >= len(words) || words[*i] == "" || words[*i][0] == '#' {
			return cr, fmt.Errorf("Match: missing argument for %s", word)
		}
		cr.Arg = words[*i]
	}
	if c.dialect == Server && (cr.Attr == "address" || cr.Attr == "localaddress") {
		if err := checkAddrList(cr.Arg); err != nil {
			return cr, fmt.Errorf("Match %s: %w", word, err)
		}
	}
	return cr, nil
}

// criterionError explains a Match criterion the release does not accept.
func (c *Catalogue) criterionError(word string) error {
	for _, cr := range specOf(c.dialect).criteria {
		if strings.EqualFold(cr.name, word) {
			return fmt.Errorf("Match %s needs OpenSSH %s or later; this host runs %s", word, cr.since, c.version)
		}
	}
	return fmt.Errorf("Match: unsupported criterion %q%s", word, suggestCriterion(strings.ToLower(word), c.criteria))
}

// suggestCriterion returns "; did you mean X?" for the criterion of attrs
// nearest to the unknown attr, or "" when none is close.
func suggestCriterion(attr string, attrs map[string]bool) string {
	best, bestDist := "", len(attr)/3+1
	for a := range attrs {
		if d := editDistance(attr, a); d < bestDist || d == bestDist && best != "" && a < best {
			best, bestDist = a, d
		}
	}
	if best == "" {
		return ""
	}
	name := best
	if n, ok := criterionNames[best]; ok {
		name = n
	}
	return fmt.Sprintf("; did you mean %s?", name)
}

// criterionNames spells the criteria as the manual pages do.
var criterionNames = map[string]string{
	"all": "All", "user": "User", "group": "Group", "host": "Host", "address": "Address",
	"localaddress": "LocalAddress", "localport": "LocalPort", "rdomain": "RDomain",
	"invalid-user": "Invalid-User", "version": "Version",
	"canonical": "canonical", "final": "final", "exec": "exec", "originalhost": "originalhost", "localuser": "localuser",
	"localnetwork": "localnetwork", "tagged": "tagged", "command": "command", "sessiontype": "sessiontype",
}

// checkAddrList rejects what sshd's addr_match_list rejects: an empty
// entry, or a CIDR block with bits set beyond its mask.
func checkAddrList(list string) error {
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimPrefix(p, "!")
		if p == "" {
			return fmt.Errorf("empty entry in address list %q", list)
		}
		if pfx, err := netip.ParsePrefix(p); err == nil && pfx.Masked() != pfx {
			return fmt.Errorf("%s has bits set beyond its /%d mask; write %s", p, pfx.Bits(), pfx.Masked())
		}
	}
	return nil
}

func onlyFinalCanonical(crit []Criterion) bool {
	for _, c := range crit {
		if c.Attr != "all" && c.Attr != "final" && c.Attr != "canonical" {
			return false
		}
	}
	return true
}

// DropInDir returns the directory of the first Include in the main file's
// global section whose pattern is DIR/*.conf (Debian, Ubuntu and RHEL 9 ship
// one on the first lines), or false when there is none.
func (c *Config) DropInDir() (string, bool) {
	for _, l := range c.Main.Lines {
		if isHeader(l) {
			break
		}
		if l.Kind != Directive || l.flags&lexBad != 0 || !strings.EqualFold(l.Keyword(), "include") {
			continue
		}
		for _, arg := range l.Args() {
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

// Changed returns the newest change time (ctime) of what the
// configuration was read from on disk: its files, and the directories
// whose entries decided its Include globs' matches. None of them changed
// after it (an edit, a file added or removed, a chmod all set a ctime),
// unless a clock was set back.
func (c *Config) Changed() time.Time { return c.changed }

// DiskDigest returns the SHA-256, in hex, of the configuration's files as
// they were read from disk: every file read, in reading order, by path and
// content. Two loads with the same digest read the same bytes.
func (c *Config) DiskDigest() string {
	h := sha256.New()
	var n [8]byte
	for _, f := range c.Files {
		o, ok := c.orig[f.Path]
		if !ok {
			continue // not on disk (a Draft added it)
		}
		for _, s := range []string{f.Path, o.text} {
			binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
			h.Write(n[:])
			_, _ = io.WriteString(h, s) // a hash.Hash never fails
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
