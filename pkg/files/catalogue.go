package files

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// This file builds the catalogue of each OpenSSH release from two sources:
//
//   - the hand-written tables (keywords_server.go, keywords_client.go): every
//     keyword any release from 8.4 on knows, with its value type, how
//     repeated lines combine, the releases that know it (Since, Until, and
//     alias ranges) and the ways older releases differed (changes);
//   - the facts the real binaries of Debian's builds gave
//     (versions_data.go, generated from testdata/openssh/*.json): for
//     8.4p1, 9.2p1, 10.0p2, 10.3p1 and 10.6p1, which keywords sshd allows in
//     Match, which are deprecated or compiled out, and the defaults.
//
// A release between two recorded ones takes the facts of the older one
// (for a keyword that one does not know yet, of the next one that does);
// the tables' ranges decide which keywords it knows. Tests check that the
// tables agree exactly with every recorded release.
//
// Catalogues are built on first use, one per dialect and version, and
// cached: an agent run builds one or two (its host's release).

// dialectSpec is the hand-written description of one dialect.
type dialectSpec struct {
	keywords func() []Keyword
	aliases  []alias
	changes  []versionChange
	criteria []criterion
	// omitDefaults are the lowercase keywords whose default depends on
	// the host, the user or the machine: the catalogue records none.
	omitDefaults []string
	vendor       []vendorKeyword
}

// versionChange is how a keyword differed in releases older than before.
type versionChange struct {
	keyword string // canonical name in the tables
	before  Version
	apply   func(k *Keyword)
}

// criterion is a Match criterion and the releases that accept it.
type criterion struct {
	name  string // lowercase
	arg   bool   // takes an argument
	since Version
}

// vendorKeyword is a keyword a distribution's patches add that the model
// does not cover: a file holding it loads (the line is kept as it is and
// listed in Config.Warnings); a desired state naming it is an error.
type vendorKeyword struct {
	name, vendor string
}

func specOf(d Dialect) *dialectSpec {
	if d == Client {
		return &clientSpec
	}
	return &serverSpec
}

// catalogues caches the catalogue of each dialect and version.
var catalogues struct {
	mu sync.RWMutex
	m  map[catKey]*Catalogue
	// def holds the DefaultVersion catalogues, the most used.
	defOnce [2]sync.Once
	def     [2]*Catalogue
}

type catKey struct {
	d Dialect
	v Version
}

// Catalogue returns the keyword catalogue of dialect d as OpenSSH release
// v knows it (the zero Version stands for DefaultVersion). Catalogues are
// built once per dialect and version and shared; they are immutable. A
// release older than 8.4 gets 8.4's facts, one newer than the newest
// recorded the newest one's: neither is modelled exactly.
func (v Version) Catalogue(d Dialect) *Catalogue {
	if d != Client {
		d = Server
	}
	v = v.orDefault()
	if v == DefaultVersion() {
		i := int(d) - 1
		catalogues.defOnce[i].Do(func() { catalogues.def[i] = buildCatalogue(d, v) })
		return catalogues.def[i]
	}
	key := catKey{d, v}
	catalogues.mu.RLock()
	c := catalogues.m[key]
	catalogues.mu.RUnlock()
	if c != nil {
		return c
	}
	catalogues.mu.Lock()
	defer catalogues.mu.Unlock()
	if c = catalogues.m[key]; c == nil {
		if catalogues.m == nil {
			catalogues.m = map[catKey]*Catalogue{}
		}
		c = buildCatalogue(d, v)
		catalogues.m[key] = c
	}
	return c
}

// Versions returns the OpenSSH releases whose binaries the catalogue's
// facts come from (Debian's builds), oldest first: the releases modelled
// exactly and proven by the differential tests.
func Versions() []Version {
	out := make([]Version, len(versionFacts))
	for i := range versionFacts {
		out[i] = versionFacts[i].version
	}
	return out
}

// releaseFacts and dialectFacts hold the generated facts of one release;
// lists are space-separated lowercase keywords, defaults one printed line
// each.
type releaseFacts struct {
	version        Version
	server, client dialectFacts
}

type dialectFacts struct {
	keywords, deprecated, unsupported, inMatch, criteria string
	camel                                                bool
	defaults                                             string
}

