package files

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Conn is one connection's criteria for sshd's Match blocks: the fields of
// `sshd -T -C`. An empty field matches no criterion that needs it; the zero
// Conn is what `sshd -T` without -C evaluates (only Match all applies).
type Conn struct {
	User, Host, Addr, LAddr, RDomain string
	// LPort is the local port; 0 means unknown.
	LPort int
	// Groups are the names of the groups User is a member of, for Match
	// Group; none match when it is empty (sshd asks the account database,
	// which the model does not read).
	Groups []string
}

// Target is what `ssh -G HOST` evaluates the client configuration for.
type Target struct {
	// Host is the destination as typed on the command line.
	Host string
	// LocalUser is the local account name (Match localuser; Match user when
	// no User keyword applies).
	LocalUser string
}

// Value is the effective value of one keyword and where it comes from.
type Value struct {
	// Keyword is the catalogue entry.
	Keyword *Keyword
	// Args is the value in normal form: for cumulative keywords the
	// arguments of every contributing line, in order.
	Args []string
	// From are the contributing directives; From[0] is the one that
	// decides the value (for cumulative keywords, the first). It is empty
	// for a default.
	From []*Entry
	// Default is true when no directive sets the keyword and Args is
	// OpenSSH's default.
	Default bool
	// cause, when set, says why the value is not what its lines say (a
	// release rule overrode them).
	cause string
}

// Origin returns the position of the directive that decides the value,
// or the zero Pos for a default.
func (v *Value) Origin() Pos {
	if len(v.From) == 0 {
		return Pos{}
	}
	return v.From[0].Pos()
}

// valueOrDefault returns e's value of k, or OpenSSH's default for it when
// nothing sets it and the default is known (nil otherwise).
func (e *Effective) valueOrDefault(d Dialect, k *Keyword) *Value {
	if v, ok := e.values[k]; ok && (d != Client || k.Type != TypeTime || v.Args[0] != "none") {
		return v // (ssh keeps a time of "none" as unset)
	}
	def := k.Default
	if d == Client && k.Name == "ServerAliveInterval" {
		// Debian: BatchMode yes makes an unset ServerAliveInterval 300.
		def = []string{"0"}
		if b, ok := e.named(e.well().batchMode); ok && b.Args[0] == "yes" {
			def = []string{"300"}
		}
	}
	if def == nil {
		return nil
	}
	return &Value{Keyword: k, Args: def, Default: true}
}

// Effective is the effective configuration for one connection or host:
// for every keyword set, the value OpenSSH uses and its origin. Keywords the
// configuration does not set are absent (OpenSSH uses its default).
type Effective struct {
	values map[*Keyword]*Value
	order  []*Keyword
	cat    *Catalogue // the configuration's (client), nil for DefaultVersion
	// Unknown lists Match blocks whose outcome cannot be decided without
	// running something (ssh Match exec); they were taken as not matching.
	Unknown []Pos
}

// Get returns the effective value of keyword k, or false when no
// directive that applies sets it.
func (e *Effective) Get(k *Keyword) (*Value, bool) {
	v, ok := e.values[k]
	return v, ok
}

// Values returns every value set, in the order their keywords first
// appear in the configuration.
func (e *Effective) Values() []*Value {
	vs := make([]*Value, len(e.order))
	for i, k := range e.order {
		vs[i] = e.values[k]
	}
	return vs
}

func (e *Effective) add(en *Entry) {
	k := en.Keyword
	v, ok := e.values[k]
	if !ok {
		e.values[k] = &Value{Keyword: k, Args: en.Args, From: []*Entry{en}}
		e.order = append(e.order, k)
		return
	}
	switch {
	case en.resets():
		v.Args, v.From = en.Args, []*Entry{en} // sshd sets none whatever came before
		return
	}
	switch k.Combine {
	case Cumulative:
		if k.unique && slices.ContainsFunc(v.From, func(f *Entry) bool { return slices.Equal(f.Args, en.Args) }) {
			return // ssh keeps one copy
		}
		v.Args = append(v.Args[:len(v.Args):len(v.Args)], en.Args...)
		v.From = append(v.From, en)
	case LastWins, LastWinsAnywhere:
		v.Args, v.From = en.Args, []*Entry{en}
	}
}

