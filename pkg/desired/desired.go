// Package desired reads and validates the desired-state file: which sshd
// and ssh settings a machine must have. It owns the YAML schema (version 1)
// and its validation; it knows OpenSSH's keywords and value types through
// pkg/files' catalogue, but never reads configuration files.
package desired

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/sshconverge/agent/pkg/files"
)

// Default configuration paths.
const (
	DefaultServerPath = "/etc/ssh/sshd_config"
	DefaultClientPath = "/etc/ssh/ssh_config"
)

// State is a validated desired-state file.
type State struct {
	// File is the desired-state file's name, as given to Parse.
	File string
	// Version is the schema version (1).
	Version int
	// OpenSSH is the OpenSSH release the state was validated for (see
	// ParseFor): its keywords are those of OpenSSH's catalogue for that
	// release, so a configuration must be loaded for the same release
	// (files.LoadWith) for keywords to compare. The zero Version stands
	// for files.DefaultVersion.
	OpenSSH files.Version
	// Server is the sshd side, nil when the file has none.
	Server *Side
	// Client is the ssh side, nil when the file has none.
	Client *Side
}

// Side is the desired state of one configuration (sshd or ssh).
type Side struct {
	// Dialect says which configuration this is.
	Dialect files.Dialect
	// OpenSSH is the release the side was validated for (State.OpenSSH).
	OpenSSH files.Version
	// Path is the main configuration file, an absolute path resolved under
	// the agent's --root; PathSet is true when the desired state names it
	// (else it is the default, and a distribution may keep it elsewhere).
	Path    string
	PathSet bool
	// Settings are the global settings, in file order.
	Settings []Setting
	// Absent are keywords that must not be set globally.
	Absent []Absent
	// Everywhere are keywords whose global setting must hold for every
	// connection, overriding Match blocks included (sshd only).
	Everywhere []Everywhere
	// Blocks are the Match blocks (sshd) or Host blocks (ssh), in file
	// order.
	Blocks []Block
}

// Block is the desired content of one Match or Host block.
type Block struct {
	// Scope names the block: Scope.Match for a Match block's criteria,
	// Scope.Host for a Host block's pattern list, as written.
	Scope files.Scope
	// Settings are the block's settings, in file order.
	Settings []Setting
	// Pos is where the block is declared.
	Pos files.Pos
}

// Setting is one desired keyword value.
type Setting struct {
	// Keyword is the catalogue entry (aliases resolved).
	Keyword *files.Keyword
	// Args are the value's arguments as written (YAML booleans as yes/no).
	Args []string
	// Normal is Args in OpenSSH's normal form (see files.Normalize): a
	// configuration is in sync when its effective value's normal form
	// equals it.
	Normal []string
	// Pos is where the value is written.
	Pos files.Pos
}

// Everywhere is a keyword whose global setting must hold for every
// connection: a Match block that overrides it is drift.
type Everywhere struct {
	Keyword *files.Keyword
	Pos     files.Pos
}

// Absent is a keyword that must not be set globally.
type Absent struct {
	Keyword *files.Keyword
	Pos     files.Pos
}

// Parse reads a desired-state file named name from src, for
// files.DefaultVersion (OpenSSH 9.2). Every problem is reported, as a
// files.ErrorList of "name:line:col: message" errors; the State is nil
// when there is any.
func Parse(name string, src []byte) (*State, error) {
	return ParseFor(name, src, files.Version{})
}