func (rf *releaseFacts) dialect(d Dialect) *dialectFacts {
	if d == Client {
		return &rf.client
	}
	return &rf.server
}

// floorFacts returns the index of the newest recorded release not newer
// than v (the oldest when v is older than all).
func floorFacts(v Version) int {
	i := 0
	for j := range versionFacts {
		if !v.before(versionFacts[j].version) {
			i = j
		}
	}
	return i
}

// factsFor returns the index of the facts that describe keyword spelling
// name (lowercase) for release v: those of the newest recorded release not
// newer than v when it knows the spelling, else of the next newer one that
// does, else of the newest older one that does; -1 when none does.
func (b *builder) factsFor(name string) int {
	f := floorFacts(b.c.version)
	order := make([]int, 0, len(versionFacts))
	order = append(order, f)
	for j := f + 1; j < len(versionFacts); j++ {
		order = append(order, j)
	}
	for j := f - 1; j >= 0; j-- {
		order = append(order, j)
	}
	for _, j := range order {
		if b.sets(j).keywords[name] {
			return j
		}
	}
	return -1
}

// factSets are one release's facts of the dialect being built, as sets.
type factSets struct {
	keywords, deprecated, unsupported, inMatch map[string]bool
	defaults                                   map[string][]string
}

// sets returns the facts of release index j as sets, made on first use.
func (b *builder) sets(j int) *factSets {
	if fs := b.parsed[j]; fs != nil {
		return fs
	}
	df := versionFacts[j].dialect(b.c.dialect)
	set := func(list string) map[string]bool {
		m := map[string]bool{}
		for _, w := range strings.Fields(list) {
			m[w] = true
		}
		return m
	}
	fs := &factSets{keywords: set(df.keywords), deprecated: set(df.deprecated), unsupported: set(df.unsupported),
		inMatch: set(df.inMatch), defaults: parseDefaults(df.defaults)}
	b.parsed[j] = fs
	return fs
}

// known reports whether release v lies in since..until (zero bounds are
// open).
func known(v, since, until Version) bool {
	return !v.before(since) && (until.IsZero() || v.before(until))
}

// buildCatalogue makes the catalogue of dialect d for release v.
func buildCatalogue(d Dialect, v Version) *Catalogue {
	sp := specOf(d)
	kws := sp.keywords()
	c := &Catalogue{
		dialect:  d,
		version:  v,
		byName:   make(map[string]*Keyword, len(kws)+len(sp.aliases)),
		criteria: map[string]bool{},
		legacy:   v.before(rel(8, 7)),
		vendor:   map[string]string{},
		camel:    versionFacts[floorFacts(v)].dialect(d).camel,
	}
	b := builder{c: c, sp: sp, parsed: map[int]*factSets{}}
	canonical := map[string]*Keyword{} // table name -> keyword
	for i := range kws {
		k := &kws[i]
		if !known(v, k.Since, k.Until) {
			continue
		}
		canonical[k.Name] = k
		b.version(k)
		c.all = append(c.all, k)
		c.byName[strings.ToLower(k.Name)] = k
	}
	for _, a := range sp.aliases {
		if k := canonical[a.canonical]; k != nil && known(v, a.since, a.until) {
			if _, taken := c.byName[strings.ToLower(a.name)]; !taken {
				c.byName[strings.ToLower(a.name)] = k
			}
		}
	}
	c.addCriteriaAndVendors(sp)
	if d == Client {
		c.well = wellKnown{hostname: canonical["Hostname"], user: canonical["User"], batchMode: canonical["BatchMode"],
			negatedFinalPass: v.before(rel(10, 1))}
	}
	return c
}

// addCriteriaAndVendors adds the Match criteria the release knows and the
// distribution keywords.
func (c *Catalogue) addCriteriaAndVendors(sp *dialectSpec) {
	for _, cr := range sp.criteria {
		if known(c.version, cr.since, Version{}) {
			c.criteria[cr.name] = cr.arg
		}
	}
	for _, vk := range sp.vendor {
		c.vendor[strings.ToLower(vk.name)] = vk.vendor
	}
}

// builder makes one catalogue's keywords.
type builder struct {
	c      *Catalogue
	sp     *dialectSpec
	parsed map[int]*factSets // facts index -> its sets
}