func newEffective(size int) *Effective {
	return &Effective{values: make(map[*Keyword]*Value, size)}
}

// activity memoizes whether each block of a configuration applies, indexed
// by Block.Index: 0 not decided yet, 1 applies, 2 does not.
type activity []uint8

// decide returns whether b applies, computing it with match (given that
// its parent applies) the first time.
func (a activity) decide(b *Block, match func(*Block) bool) bool {
	switch a[b.Index] {
	case 1:
		return true
	case 2:
		return false
	}
	ok := (b.Parent == nil || a.decide(b.Parent, match)) && match(b)
	a[b.Index] = 2
	if ok {
		a[b.Index] = 1
	}
	return ok
}

// Server returns the effective sshd configuration for conn, as `sshd -T`
// computes it: values from Match blocks that apply override global values
// whatever their position, the first applying block winning per keyword;
// otherwise the first global value wins. Lists set in a Match block replace
// the global list. The configuration must be of the Server dialect.
func (c *Config) Server(conn Conn) *Effective {
	active := make(activity, len(c.Blocks))
	match := func(b *Block) bool { return serverMatch(b.Criteria, conn) }
	global, matched := newEffective(64), newEffective(16)
	for _, en := range c.Entries {
		if en.Block == nil {
			global.add(en)
		} else if active.decide(en.Block, match) {
			matched.add(en)
		}
	}
	c.Catalogue().releaseRules(global, matched)
	for _, k := range matched.order {
		if _, ok := global.values[k]; !ok {
			global.order = append(global.order, k)
		}
		global.values[k] = matched.values[k]
	}
	return global
}