// ParseFor is Parse for the OpenSSH release v the host runs (the zero
// Version: files.DefaultVersion, assumed). Keywords, Match criteria and
// values are checked against that release: a keyword it does not know is
// an error naming the releases that do ("PerSourcePenalties needs OpenSSH
// 9.8 or later; this host runs 9.2p1"), and a value it could not read back
// as written (before 8.7, quotes and '=' in arguments) is an error too.
func ParseFor(name string, src []byte, v files.Version) (*State, error) {
	p := &parser{file: name, version: v}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		p.yamlError(src, err)
		return nil, p.errs.Err()
	}
	st := &State{File: name, OpenSSH: v}
	if len(doc.Content) == 0 {
		p.errorf(&doc, "empty file; it needs at least version: 1")
		return nil, p.errs.Err()
	}
	root := doc.Content[0]
	sawVersion := false
	p.mapping(root, "the top level", func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			sawVersion = true
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || v.Value != "1" {
				p.errorf(v, "version must be 1 (the only schema version), not %s", describe(v))
				return
			}
			st.Version = 1
		case "sshd":
			st.Server = p.side(files.Server, v)
		case "ssh":
			st.Client = p.side(files.Client, v)
		default:
			p.unknownField(k, key, "version", "sshd", "ssh")
		}
	})
	if root.Kind == yaml.MappingNode && !sawVersion {
		p.errorf(root, "missing version; add version: 1")
	}
	p.errs.Sort()
	if err := p.errs.Err(); err != nil {
		return nil, err
	}
	return st, nil
}

type parser struct {
	file    string
	version files.Version // zero: files.DefaultVersion, assumed
	errs    files.ErrorList
}

// cat returns the catalogue of dialect d for the parser's release.
func (p *parser) cat(d files.Dialect) *files.Catalogue { return p.version.Catalogue(d) }

func (p *parser) pos(n *yaml.Node) files.Pos {
	return files.Pos{File: p.file, Line: n.Line, Col: n.Column}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs.Addf(p.pos(n), format, args...)
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// yamlError turns a YAML syntax error into a positioned error. The YAML
// library names the line where the enclosing construct began; the line
// that breaks the document is found by parsing growing prefixes of it
// (for files of up to maxBisectLines lines), and a tab in an indentation
// is named with its column.
func (p *parser) yamlError(src []byte, err error) {
	msg := strings.TrimPrefix(strings.TrimSpace(err.Error()), "yaml: ")
	line := 0
	if m := yamlLine().FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if l, col, ok := indentTab(src); ok {
		p.errs.Addf(files.Pos{File: p.file, Line: l, Col: col}, "YAML: a tab in the indentation; YAML indents with spaces only")
		return
	}
	if l := firstBadLine(src); l > 0 {
		line = l
	}
	p.errs.Addf(files.Pos{File: p.file, Line: line}, "YAML: %s", msg)
}

// maxBisectLines bounds the search for the line that breaks a document.
const maxBisectLines = 2000

// indentTab finds the first tab in the indentation of a line.
func indentTab(src []byte) (line, col int, ok bool) {
	for i, l := range strings.Split(string(src), "\n") {
		if j := strings.IndexFunc(l, func(r rune) bool { return r != ' ' }); j >= 0 && l[j] == '\t' {
			return i + 1, j + 1, true
		}
	}
	return 0, 0, false
}

// firstBadLine returns the first line n such that the document's first n
// lines do not parse, or 0.
func firstBadLine(src []byte) int {
	lines := strings.SplitAfter(string(src), "\n")
	if len(lines) > maxBisectLines {
		return 0
	}
	var prefix strings.Builder
	for i, l := range lines {
		prefix.WriteString(l)
		var n yaml.Node
		if yaml.Unmarshal([]byte(prefix.String()), &n) != nil {
			return i + 1
		}
	}
	return 0
}

// describe names a node's kind for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

// mapping calls f for each key of a mapping node, reporting duplicate keys.
func (p *parser) mapping(n *yaml.Node, what string, f func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping, not %s", what, describe(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "keys in %s must be names, not %s", what, describe(k))
			continue
		}
		if first, ok := seen[k.Value]; ok {
			p.errorf(k, "%s appears twice in %s (first at %s)", k.Value, what, p.pos(first))
			continue
		}
		seen[k.Value] = k
		f(k.Value, k, v)
	}
}

func (p *parser) unknownField(k *yaml.Node, key string, want ...string) {
	p.errorf(k, "unknown field %q; want one of %s", key, strings.Join(want, ", "))
}