// version makes k, a fresh copy of a table entry the release knows, the
// keyword as the release knows it: its spelling, the changes of older
// releases, and from the facts its status, Match permission and default.
func (b *builder) version(k *Keyword) {
	v, d := b.c.version, b.c.dialect
	table := k.Name
	if !known(v, k.nameSince, Version{}) {
		for _, a := range b.sp.aliases {
			if a.canonical == table && known(v, a.since, a.until) {
				k.Name, k.table = a.name, table
				break
			}
		}
		if k.table == "" {
			panic("files: " + table + " is known to " + v.String() + " by no spelling")
		}
	}
	for _, ch := range b.sp.changes {
		if ch.keyword == table && v.before(ch.before) {
			ch.apply(k)
		}
	}
	b.facts(k)
	if !k.matchSince.IsZero() {
		k.InMatch = !v.before(k.matchSince)
	}
	if d == Client {
		k.InMatch = true
	}
	if k.Status != Supported {
		k.Default = nil
	}
}

// facts sets k's status, Match permission and default from the facts of
// the release (or the nearest recorded one that knows the keyword).
func (b *builder) facts(k *Keyword) {
	d := b.c.dialect
	lower := strings.ToLower(k.Name)
	fi := b.factsFor(lower)
	if fi < 0 {
		return
	}
	fs := b.sets(fi)
	// The binary's word wins, except that a keyword it takes silently
	// may still be one the tables know to be refused on use (RDomain: "not
	// supported on this platform").
	switch {
	case fs.deprecated[lower]:
		k.Status = Deprecated
	case fs.unsupported[lower]:
		k.Status = Unsupported
	}
	if d == Server {
		k.InMatch = fs.inMatch[lower]
	}
	if slices.Contains(b.sp.omitDefaults, lower) {
		return
	}
	if lines, ok := fs.defaults[lower]; ok {
		k.Default = defaultArgs(d, k, lines)
	}
}

// parseDefaults splits printed defaults into lowercase keyword -> values,
// one per line printed.
func parseDefaults(s string) map[string][]string {
	m := map[string][]string{}
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		k = strings.ToLower(k)
		m[k] = append(m[k], v)
	}
	return m
}

// defaultArgs turns the lines OpenSSH printed for k into its default in
// normal form: one argument per line for cumulative keywords, the words
// of the lines otherwise; 10.6's true/false as yes/no.
func defaultArgs(d Dialect, k *Keyword, lines []string) []string {
	var args []string
	if k.Combine == Cumulative {
		args = slices.Clone(lines)
	} else {
		args = strings.Fields(strings.Join(lines, " "))
	}
	if len(args) == 0 {
		return nil
	}
	if len(args) == 1 && yesNo(k) {
		args[0] = printedFlag(args[0])
	}
	if k.Type == TypeEnum || k.Type == TypeIPQoS || k.Type == TypeInt || k.Type == TypeTime || k.Type == TypeFlag {
		if norm, err := Normalize(d, k, args); err == nil {
			return norm
		}
	}
	return args
}

// yesNo reports whether k's values are yes and no (a flag, or an enum of
// them), which sshd and ssh 10.6 print as true and false for some keywords.
func yesNo(k *Keyword) bool {
	return k.Type == TypeFlag || (k.Type == TypeEnum && slices.Contains(k.Enum, "yes") && slices.Contains(k.Enum, "no"))
}

// printedFlag returns a flag as printed by sshd -T / ssh -G in yes/no form
// (sshd 10.6 prints some as true/false).
func printedFlag(s string) string {
	switch s {
	case "true":
		return "yes"
	case "false":
		return "no"
	}
	return s
}

// Vendor returns the distribution that adds keyword name (any case) when
// it is one the model does not cover (Red Hat's GSSAPIEnablek5users), or
// false.
func (c *Catalogue) Vendor(name string) (string, bool) {
	v, ok := c.vendor[strings.ToLower(name)]
	return v, ok
}

// Criterion reports whether the catalogue's release accepts Match
// criterion attr (lowercase), and whether it takes an argument.
func (c *Catalogue) Criterion(attr string) (known, arg bool) {
	arg, known = c.criteria[attr]
	return known, arg
}