func serverMatch(crit []Criterion, conn Conn) bool {
	for _, cr := range crit {
		var ok bool
		switch cr.Attr {
		case "all":
			ok = true
		case "user":
			ok = conn.User != "" && MatchPatternList(conn.User, cr.Arg, false) == 1
		case "host":
			ok = conn.Host != "" && MatchPatternList(strings.ToLower(conn.Host), cr.Arg, true) == 1
		case "address":
			ok = conn.Addr != "" && matchAddrList(conn.Addr, cr.Arg) == 1
		case "localaddress":
			ok = conn.LAddr != "" && matchAddrList(conn.LAddr, cr.Arg) == 1
		case "localport":
			p, err := strconv.Atoi(cr.Arg)
			ok = err == nil && conn.LPort != 0 && p == conn.LPort
		case "rdomain":
			ok = conn.RDomain != "" && MatchPatternList(conn.RDomain, cr.Arg, false) == 1
		case "group":
			ok = conn.User != "" && matchGroups(conn.Groups, cr.Arg)
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchGroups reports whether a user in groups matches sshd's Match Group
// pattern list: some group matches it and none is negated by it.
func matchGroups(groups []string, list string) bool {
	found := false
	for _, g := range groups {
		switch MatchPatternList(g, list, false) {
		case -1:
			return false
		case 1:
			found = true
		}
	}
	return found
}

// Client returns the effective ssh configuration for t, as `ssh -G HOST`
// computes it: one pass in file order, the first value obtained winning
// (cumulative and last-wins keywords excepted), Host and Match blocks
// deciding as they are reached. A Match final block causes a second pass,
// as in ssh. The configuration must be of the Client dialect.
func (c *Config) Client(t Target) *Effective {
	e := newEffective(64)
	e.cat = c.Catalogue()
	st := clientState{target: t, host: t.Host}
	wantFinal := c.clientPass(e, &st, false)
	if wantFinal {
		if h, ok := e.hostname(); ok {
			st.host = strings.ToLower(strings.ReplaceAll(h, "%h", t.Host))
		}
		c.clientPass(e, &st, true)
	}
	return e
}

type clientState struct {
	target Target
	host   string // the name Host patterns are matched against
}

// wellKnown are the client keywords the evaluation itself consults, as
// one catalogue holds them.
type wellKnown struct {
	hostname, user, batchMode *Keyword
	// negatedFinalPass is true before 10.1, where "Match !final" asks for
	// the second pass too.
	negatedFinalPass bool
}

// well returns the keywords the evaluation consults, from the catalogue
// of the configuration e was computed from (DefaultVersion's for an
// Effective made without one).
func (e *Effective) well() *wellKnown {
	cat := e.cat
	if cat == nil {
		cat = CatalogueFor(Client)
	}
	return &cat.well
}

// consulted reports whether reading the configuration or evaluating it
// consults keyword k for more than k's own value: the structure (Include,
// Host, Match), ssh's IgnoreUnknown (which lines are errors), the
// keywords in wellKnown (Match host and user, ServerAliveInterval's
// default), and sshd's keyboard-interactive pair (releaseRules).
func (c *Catalogue) consulted(k *Keyword) bool {
	switch k.Name {
	case "Include", "Host", "Match", "IgnoreUnknown":
		return true
	case "KbdInteractiveAuthentication", "ChallengeResponseAuthentication":
		return c.dialect == Server
	}
	return c.dialect == Client && (k == c.well.hostname || k == c.well.user || k == c.well.batchMode)
}

// named returns the value of k, which may be nil (a keyword the
// catalogue lacks).
func (e *Effective) named(k *Keyword) (*Value, bool) {
	if k == nil {
		return nil, false
	}
	v, ok := e.values[k]
	return v, ok
}

// hostname returns the Hostname obtained so far.
func (e *Effective) hostname() (string, bool) {
	if v, ok := e.named(e.well().hostname); ok {
		return v.Args[0], true
	}
	return "", false
}

// clientPass runs one pass over the entries; it reports whether a Match
// final was reached.
func (c *Config) clientPass(e *Effective, st *clientState, final bool) (wantFinal bool) {
	active := make(activity, len(c.Blocks))
	match := func(b *Block) bool {
		if b.Host {
			return matchHostPatterns(st.host, b.Patterns)
		}
		ok, wf, unknown := e.clientMatch(b.Criteria, st, final)
		wantFinal = wantFinal || wf
		if unknown && !final {
			e.Unknown = append(e.Unknown, b.Pos())
		}
		return ok
	}
	for _, en := range c.Entries {
		k := en.Keyword
		if en.Block != nil && !active.decide(en.Block, match) {
			if k.Combine == LastWinsAnywhere {
				e.add(en)
			}
			continue
		}
		v, set := e.values[k]
		switch {
		case k.Name == "SendEnv":
			e.sendEnv(en)
		case !set:
			e.add(en)
		case k.Type == TypeTime && len(v.Args) == 1 && v.Args[0] == "none":
			// ssh stores "none" as unset: a later line still sets it.
			delete(e.values, k)
			e.add(en)
		case k.Combine != FirstWins:
			e.add(en)
		}
	}
	return wantFinal
}

// sendEnv applies a SendEnv line: "-pattern" removes earlier names.
func (e *Effective) sendEnv(en *Entry) {
	v, ok := e.values[en.Keyword]
	if !ok {
		v = &Value{Keyword: en.Keyword}
		e.values[en.Keyword] = v
		e.order = append(e.order, en.Keyword)
	}
	for _, a := range en.Args {
		if rest, ok := strings.CutPrefix(a, "-"); ok {
			kept := v.Args[:0:0]
			for _, have := range v.Args {
				if !MatchPattern(have, rest) {
					kept = append(kept, have)
				}
			}
			v.Args = kept
		} else {
			v.Args = append(v.Args[:len(v.Args):len(v.Args)], a)
		}
	}
	v.From = append(v.From, en)
}

func (e *Effective) clientMatch(crit []Criterion, st *clientState, final bool) (ok, wantFinal, unknown bool) {
	ok = true
	for _, cr := range crit {
		var r bool
		switch cr.Attr {
		case "all":
			r = true
		case "canonical", "final":
			// From 10.1 on, only a "Match final" that is not negated asks
			// for the second pass.
			wantFinal = wantFinal || cr.Attr == "final" && (!cr.Negate || e.well().negatedFinalPass)
			r = final
		case "exec":
			unknown = true
			r = false
		case "host":
			host := st.target.Host
			if h, set := e.hostname(); set {
				host = strings.ReplaceAll(h, "%h", st.target.Host)
			}
			r = MatchPatternList(strings.ToLower(host), cr.Arg, true) == 1
		case "originalhost":
			r = MatchPatternList(strings.ToLower(st.target.Host), cr.Arg, true) == 1
		case "user":
			user := st.target.LocalUser
			if v, ok := e.named(e.well().user); ok {
				user = v.Args[0]
			}
			r = MatchPatternList(user, cr.Arg, false) == 1
		case "localuser":
			r = MatchPatternList(st.target.LocalUser, cr.Arg, false) == 1
		}
		if r == cr.Negate {
			ok = false
		}
	}
	return ok, wantFinal, unknown
}

// matchHostPatterns applies an ssh Host line: a matching negated pattern
// cancels the block, otherwise any matching pattern selects it.
// Matching is case-sensitive; commas are literal.
func matchHostPatterns(host string, patterns []string) bool {
	matched := false
	for _, p := range patterns {
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			if MatchPattern(host, neg) {
				return false
			}
		} else if MatchPattern(host, p) {
			matched = true
		}
	}
	return matched
}

// MatchPattern reports whether s matches the OpenSSH wildcard pattern p
// ('*' any run of bytes, '?' one byte), as match_pattern does.
func MatchPattern(s, p string) bool {
	// Iterative glob with single-star backtracking.
	si, pi, starP, starS := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			si++
			pi++
		case pi < len(p) && p[pi] == '*':
			starP, starS = pi, si
			pi++
		case starP >= 0:
			starS++
			si, pi = starS, starP+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// MatchPatternList matches s against a comma-separated pattern list as
// OpenSSH's match_pattern_list does: 1 when a positive pattern matches and
// no negated one does, -1 when a negated ("!") pattern matches, 0
// otherwise. With lower, the patterns are lowercased first (s must be
// lowercase already).
func MatchPatternList(s, list string, lower bool) int {
	got := 0
	for _, p := range strings.Split(list, ",") {
		neg := false
		if strings.HasPrefix(p, "!") {
			neg, p = true, p[1:]
		}
		if lower {
			p = strings.ToLower(p)
		}
		if MatchPattern(s, p) {
			if neg {
				return -1
			}
			got = 1
		}
	}
	return got
}

// matchAddrList matches an address against a comma-separated list of CIDR
// blocks and wildcard patterns, as addr_match_list does: 1 match, -1 a
// negated entry matched, 0 no match.
func matchAddrList(addr, list string) int {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return 0 // addr_match_list: an address that does not parse never matches
	}
	got := 0
	for _, p := range strings.Split(list, ",") {
		neg := false
		if strings.HasPrefix(p, "!") {
			neg, p = true, p[1:]
		}
		var m bool
		if pfx, perr := netip.ParsePrefix(p); perr == nil {
			m = pfx.Masked() == pfx && pfx.Contains(ip.Unmap())
		} else if a, aerr := netip.ParseAddr(p); aerr == nil {
			m = a == ip.Unmap()
		} else {
			m = MatchPattern(strings.ToLower(addr), strings.ToLower(p))
		}
		if m {
			if neg {
				return -1
			}
			got = 1
		}
	}
	return got
}