// str returns a scalar string field's value.
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s must be a string, not %s", what, describe(n))
		return "", false
	}
	if err := checkControl(n.Value); err != nil {
		p.errorf(n, "%s: %v", what, err)
		return "", false
	}
	return n.Value, true
}

// checkControl rejects control characters, which could inject lines into
// a configuration file.
func checkControl(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("control character %q is not allowed (a value must be one line of text)", rune(c))
		}
	}
	return nil
}

func (p *parser) side(d files.Dialect, n *yaml.Node) *Side {
	s := &Side{Dialect: d, Path: DefaultServerPath, OpenSSH: p.version}
	name, blocks, blockKey := "sshd", "match", "criteria"
	want := []string{"path", "settings", "absent", "everywhere", "match"}
	if d == files.Client {
		s.Path, name, blocks, blockKey = DefaultClientPath, "ssh", "hosts", "host"
		want = []string{"path", "hosts"}
	}
	lists := map[string]*yaml.Node{} // absent and everywhere, read after settings
	p.mapping(n, name, func(key string, k, v *yaml.Node) {
		switch {
		case key == "path":
			p.path(s, name, v)
		case key == blocks:
			s.Blocks = p.blocks(d, v, blockKey)
		case d == files.Client || !slices.Contains(want, key):
			p.unknownField(k, key, want...)
		case key == "settings":
			s.Settings = p.settings(d, v, files.Scope{})
		default:
			lists[key] = v
		}
	})
	if n := lists["absent"]; n != nil {
		s.Absent = p.absent(d, n, s.Settings)
	}
	if n := lists["everywhere"]; n != nil {
		s.Everywhere = p.everywhere(d, n, s.Settings)
	}
	return s
}

// path reads a side's main configuration path.
func (p *parser) path(s *Side, name string, v *yaml.Node) {
	val, ok := p.str(v, name+".path")
	if !ok {
		return
	}
	if !path.IsAbs(val) || path.Clean(val) != val || strings.Contains(val, "/../") {
		p.errorf(v, "%s.path %q must be an absolute, clean path (it is resolved under --root, which it must not leave)", name, val)
		return
	}
	s.Path, s.PathSet = val, true
}

// everywhere reads the keywords whose global setting must hold for every
// connection: each must be set globally, and allowed in Match (others
// cannot be overridden anyway).
func (p *parser) everywhere(d files.Dialect, n *yaml.Node, set []Setting) []Everywhere {
	var out []Everywhere
	for _, ref := range p.keywordList(d, n, "everywhere") {
		k := ref.Keyword
		switch {
		case !slices.ContainsFunc(set, func(s Setting) bool { return s.Keyword == k }):
			p.errs.Addf(ref.Pos, "%s is listed in everywhere but not set in settings; set the value that must hold everywhere", k.Name)
		case !k.InMatch:
			p.errs.Addf(ref.Pos, "%s cannot be set inside Match, so it holds everywhere already; drop it from everywhere", k.Name)
		default:
			out = append(out, Everywhere(ref))
		}
	}
	return out
}

func (p *parser) blocks(d files.Dialect, n *yaml.Node, key string) []Block {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "must be a list, not %s", describe(n))
		return nil
	}
	var out []Block
	seen := map[string]files.Pos{}
	for _, item := range n.Content {
		b, settings := p.block(d, item, key)
		if b.Scope.Global() {
			continue
		}
		if first, dup := seen[b.Scope.String()]; dup {
			p.errorf(item, "%s appears twice (first at %s); merge the two", b.Scope, first)
			continue
		}
		seen[b.Scope.String()] = b.Pos
		if settings == nil {
			p.errorf(item, "%s has no settings", b.Scope)
			continue
		}
		b.Settings = p.settings(d, settings, b.Scope)
		out = append(out, b)
	}
	return out
}