// KeywordError reports a keyword the catalogue's release does not know.
type KeywordError struct {
	// Dialect and Version are the catalogue's.
	Dialect Dialect
	Version Version
	// Name is the keyword as written.
	Name string
	// Since and Until bound the releases that know the spelling, when
	// other releases do (Since zero: every release up to Until).
	Since, Until Version
	// Spelling is what the catalogue's release calls the keyword when it
	// knows it under another name (OpenSSH 8.4's PubkeyAcceptedKeyTypes for
	// PubkeyAcceptedAlgorithms).
	Spelling string
	// Vendor names the distribution whose patches add the keyword, for a
	// keyword the model does not cover.
	Vendor string
	// Suggestion is the nearest known spelling, for a plain unknown word.
	Suggestion string
	// Assumed is true when Version was not given but assumed (the host's
	// release is not known).
	Assumed bool
}

// Error says which releases know the keyword, or that it is unknown.
func (e *KeywordError) Error() string {
	switch {
	case e.Vendor != "":
		return fmt.Sprintf("%s is a %s keyword that sshconverge does not model", e.Name, e.Vendor)
	case !e.Since.IsZero() && e.Version.before(e.Since):
		return fmt.Sprintf("%s needs OpenSSH %s or later; %s", e.Name, e.Since, e.host())
	case !e.Until.IsZero():
		return fmt.Sprintf("%s is not known to OpenSSH %s and later (removed, or left out of the build); %s", e.Name, e.Until, e.host())
	}
	msg := fmt.Sprintf("unknown %s keyword %q", e.Dialect, e.Name)
	if e.Suggestion != "" {
		msg += fmt.Sprintf("; did you mean %s?", e.Suggestion)
	}
	return msg
}

// host names the release the keyword was looked up for, and what it
// calls the keyword when it knows it by another name.
func (e *KeywordError) host() string {
	s := "this host runs " + e.Version.String()
	if e.Assumed {
		s = "OpenSSH " + e.Version.String() + " is assumed (the host's version is not known)"
	}
	if e.Spelling != "" {
		s += ", which calls it " + e.Spelling
	}
	return s
}

// CheckWritable returns an error when args, written by an edit as
// FormatValue renders them, would not read back as args in the catalogue's
// release: before 8.7 a double quote inside an argument, an unquoted '='
// and, for sshd, any '#' cannot be written.
func (c *Catalogue) CheckWritable(k *Keyword, args []string) error {
	l := &Line{Text: k.Name + " " + FormatValue(k, args)}
	_ = lex(l, c.dialect) // the view carries the error
	dv := c.view(l)
	if dv.err == nil && slices.Equal(dv.args, args) {
		return nil
	}
	return fmt.Errorf("%s: the value cannot be written so that OpenSSH %s reads it as given (it would read %q); change it", k.Name, c.version, dv.args)
}

// unknown explains why name is not in the catalogue; suggest says whether
// to look for a spelling suggestion (which costs a scan of the names).
func (c *Catalogue) unknown(name string, suggest bool) *KeywordError {
	e := &KeywordError{Dialect: c.dialect, Version: c.version, Name: name}
	if v, ok := c.Vendor(name); ok {
		e.Vendor = v
		return e
	}
	if spans := availability(c.dialect)[strings.ToLower(name)]; len(spans) > 0 {
		pick := nearestSpan(spans, c.version)
		e.Since, e.Until = pick.since, pick.until
		if !c.version.before(pick.since) {
			e.Since = Version{}
		}
		for _, k := range c.all {
			if k.tableName() == pick.canonical && !strings.EqualFold(k.Name, name) {
				e.Spelling = k.Name
			}
		}
		return e
	}
	if suggest {
		e.Suggestion = c.Suggest(name)
	}
	return e
}

// nearestSpan returns the range of spans nearest to release v: the
// first that starts after it, else the last that ended before it.
func nearestSpan(spans []nameSpan, v Version) nameSpan {
	var later, earlier *nameSpan
	for i := range spans {
		s := &spans[i]
		switch {
		case v.before(s.since):
			if later == nil || s.since.before(later.since) {
				later = s
			}
		case earlier == nil || earlier.until.before(s.until):
			earlier = s
		}
	}
	if later != nil {
		return *later
	}
	return *earlier
}