// block reads one Match or Host block's scope (under key) and returns its
// settings node; the scope is global when the block is unusable.
func (p *parser) block(d files.Dialect, item *yaml.Node, key string) (Block, *yaml.Node) {
	b := Block{Pos: p.pos(item)}
	var settings *yaml.Node
	ok := true
	p.mapping(item, "a "+map[bool]string{true: "Match", false: "Host"}[d == files.Server]+" block", func(k string, kn, v *yaml.Node) {
		switch k {
		case key:
			b.Scope, ok = p.scope(d, v, key)
		case "settings":
			settings = v
		default:
			p.unknownField(kn, k, key, "settings")
		}
	})
	if ok && b.Scope.Global() && item.Kind == yaml.MappingNode {
		p.errorf(item, "missing %s", key)
	}
	return b, settings
}

// scope reads a block's criteria (sshd) or host patterns (ssh).
func (p *parser) scope(d files.Dialect, v *yaml.Node, key string) (files.Scope, bool) {
	val, ok := p.str(v, key)
	if !ok {
		return files.Scope{}, false
	}
	words := strings.Join(strings.Fields(val), " ")
	if d == files.Client {
		if words == "" {
			p.errorf(v, "host must name at least one pattern")
			return files.Scope{}, false
		}
		return files.Scope{Host: words}, true
	}
	if _, err := p.cat(d).ParseCriteria(val); err != nil {
		p.errorf(v, "%v", err)
		return files.Scope{}, false
	}
	return files.Scope{Match: words}, true
}

// keyword looks up a keyword name for a setting or absent entry.
func (p *parser) keyword(d files.Dialect, n *yaml.Node, name string) (*files.Keyword, bool) {
	cat := p.cat(d)
	k, ok := cat.Lookup(name)
	var err error
	switch {
	case ok:
	case p.errs.Full():
		err = fmt.Errorf("unknown %s keyword %q", d, name) // counted only: no suggestion
	default:
		_, err = cat.Find(name) // with the releases that know it, or the nearest spelling
		var ke *files.KeywordError
		if errors.As(err, &ke) {
			ke.Assumed = p.version.IsZero()
			if ke.Vendor != "" {
				err = fmt.Errorf("%w; manage it outside the desired state", ke)
			}
		}
	}
	if err != nil {
		p.errorf(n, "%v", err)
		return nil, false
	}
	switch {
	case k.Name == "Include" || k.Name == "Match" || k.Name == "Host":
		p.errorf(n, "%s cannot be managed as a setting; use the match/hosts lists for blocks", k.Name)
		return nil, false
	case k.Status == files.Deprecated:
		p.errorf(n, "%s is deprecated: OpenSSH %s ignores it; remove it from the desired state", k.Name, release(cat.Version()))
		return nil, false
	case k.Status == files.Unsupported:
		p.errorf(n, "%s is not supported by this OpenSSH build (%s); remove it from the desired state", k.Name, release(cat.Version()))
		return nil, false
	}
	return k, true
}

// release writes a version without its portable release: "9.2".
func release(v files.Version) string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

func (p *parser) settings(d files.Dialect, n *yaml.Node, scope files.Scope) []Setting {
	var out []Setting
	seen := map[*files.Keyword]*yaml.Node{}
	p.mapping(n, "settings", func(name string, kn, v *yaml.Node) {
		k, ok := p.keyword(d, kn, name)
		if !ok {
			return
		}
		if first, dup := seen[k]; dup {
			p.errorf(kn, "%s is set twice (first as %s at %s)", k.Name, first.Value, p.pos(first))
			return
		}
		seen[k] = kn
		if d == files.Server && !scope.Global() && !k.InMatch {
			p.errorf(kn, "%s is not allowed inside a Match block: sshd rejects it there; set it globally", k.Name)
			return
		}
		args, ok := p.value(k, v)
		if !ok {
			return
		}
		norm, err := files.Normalize(d, k, args)
		if err == nil {
			err = p.cat(d).CheckWritable(k, args)
		}
		if err != nil {
			p.errorf(v, "%v", err)
			return
		}
		out = append(out, Setting{Keyword: k, Args: args, Normal: norm, Pos: p.pos(v)})
	})
	return out
}