// Resolve returns the keyword that name (any case, canonical or alias)
// stands for in any release from 8.4 on, as the catalogue's release knows
// it, under whatever spelling: OpenSSH 8.4's PubkeyAcceptedKeyTypes for
// PubkeyAcceptedAlgorithms. It is false when the release does not know the
// keyword at all. Lookup, not Resolve, says whether the release accepts
// the spelling name.
func (c *Catalogue) Resolve(name string) (*Keyword, bool) {
	if k, ok := c.Lookup(name); ok {
		return k, true
	}
	for _, s := range availability(c.dialect)[strings.ToLower(name)] {
		for _, k := range c.all {
			if k.tableName() == s.canonical {
				return k, true
			}
		}
	}
	return nil, false
}

// tableName returns the keyword's name in the hand-written tables (its
// canonical name in the newest releases).
func (k *Keyword) tableName() string {
	if k.table != "" {
		return k.table
	}
	return k.Name
}

// nameSpan is a range of releases that know a spelling.
type nameSpan struct {
	since, until Version
	canonical    string // table name of the keyword it stands for
}

var availabilityOnce [2]sync.Once
var availabilityTab [2]map[string][]nameSpan

// availability returns, per lowercase spelling of dialect d (canonical
// names and aliases), the ranges of releases that know it.
func availability(d Dialect) map[string][]nameSpan {
	i := 0
	if d == Client {
		i = 1
	}
	availabilityOnce[i].Do(func() {
		sp := specOf(d)
		m := map[string][]nameSpan{}
		ranges := map[string][2]Version{}
		for _, k := range sp.keywords() {
			since := k.Since
			if since.before(k.nameSince) {
				since = k.nameSince
			}
			m[strings.ToLower(k.Name)] = append(m[strings.ToLower(k.Name)], nameSpan{since, k.Until, k.Name})
			ranges[k.Name] = [2]Version{k.Since, k.Until}
		}
		for _, a := range sp.aliases {
			r := ranges[a.canonical]
			since, until := a.since, a.until
			if since.before(r[0]) {
				since = r[0]
			}
			if until.IsZero() || (!r[1].IsZero() && r[1].before(until)) {
				until = r[1]
			}
			m[strings.ToLower(a.name)] = append(m[strings.ToLower(a.name)], nameSpan{since, until, a.canonical})
		}
		availabilityTab[i] = m
	})
	return availabilityTab[i]
}

var rawOnce [2]sync.Once
var rawTab [2]map[string]bool

// isRawLine reports whether keyword name (any case) of dialect d takes the
// rest of the line verbatim in the releases that know it (no keyword is
// raw in one release and not in another).
func isRawLine(d Dialect, name string) bool {
	i := 0
	if d == Client {
		i = 1
	}
	rawOnce[i].Do(func() {
		m := map[string]bool{}
		for _, k := range specOf(d).keywords() {
			if k.Type == TypeRawLine {
				m[strings.ToLower(k.Name)] = true
			}
		}
		rawTab[i] = m
	})
	if len(name) > 40 {
		return false
	}
	var buf [40]byte
	b := buf[:len(name)]
	for j := 0; j < len(name); j++ {
		c := name[j]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[j] = c
	}
	return rawTab[i][string(b)]
}

// Availability reports the releases that know keyword name (any case,
// canonical or alias) of dialect d, as ranges since..until (zero bounds
// open: Since zero means every release modelled, 8.4 on; Until zero means
// the newest still does), and the canonical name it stands for in each.
// ok is false for a word no release from 8.4 on knows.
func Availability(d Dialect, name string) (ranges []VersionRange, ok bool) {
	for _, s := range availability(d)[strings.ToLower(name)] {
		ranges = append(ranges, VersionRange{Since: s.since, Until: s.until, Keyword: s.canonical})
	}
	return ranges, len(ranges) > 0
}

// VersionRange is a range of OpenSSH releases that know a keyword spelling.
type VersionRange struct {
	// Since is the first release that knows it (zero: 8.4 or earlier);
	// Until the first that no longer does (zero: none yet).
	Since, Until Version
	// Keyword is the canonical name the spelling stands for there.
	Keyword string
}