// value returns a setting's arguments: a scalar split as OpenSSH splits
// arguments (a raw-line keyword's value whole), or a list of scalars. YAML
// booleans mean yes and no.
func (p *parser) value(k *files.Keyword, v *yaml.Node) ([]string, bool) {
	if v.Kind == yaml.SequenceNode {
		return p.listValue(k, v)
	}
	s, ok := p.scalar(k, v)
	if !ok {
		return nil, false
	}
	if k.Type == files.TypeRawLine {
		return p.rawValue(k, v, s)
	}
	args, err := files.SplitArgs(s)
	if err != nil {
		p.errorf(v, "%s: %v", k.Name, err)
		return nil, false
	}
	if len(args) == 0 || slices.Contains(args, "") && len(args) == 1 {
		p.errorf(v, "%s needs a value", k.Name)
		return nil, false
	}
	return args, true
}

// listValue returns a list's items as arguments (joined for a raw-line
// keyword).
func (p *parser) listValue(k *files.Keyword, v *yaml.Node) ([]string, bool) {
	if len(v.Content) == 0 {
		p.errorf(v, "%s needs a value, not an empty list", k.Name)
		return nil, false
	}
	var words []string
	for _, item := range v.Content {
		s, ok := p.scalar(k, item)
		if !ok {
			return nil, false
		}
		words = append(words, s)
	}
	if k.Type == files.TypeRawLine {
		return p.rawValue(k, v, strings.Join(words, " "))
	}
	return words, true
}

// rawValue checks a raw-line keyword's value (the rest of the line,
// written verbatim): OpenSSH would take a leading '=' or blank as the
// separator and drop it, so the line would not say what is desired.
func (p *parser) rawValue(k *files.Keyword, v *yaml.Node, s string) ([]string, bool) {
	switch {
	case s == "":
		p.errorf(v, "%s needs a value", k.Name)
		return nil, false
	case strings.ContainsAny(s[:1], "= \t"):
		p.errorf(v, "%s: a value that starts with %q cannot be written (OpenSSH takes it for the separator); remove it", k.Name, s[:1])
		return nil, false
	}
	return []string{s}, true
}

// scalar returns one scalar's text, YAML booleans as yes or no.
func (p *parser) scalar(k *files.Keyword, n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s needs a value, not %s", k.Name, describe(n))
		return "", false
	}
	if err := checkControl(n.Value); err != nil {
		p.errorf(n, "%s: %v", k.Name, err)
		return "", false
	}
	if n.Tag == "!!bool" {
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return map[bool]string{true: "yes", false: "no"}[b], true
		}
	}
	return n.Value, true
}

func (p *parser) absent(d files.Dialect, n *yaml.Node, set []Setting) []Absent {
	var out []Absent
	for _, ref := range p.keywordList(d, n, "absent") {
		if i := slices.IndexFunc(set, func(s Setting) bool { return s.Keyword == ref.Keyword }); i >= 0 {
			p.errs.Addf(ref.Pos, "%s is both set (at %s) and absent; keep one", ref.Keyword.Name, set[i].Pos)
			continue
		}
		out = append(out, ref)
	}
	return out
}

// keywordList reads a list of keywords (absent, everywhere), each once.
func (p *parser) keywordList(d files.Dialect, n *yaml.Node, what string) []Absent {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a list of keywords, not %s", what, describe(n))
		return nil
	}
	var out []Absent
	seen := map[*files.Keyword]bool{}
	for _, item := range n.Content {
		name, ok := p.str(item, what+" entry")
		if !ok {
			continue
		}
		k, ok := p.keyword(d, item, name)
		if !ok {
			continue
		}
		if seen[k] {
			p.errorf(item, "%s is listed twice in %s", k.Name, what)
			continue
		}
		seen[k] = true
		out = append(out, Absent{Keyword: k, Pos: p.pos(item)})
	}
	return out
}
