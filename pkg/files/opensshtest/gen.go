package opensshtest

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// maxIncludeDepth is how deep generated Include chains go (main file = 0).
const maxIncludeDepth = 3

// kw describes how the generator writes one keyword.
type kw struct {
	name    string   // canonical spelling (in the newest release)
	aliases []string // other spellings OpenSSH accepts for it
	match   bool     // sshd: allowed inside a Match block
	raw     bool     // the value is the rest of the line, taken verbatim
	val     func(g *gen) []string
	avail   func(g *gen) bool // nil, or whether the tree may use the keyword
	// since and until bound the releases that know the keyword, for
	// GenOptions without a Keyword function ("" is unbounded).
	since, until string
}

// GenOptions tailor generated trees to one OpenSSH release. The zero
// GenOptions generate for OpenSSH 9.2, the host's.
type GenOptions struct {
	// Version is the release, e.g. "8.4p1" ("" is 9.2). It decides the
	// lexical forms: before 8.7 (strdelim) no single quotes around blanks
	// and no backslash escapes, and on ssh lines trailing comments only
	// rarely (ssh 8.4 takes them for arguments or refuses them); and
	// values a release reads differently (IPQoS numbers, PubkeyAuthentication
	// words).
	Version string
	// Keyword reports whether the release knows the generator's keyword
	// name (its canonical name in the newest release) under any spelling,
	// the spelling the release prints, and whether sshd allows it inside
	// Match. Nil: the tables' own match flags. (The tables' since and
	// until always apply too.)
	Keyword func(name string) (spelling string, inMatch, known bool)
	// Alias reports whether the release knows alias as another spelling
	// of keyword name. Nil: every alias of the tables.
	Alias func(alias, name string) bool
}

// gen holds the state of one tree being generated.
type gen struct {
	r      *rand.Rand
	server bool
	opts   GenOptions
	legacy bool // before 8.7: strdelim lexing
	kws    []kw
	hot    []kw // a few keywords drawn more often, so that repeats happen
	files  map[string]*file
	set    map[string]bool
	seq    int
	lport  bool   // a Match LocalPort line was written
	shared string // path of the file included from several places, once made
	// authMethods are the methods AuthenticationMethods may name in this
	// server tree (nil: no AuthenticationMethods); their flags stay yes.
	authMethods []string
}

// file is one generated file, by path relative to /etc/ssh.
type file struct {
	lines []string
}

func newGen(r *rand.Rand, server bool, opts GenOptions) *gen {
	g := &gen{r: r, server: server, opts: opts, files: map[string]*file{}, set: map[string]bool{}}
	g.legacy = !g.atLeast("8.7")
	table := clientKWs
	if server {
		table = serverKWs
		if g.pct(35) {
			g.authMethods = g.some(1, 3, "publickey", "password", "keyboard-interactive")
		}
	}
	g.kws = g.releaseKWs(table)
	for range 5 {
		g.hot = append(g.hot, g.kws[r.IntN(len(g.kws))])
	}
	return g
}

func (g *gen) pct(p int) bool { return g.r.IntN(100) < p }

// atLeast reports whether the release generated for is v or newer.
func (g *gen) atLeast(v string) bool {
	have := g.opts.Version
	if have == "" {
		have = "9.2p1"
	}
	return CompareVersions(have, v) >= 0
}

// releaseKWs returns the keywords of table the release knows, as it
// spells them, with its Match permissions and aliases.
func (g *gen) releaseKWs(table []kw) []kw {
	var out []kw
	for _, k := range table {
		if (k.since != "" && !g.atLeast(k.since)) || (k.until != "" && g.atLeast(k.until)) {
			continue
		}
		if g.opts.Keyword == nil {
			out = append(out, k)
			continue
		}
		spelling, inMatch, known := g.opts.Keyword(k.name)
		if !known {
			continue
		}
		var aliases []string
		for _, a := range k.aliases {
			if g.opts.Alias == nil || g.opts.Alias(a, k.name) {
				aliases = append(aliases, a)
			}
		}
		k.name, k.match, k.aliases = spelling, inMatch, aliases
		out = append(out, k)
	}
	return out
}

func pick[T any](g *gen, xs ...T) T { return xs[g.r.IntN(len(xs))] }

// pickN returns n distinct elements of xs (n capped at len(xs)), in random order.
func pickN[T any](g *gen, n int, xs ...T) []T {
	idx := g.r.Perm(len(xs))
	if n > len(xs) {
		n = len(xs)
	}
	out := make([]T, n)
	for i := range n {
		out[i] = xs[idx[i]]
	}
	return out
}

func (g *gen) newFile(rel string) *file {
	f := &file{}
	g.files[rel] = f
	return f
}

func (g *gen) next() int { g.seq++; return g.seq }

// tree assembles the Tree: it renders each file with a random line ending
// style and records the keywords set.
func (g *gen) tree() Tree {
	t := Tree{Files: map[string]string{}}
	rels := make([]string, 0, len(g.files))
	for rel := range g.files {
		rels = append(rels, rel)
	}
	sort.Strings(rels) // render in a fixed order: the output depends only on the seed
	for _, rel := range rels {
		t.Files["etc/ssh/"+rel] = g.render(g.files[rel].lines)
	}
	for k := range g.set {
		t.Set = append(t.Set, k)
	}
	sort.Strings(t.Set)
	return t
}

// render joins lines with LF, CRLF or (rarely) a mix, sometimes without a
// final newline.
func (g *gen) render(lines []string) string {
	var b strings.Builder
	mode := g.r.IntN(10) // 0-1: CRLF, 2: mixed, else LF
	for i, l := range lines {
		b.WriteString(l)
		last := i == len(lines)-1
		if last && g.pct(15) {
			break
		}
		switch {
		case mode <= 1, mode == 2 && g.pct(50):
			b.WriteString("\r\n")
		default:
			b.WriteString("\n")
		}
	}
	return b.String()
}

// ---- lexical variation -----------------------------------------------------

// caseMangle returns s in canonical, lower, upper or random case.
func (g *gen) caseMangle(s string) string {
	switch g.r.IntN(10) {
	case 0, 1, 2:
		return strings.ToLower(s)
	case 3:
		return strings.ToUpper(s)
	case 4, 5:
		b := []byte(s)
		for i, c := range b {
			if g.pct(50) {
				if 'a' <= c && c <= 'z' {
					b[i] = c - 'a' + 'A'
				} else if 'A' <= c && c <= 'Z' {
					b[i] = c - 'A' + 'a'
				}
			}
		}
		return string(b)
	}
	return s
}

func (g *gen) indent() string {
	if g.pct(60) {
		return ""
	}
	return pick(g, " ", "  ", "    ", "\t", " \t", "\t\t")
}

// sep is what goes between a keyword and its arguments.
func (g *gen) sep() string {
	if g.pct(55) {
		return " "
	}
	return pick(g, "\t", "  ", "=", " =", "= ", " = ", "\t=\t", " =\t", "\t= ")
}

func (g *gen) ws() string {
	if g.pct(80) {
		return " "
	}
	return pick(g, "\t", "  ", " \t")
}

// quote renders one argument, quoting it when it holds blanks and sometimes
// when it does not.
func (g *gen) quote(a string) string {
	if g.legacy {
		return g.quoteLegacy(a)
	}
	if strings.ContainsAny(a, " \t") {
		switch g.r.IntN(8) {
		case 0, 1:
			return "'" + a + "'"
		case 2:
			if !strings.Contains(a, "\t") {
				return strings.ReplaceAll(a, " ", `\ `) // outside quotes, "\ " is a space
			}
		}
		return `"` + a + `"`
	}
	if strings.ContainsAny(a, `"'\#`) || a == "" {
		return a
	}
	switch g.r.IntN(14) {
	case 0:
		return `"` + a + `"`
	case 1:
		return "'" + a + "'"
	}
	return a
}

// quoteLegacy renders one argument for strdelim (before 8.7): only double
// quotes group; single quotes are characters of the value.
func (g *gen) quoteLegacy(a string) string {
	if strings.ContainsAny(a, " \t") || (g.pct(3) && !strings.ContainsAny(a, `"`)) {
		return `"` + a + `"`
	}
	return a
}

// tail is what follows the last argument of a non-raw line: nothing,
// trailing blanks, or a comment. ssh before 8.7 has no trailing comments
// (it refuses most, takes them as values of list keywords): rarely there.
func (g *gen) tail() string {
	if g.legacy && !g.server && g.r.IntN(150) != 0 {
		return pick(g, "", "", "", "", " ", "\t")
	}
	switch g.r.IntN(20) {
	case 0, 1:
		return pick(g, " # comment", "\t# set by hand", "  #x", " # ticket #42 = done", " #")
	case 2:
		return pick(g, " ", "\t", "  \t")
	}
	return ""
}

// comment returns a whole-line comment or blank line.
func (g *gen) comment() string {
	return pick(g,
		"", "", "   ", "\t",
		"# managed by sshconverge",
		"#Port 22",
		"#PasswordAuthentication yes",
		"  # indented comment",
		"\t#\tMatch User nobody",
		"#",
		"## Include /etc/ssh/nowhere/*.conf",
		"# Host *",
	)
}

// line renders "keyword args" with random case, separators and decoration.
// The keyword is written as given (callers mangle it when they want).
func (g *gen) line(keyword string, args []string, raw bool) string {
	var b strings.Builder
	b.WriteString(g.indent())
	b.WriteString(keyword)
	if raw {
		b.WriteString(g.sep())
		b.WriteString(args[0])
		if g.pct(15) {
			b.WriteString(pick(g, " ", "\t", "  "))
		}
		return b.String()
	}
	for i, a := range args {
		if i == 0 {
			b.WriteString(g.sep())
		} else {
			b.WriteString(g.ws())
		}
		b.WriteString(g.quote(a))
	}
	b.WriteString(g.tail())
	return b.String()
}

// directive appends one keyword line (a random or hot keyword filtered by
// ok) to f and records it.
func (g *gen) directive(f *file, ok func(kw) bool) {
	for {
		k := g.kws[g.r.IntN(len(g.kws))]
		if g.pct(40) {
			k = g.hot[g.r.IntN(len(g.hot))]
		}
		if !ok(k) || (k.avail != nil && !k.avail(g)) {
			continue
		}
		g.emit(f, k)
		return
	}
}

func (g *gen) emit(f *file, k kw) {
	name := k.name
	if len(k.aliases) > 0 && g.pct(30) {
		name = pick(g, k.aliases...)
	}
	f.lines = append(f.lines, g.line(g.caseMangle(name), k.val(g), k.raw))
	g.set[k.name] = true
}

// filler sometimes appends comment or blank lines.
func (g *gen) filler(f *file) {
	for g.pct(20) {
		f.lines = append(f.lines, g.comment())
	}
}

// ---- values ----------------------------------------------------------------

// timeVal is a convtime value in one of its many spellings.
func (g *gen) timeVal() string {
	u := func() string { return pick(g, "s", "m", "h", "d", "w", "S", "M", "H", "D", "W") }
	switch g.r.IntN(12) {
	case 0:
		return pick(g, "0", "00")
	case 1, 2:
		return strconv.Itoa(g.r.IntN(7200))
	case 3:
		return fmt.Sprintf("%04d", g.r.IntN(1000))
	case 4, 5, 6:
		return strconv.Itoa(1+g.r.IntN(90)) + u()
	case 7:
		return pick(g, "1h30m", "5m30", "1h0m5s", "2d3h", "1W2d", "90s", "1w", "5M", "0m", "10m10", "1h1h")
	default:
		return strconv.Itoa(1+g.r.IntN(59)) + pick(g, "m", "M") + strconv.Itoa(g.r.IntN(60)) + pick(g, "", "s", "S")
	}
}

// intVal is a small integer, sometimes with leading zeros.
func (g *gen) intVal(lo, hi int) string {
	n := lo + g.r.IntN(hi-lo+1)
	if g.pct(20) {
		return fmt.Sprintf("%0*d", 2+g.r.IntN(3), n)
	}
	return strconv.Itoa(n)
}

func (g *gen) flag(client bool) []string {
	if client && g.pct(30) {
		return []string{g.caseMangle(pick(g, "true", "false"))}
	}
	return []string{g.caseMangle(pick(g, "yes", "no"))}
}

// authFlag is the value of the *Authentication flag of method: yes when the
// tree's AuthenticationMethods may name the method, else yes or no.
func (g *gen) authFlag(method string) []string {
	for _, m := range g.authMethods {
		if m == method {
			return []string{g.caseMangle("yes")}
		}
	}
	return g.flag(false)
}

func (g *gen) enum(words ...string) []string { return []string{g.caseMangle(pick(g, words...))} }

func (g *gen) some(lo, hi int, pool ...string) []string {
	return pickN(g, lo+g.r.IntN(hi-lo+1), pool...)
}

var ciphers = []string{"aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com",
	"aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-cbc", "aes256-cbc"}

var macs = []string{"hmac-sha2-256", "hmac-sha2-512", "hmac-sha1", "umac-64@openssh.com",
	"umac-128@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
	"hmac-sha1-etm@openssh.com", "umac-128-etm@openssh.com"}

// algos is an algorithm list: a plain list or a +, - or ^ modification.
func (g *gen) algos(pool []string) []string {
	list := strings.Join(g.some(1, 3, pool...), ",")
	switch g.r.IntN(5) {
	case 0:
		return []string{"+" + list}
	case 1:
		return []string{"-" + list}
	case 2:
		return []string{"^" + list}
	}
	return []string{list}
}

func (g *gen) logLevel() []string {
	return g.enum("QUIET", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3")
}

// ---- server ----------------------------------------------------------------

// serverKWs is the server keyword table (read-only).
var serverKWs = []kw{
	{name: "ClientAliveInterval", match: true, val: func(g *gen) []string { return []string{g.timeVal()} }},
	{name: "ClientAliveCountMax", match: true, val: func(g *gen) []string { return []string{g.intVal(0, 10)} }},
	{name: "LoginGraceTime", val: func(g *gen) []string { return []string{g.timeVal()} }},
	{name: "MaxAuthTries", match: true, val: func(g *gen) []string { return []string{g.intVal(1, 12)} }},
	{name: "MaxSessions", match: true, val: func(g *gen) []string { return []string{g.intVal(0, 20)} }},
	{name: "PermitRootLogin", match: true, val: func(g *gen) []string {
		return g.enum("yes", "no", "prohibit-password", "without-password", "forced-commands-only")
	}},
	{name: "PasswordAuthentication", match: true, val: func(g *gen) []string { return g.authFlag("password") }},
	{name: "PubkeyAuthentication", match: true, val: func(g *gen) []string { return g.authFlag("publickey") }},
	{name: "X11Forwarding", match: true, val: func(g *gen) []string { return g.flag(false) }},
	{name: "AllowTcpForwarding", match: true, val: func(g *gen) []string { return g.enum("yes", "no", "all", "local", "remote") }},
	{name: "PermitTTY", match: true, val: func(g *gen) []string { return g.flag(false) }},
	{name: "Banner", match: true, val: func(g *gen) []string {
		return []string{pick(g, "none", "/etc/issue.net", "/etc/ssh/banner.txt", "/etc/ssh/my banner")}
	}},
	{name: "LogLevel", match: true, val: func(g *gen) []string { return g.logLevel() }},
	{name: "AllowUsers", match: true, val: func(g *gen) []string {
		return g.some(1, 3, "alice", "bob", "backup", "b?b", "*", "alice@192.0.2.*", "deploy", "carol")
	}},
	{name: "DenyUsers", match: true, val: func(g *gen) []string {
		return g.some(1, 3, "mallory", "eve", "guest*", "nobody", "bob@198.51.100.7", "root")
	}},
	{name: "AcceptEnv", match: true, val: func(g *gen) []string {
		return g.some(1, 3, "LANG", "LC_*", "XMODIFIERS", "GIT_PROTOCOL", "TZ", "COLORTERM")
	}},
	{name: "AuthorizedKeysFile", match: true, val: func(g *gen) []string {
		if g.pct(10) {
			return []string{"none"}
		}
		return g.some(1, 3, ".ssh/authorized_keys", ".ssh/authorized_keys2", "/etc/ssh/authorized_keys/%u", "%h/.ssh/keys")
	}},
	// Only in trees that chose authMethods (see newGen): sshd rejects a list
	// naming a method whose *Authentication flag is no, and rejects "any"
	// on any line after an AuthenticationMethods line that took effect.
	{name: "AuthenticationMethods", match: true, avail: func(g *gen) bool { return g.authMethods != nil }, val: func(g *gen) []string {
		var lists []string
		for range 1 + g.r.IntN(2) {
			ms := g.some(1, 2, g.authMethods...)
			for i, m := range ms {
				if m == "keyboard-interactive" && g.pct(20) {
					ms[i] = "keyboard-interactive:pam"
				}
			}
			lists = append(lists, strings.Join(ms, ","))
		}
		return lists
	}},
	{name: "ForceCommand", match: true, raw: true, val: func(g *gen) []string {
		return []string{pick(g,
			"internal-sftp",
			"internal-sftp -d /upload # not a comment",
			`/usr/bin/logger -t "forced  cmd" # kept #verbatim`,
			"echo 'hi there'\t#x",
			"/usr/local/bin/gate --user=%u",
			"/bin/true",
		)}
	}},
	{name: "Ciphers", val: func(g *gen) []string { return g.algos(ciphers) }},
	{name: "MACs", val: func(g *gen) []string { return g.algos(macs) }},
	{name: "IPQoS", match: true, val: func(g *gen) []string { return g.ipqos() }},
	{name: "FingerprintHash", val: func(g *gen) []string { return g.enum("md5", "sha256") }},
	{name: "Port", val: func(g *gen) []string {
		return []string{pick(g, "22", "2222", "0022", "8022", "65535", "1", g.intVal(1024, 65535))}
	}},
	{name: "ListenAddress", val: func(g *gen) []string {
		return []string{pick(g, "0.0.0.0", "127.0.0.1:2200", "[::1]:2201", "::", "192.0.2.1", "127.0.0.1")}
	}},
	{name: "UseDNS", val: func(g *gen) []string { return g.flag(false) }},
	{name: "TCPKeepAlive", aliases: []string{"KeepAlive"}, val: func(g *gen) []string { return g.flag(false) }},
	{name: "KbdInteractiveAuthentication", aliases: []string{"ChallengeResponseAuthentication"}, match: true,
		val: func(g *gen) []string { return g.authFlag("keyboard-interactive") }},

	// Keywords whose meaning or existence differs between releases.
	{name: "ChallengeResponseAuthentication", until: "8.7", // a keyword of its own before 8.7
		val: func(g *gen) []string { return g.authFlag("keyboard-interactive") }},
	{name: "PubkeyAcceptedAlgorithms", aliases: []string{"PubkeyAcceptedKeyTypes"}, match: true, val: func(g *gen) []string {
		return g.algos([]string{"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ecdsa-sha2-nistp256"})
	}},
	{name: "PerSourceMaxStartups", since: "8.5", val: func(g *gen) []string { // last wins before 9.5
		return []string{pick(g, "none", g.intVal(1, 20))}
	}},
	{name: "MaxStartups", val: func(g *gen) []string { // last wins before 10.1
		return []string{pick(g, "10:30:100", "5:20:50", "8:10:20", "3:50:60")}
	}},
	{name: "RequiredRSASize", since: "9.1", match: true, val: func(g *gen) []string {
		return []string{pick(g, "1024", "2048", "3072", "04096")}
	}},
	{name: "UnusedConnectionTimeout", since: "9.2", match: true, val: func(g *gen) []string {
		if g.pct(20) {
			return []string{"none"}
		}
		return []string{g.timeVal()}
	}},
	{name: "RefuseConnection", since: "9.9", match: true, val: func(g *gen) []string { return []string{g.caseMangle("no")} }},
}

// ipqos is an IPQoS value: one or two names or numbers (hexadecimal only
// before 9.8, which reads numbers as decimal).
func (g *gen) ipqos() []string {
	vals := []string{"af11", "AF21", "af42", "cs0", "cs1", "CS7", "ef", "le", "lowdelay", "throughput", "Reliability", "none", "32"}
	if !g.atLeast("9.8") {
		vals = append(vals, "0x10")
	}
	return g.some(1, 2, vals...)
}

// sctx is where in sshd's first (connection-less) parse a server line sits.
type sctx struct {
	depth     int  // include depth of the file (main file = 0)
	inMatch   bool // inside a Match block: only Match keywords are allowed...
	activeAll bool // ...unless it is a `Match all` block active in the first pass
	never     bool // the file is parsed with no Match able to match (included from an inactive block)
}

// allowed says which keywords may appear in context c.
func (c sctx) allowed(k kw) bool { return k.match || !c.inMatch || c.activeAll }

// GenerateServer returns a random but valid sshd configuration tree:
// etc/ssh/sshd_config, often the Debian drop-in directory
// etc/ssh/sshd_config.d/*.conf, further included files (globs, several paths
// on one line, relative paths, globs that match nothing, Include inside Match
// blocks and Match blocks opened inside included files, nesting up to depth
// 3), Match blocks on User, Host, Address, LocalAddress, LocalPort and All,
// and the connections to query. Lexical form (keyword case, separators,
// quotes, comments, CRLF, missing final newline) is randomised.
//
// Validity follows sshd's first, connection-less parse: keywords not allowed
// in Match appear only outside Match blocks or inside a `Match all` block
// that is active there (sshd accepts them there and applies them globally);
// AuthenticationMethods appears only in trees whose flags keep its methods
// enabled, and never as "any".
func GenerateServer(r *rand.Rand) Tree { return generateServer(r, GenOptions{}) }

func generateServer(r *rand.Rand, opts GenOptions) Tree {
	g := newGen(r, true, opts)
	main := g.newFile("sshd_config")
	main.lines = append(main.lines, "# sshd_config generated by opensshtest")
	g.filler(main)
	if g.pct(70) {
		g.dropIns(main, "sshd_config.d")
	}
	top := sctx{}
	g.serverBody(main, top, 2+g.r.IntN(9), g.r.IntN(5))
	t := g.tree()
	t.Conns = g.conns()
	return t
}

// serverBody writes nGlobal directives for context c, then nBlocks Match
// blocks.
func (g *gen) serverBody(f *file, c sctx, nGlobal, nBlocks int) {
	for range nGlobal {
		g.filler(f)
		if c.depth < maxIncludeDepth && g.pct(10) {
			if g.pct(25) {
				g.includeShared(f)
			} else {
				g.include(f, c)
			}
			continue
		}
		g.directive(f, c.allowed)
	}
	for range nBlocks {
		g.filler(f)
		all := g.pct(15)
		f.lines = append(f.lines, g.matchLine(all))
		bc := sctx{depth: c.depth, inMatch: true, activeAll: all && !c.never, never: c.never}
		n := 1 + g.r.IntN(5)
		for range n {
			g.filler(f)
			if c.depth < maxIncludeDepth && g.pct(12) {
				if g.pct(25) {
					g.includeShared(f)
					continue
				}
				// Included from an inactive block, a file never matches.
				g.include(f, sctx{depth: c.depth, inMatch: true, activeAll: bc.activeAll, never: c.never || !bc.activeAll})
				continue
			}
			if bc.activeAll && g.pct(15) {
				g.directive(f, func(k kw) bool { return !k.match })
				continue
			}
			g.directive(f, bc.allowed)
		}
	}
}

// matchLine renders a Match line with 1-3 criteria (or All).
func (g *gen) matchLine(all bool) string {
	kwd := g.caseMangle("Match")
	var args []string
	if all {
		args = []string{g.caseMangle("All")}
	} else {
		crit := pickN(g, 1+g.r.IntN(3), "User", "Host", "Address", "LocalAddress", "LocalPort")
		if g.pct(50) {
			crit = crit[:1]
		}
		for _, cr := range crit {
			var v string
			switch cr {
			case "User":
				v = pick(g, "alice", "bob", "backup", "b*", "?ob", "alice,bob", "!root,*", "BOB", "b*,!bob", "carol")
			case "Host":
				v = pick(g, "*.example.com", "web?.example.com", "db.internal", "*.EXAMPLE.com", "!db.internal,*", "mail.*", "web1.example.com")
			case "Address":
				v = pick(g, "192.0.2.0/24", "198.51.100.7", "192.0.2.0/24,!192.0.2.10", "203.0.113.0/25", "10.0.0.0/8,192.0.2.*", "!198.51.100.0/24,*", "198.51.100.*")
			case "LocalAddress":
				v = pick(g, "127.0.0.1", "127.0.0.0/8", "10.0.0.1", "!127.0.0.1,*")
			case "LocalPort":
				v = pick(g, "22", "2222")
			}
			if cr == "LocalPort" {
				g.lport = true
			}
			cw := g.caseMangle(cr)
			if g.pct(8) {
				args = append(args, cw+"="+v) // strdelim splits "User=bob" too
			} else {
				args = append(args, cw, g.matchQuote(v, cr != "LocalPort"))
			}
		}
	}
	return g.indent() + kwd + g.sep() + strings.Join(args, " ") + g.tail()
}

// matchQuote renders a Match argument. Match lines are split by OpenSSH's
// older tokenizer: double quotes group, single quotes are literal characters.
// With single OK, the value is sometimes single-quoted: accepted by OpenSSH,
// but the quotes become part of the pattern, which then never matches.
func (g *gen) matchQuote(v string, single bool) string {
	switch {
	case g.pct(10):
		return `"` + v + `"`
	case single && g.pct(3):
		return "'" + v + "'"
	}
	return v
}

// conns picks the connections to query: the zero Conn, then a few that hit
// and miss the Match blocks. When the tree has a Match LocalPort line, sshd
// -T refuses every query without lport, so every Conn then has LPort set and
// the first is {LPort: 22} instead of the zero Conn.
func (g *gen) conns() []Conn {
	cs := []Conn{{}}
	if g.lport {
		cs[0].LPort = 22
	}
	n := 3 + g.r.IntN(4)
	for range n {
		var c Conn
		if g.pct(90) {
			c.User = pick(g, "alice", "bob", "backup", "carol", "root")
		}
		if g.pct(70) {
			c.Host = pick(g, "web1.example.com", "db.internal", "web2.example.org", "mail.example.com")
		}
		if g.pct(70) {
			c.Addr = pick(g, "192.0.2.10", "198.51.100.7", "203.0.113.9", "192.0.2.200")
		}
		if g.pct(50) {
			c.LAddr = pick(g, "127.0.0.1", "10.0.0.1")
		}
		if g.pct(50) {
			c.LPort = pick(g, 22, 2222)
		}
		if c.LPort == 0 && g.lport {
			c.LPort = pick(g, 22, 2222)
		}
		if c.Spec() == "" {
			c.User = "bob"
		}
		cs = append(cs, c)
	}
	return cs
}

// ---- includes (both dialects) ----------------------------------------------

// sortNames are drop-in file names whose byte order differs from numeric,
// case-folded and "natural" orders.
var sortNames = []string{"00-first.conf", "10-b.conf", "9-c.conf", "50-cloud-init.conf", "A-upper.conf",
	"a-lower.conf", "Z.conf", "_under.conf", "99-last.conf", "1.conf", "01-zero.conf", "b.conf"}

// dropIns writes the Debian-style `Include /etc/ssh/<dir>/*.conf` line and
// 1-4 drop-in files (plus decoys that the glob does not match).
func (g *gen) dropIns(f *file, dir string) {
	glob := dir + "/*.conf"
	args := []string{pick(g, "/etc/ssh/"+glob, glob, "/etc/ssh/"+glob)}
	if g.pct(20) {
		args = append(args, pick(g, "/etc/ssh/absent.d/*.conf", "nomatch-*.conf"))
		g.r.Shuffle(len(args), func(i, j int) { args[i], args[j] = args[j], args[i] })
	}
	f.lines = append(f.lines, g.line(g.caseMangle("Include"), args, false))
	for _, name := range g.some(1, 4, sortNames...) {
		g.includedFile(dir+"/"+name, sctx{depth: 1})
	}
	if g.pct(30) {
		g.decoy(dir + "/" + pick(g, "README", "old.conf.bak", "disabled.conf~", "x.CONF"))
	}
	if g.pct(5) {
		// A directory that the glob matches is read as an empty file.
		g.decoy(dir + "/sub.conf/inner.conf")
	}
}

// decoy writes a file that no Include reads, with values that would show up
// if one did.
func (g *gen) decoy(rel string) {
	f := g.newFile(rel)
	if g.server {
		f.lines = append(f.lines, "ClientAliveInterval 4242", "MaxSessions 42", "Match User bob", "Banner /decoy")
	} else {
		f.lines = append(f.lines, "ServerAliveInterval 4242", "Port 4242", "Host *", "User decoy")
	}
}

// include appends an Include line with 1-3 targets (new files, globs over
// new files, globs that match nothing) to f, in context c, and generates the
// included files.
func (g *gen) include(f *file, c sctx) {
	n := 1 + g.r.IntN(3)
	if !g.pct(30) {
		n = 1
	}
	var args []string
	for range n {
		id := g.next()
		abs := g.pct(50)
		p := func(rel string) string {
			if abs {
				return "/etc/ssh/" + rel
			}
			if g.pct(10) {
				return "./" + rel
			}
			return rel
		}
		switch g.r.IntN(6) {
		case 0: // matches nothing
			args = append(args, p(pick(g, fmt.Sprintf("nomatch-%d-*.conf", id), fmt.Sprintf("absent-%d.d/*", id), fmt.Sprintf("missing-%d.conf", id))))
		case 1, 2: // a glob over several files
			dir := fmt.Sprintf("inc%d.d", id)
			pat := pick(g, "*.conf", "*", "[0-9]*.conf", "?*.conf")
			args = append(args, p(dir+"/"+pat))
			for _, name := range g.some(1, 3, sortNames...) {
				if pat == "[0-9]*.conf" && (name[0] < '0' || name[0] > '9') {
					continue
				}
				g.includedFile(dir+"/"+name, sctx{depth: c.depth + 1, inMatch: c.inMatch, activeAll: c.activeAll, never: c.never})
			}
			if pat != "*" && g.pct(30) {
				g.decoy(dir + "/skip.txt")
			}
		default: // one file
			rel := pick(g, fmt.Sprintf("inc-%d.conf", id), fmt.Sprintf("conf.d/part%d", id), fmt.Sprintf("lvl/%d/extra.conf", id))
			args = append(args, p(rel))
			g.includedFile(rel, sctx{depth: c.depth + 1, inMatch: c.inMatch, activeAll: c.activeAll, never: c.never})
		}
	}
	f.lines = append(f.lines, g.line(g.caseMangle("Include"), args, false))
}

// includeShared appends an Include of the tree's shared file, made on first
// use: a file that is valid anywhere (Match keywords only, nothing that
// needs an active `Match all`), included from the global section and from
// inside blocks alike. sshd parses the cached copy again for each Include.
func (g *gen) includeShared(f *file) {
	if g.shared == "" {
		g.shared = pick(g, "common.conf", "shared.d/common.conf")
		g.includedFile(g.shared, sctx{depth: maxIncludeDepth, inMatch: true, never: true})
	}
	arg := g.shared
	if g.pct(50) {
		arg = "/etc/ssh/" + arg
	}
	f.lines = append(f.lines, g.line(g.caseMangle("Include"), []string{arg}, false))
}

// includedFile generates an included file for context c.
func (g *gen) includedFile(rel string, c sctx) {
	if _, dup := g.files[rel]; dup {
		return
	}
	f := g.newFile(rel)
	if g.pct(4) {
		return // an empty file
	}
	g.filler(f)
	if g.server {
		g.serverBody(f, c, 1+g.r.IntN(4), pick(g, 0, 0, 1, 1, 2))
	} else {
		g.clientBody(f, c.depth, 1+g.r.IntN(4), pick(g, 0, 0, 1, 1, 2), false)
	}
	g.filler(f)
}

// ---- client ----------------------------------------------------------------

// clientKWs is the client keyword table (read-only).
var clientKWs = []kw{
	{name: "Hostname", val: func(g *gen) []string {
		return []string{pick(g, "web1.example.com", "10.0.0.5", "db.internal", "%h.internal", "Bastion.Example.COM", "git.example.org")}
	}},
	{name: "User", val: func(g *gen) []string { return []string{pick(g, "alice", "deploy", "git", "root", "BoB")} }},
	{name: "Port", val: func(g *gen) []string {
		return []string{pick(g, "22", "2222", "0022", "443", "8022", g.intVal(1024, 65535))}
	}},
	{name: "ServerAliveInterval", aliases: []string{"ProtocolKeepAlives", "SetupTimeOut"}, val: func(g *gen) []string {
		if g.pct(15) {
			return []string{"none"}
		}
		return []string{g.timeVal()}
	}},
	{name: "ServerAliveCountMax", val: func(g *gen) []string { return []string{g.intVal(0, 10)} }},
	{name: "ConnectTimeout", val: func(g *gen) []string {
		if g.pct(15) {
			return []string{"none"}
		}
		return []string{g.timeVal()}
	}},
	{name: "IdentityFile", val: func(g *gen) []string {
		return []string{pick(g, "~/.ssh/id_ed25519", "~/.ssh/work_key", "/etc/ssh/keys/deploy", "~/.ssh/my key", "~/.ssh/id_rsa", "/root/.ssh/git")}
	}},
	{name: "SendEnv", val: func(g *gen) []string {
		return g.some(1, 3, "LANG", "LC_*", "GIT_*", "TZ", "-LC_*", "-LANG", "EDITOR", "-*")
	}},
	{name: "ForwardAgent", val: func(g *gen) []string { return g.flag(true) }},
	{name: "StrictHostKeyChecking", val: func(g *gen) []string {
		return g.enum("yes", "no", "ask", "accept-new", "off", "true", "false")
	}},
	{name: "Compression", val: func(g *gen) []string { return g.flag(false) }}, // ssh: yes/no only, no true/false
	{name: "ProxyCommand", raw: true, val: func(g *gen) []string {
		return []string{pick(g,
			"ssh -W %h:%p bastion # via bastion",
			"nc -X 5 -x proxy.example.com:1080 %h %p",
			`sh -c "exec nc %h %p"  #  two  spaces`,
			"none",
			"/usr/bin/corkscrew proxy 8080 %h %p\t# tab",
		)}
	}},
	{name: "LogLevel", val: func(g *gen) []string { return g.logLevel() }},
	{name: "Ciphers", val: func(g *gen) []string { return g.algos(ciphers) }},
	{name: "UserKnownHostsFile", val: func(g *gen) []string {
		if g.pct(15) {
			return []string{pick(g, "none", "/dev/null")}
		}
		return g.some(1, 2, "~/.ssh/known_hosts", "~/.ssh/known_hosts2", "/etc/ssh/known_hosts.d/work", "~/.ssh/kh_%h")
	}},
	{name: "BatchMode", val: func(g *gen) []string { return g.flag(true) }},
	{name: "TCPKeepAlive", aliases: []string{"KeepAlive"}, val: func(g *gen) []string { return g.flag(true) }},
	{name: "HashKnownHosts", val: func(g *gen) []string { return g.flag(true) }},

	// Keywords whose meaning or existence differs between releases.
	{name: "PubkeyAuthentication", val: func(g *gen) []string { // a multistate from 8.9 on
		if g.atLeast("8.9") && g.pct(30) {
			return []string{pick(g, "unbound", "host-bound")}
		}
		return g.flag(true)
	}},
	{name: "IPQoS", val: func(g *gen) []string { return g.ipqos() }}, // last wins before 8.7
	{name: "CheckHostIP", val: func(g *gen) []string { return g.flag(true) }},
	{name: "RequiredRSASize", since: "9.1", val: func(g *gen) []string { return []string{pick(g, "1024", "2048", "3072")} }},
	{name: "Tag", since: "9.4", val: func(g *gen) []string { return []string{pick(g, "work", "home", "ci")} }},
}

// clientHosts are the names queried; clientHostPatterns hit and miss them,
// including case variants (Host patterns are case-sensitive against the name
// as typed).
var clientHosts = []string{"web1.example.com", "WEB1.example.com", "web2.example.com", "db.internal",
	"bastion", "Bastion", "git.example.org", "10.0.0.5", "other.net", "localhost"}

var clientHostPatterns = []string{"web1.example.com", "*.example.com", "web?.example.com", "db.internal",
	"*.internal", "bastion", "Bastion", "BASTION", "10.0.0.*", "git.*", "*.EXAMPLE.com", "other.net", "*", "db*"}

// GenerateClient returns a random but valid ssh_config tree: etc/ssh/ssh_config
// (often the Debian shape: Include /etc/ssh/ssh_config.d/*.conf, then
// Host *), drop-ins and further included files (also inside Host/Match
// blocks), Host blocks with wildcard, negated and multiple patterns, Match
// all/host/originalhost/user/localuser, and the hosts to query. Lexical form
// is randomised as for GenerateServer.
func GenerateClient(r *rand.Rand) Tree { return generateClient(r, GenOptions{}) }

func generateClient(r *rand.Rand, opts GenOptions) Tree {
	g := newGen(r, false, opts)
	main := g.newFile("ssh_config")
	main.lines = append(main.lines, "# ssh_config generated by opensshtest")
	g.filler(main)
	for range g.r.IntN(3) {
		g.directive(main, func(kw) bool { return true })
	}
	if g.pct(70) {
		g.dropIns(main, "ssh_config.d")
	}
	g.clientBody(main, 0, g.r.IntN(4), 1+g.r.IntN(5), g.pct(60))
	t := g.tree()
	t.Hosts = g.some(4, 7, clientHosts...)
	return t
}

// clientBody writes nGlobal directives, nBlocks Host/Match blocks and, when
// hostStar is set, a final Debian-like `Host *` block.
func (g *gen) clientBody(f *file, depth, nGlobal, nBlocks int, hostStar bool) {
	anyKW := func(kw) bool { return true }
	for range nGlobal {
		g.filler(f)
		if depth < maxIncludeDepth && g.pct(10) {
			if g.pct(25) {
				g.includeShared(f)
			} else {
				g.include(f, sctx{depth: depth})
			}
			continue
		}
		g.directive(f, anyKW)
	}
	for range nBlocks {
		g.filler(f)
		f.lines = append(f.lines, g.blockLine())
		for range 1 + g.r.IntN(4) {
			g.filler(f)
			if depth < maxIncludeDepth && g.pct(12) {
				if g.pct(25) {
					g.includeShared(f)
				} else {
					g.include(f, sctx{depth: depth})
				}
				continue
			}
			g.directive(f, anyKW)
		}
	}
	if hostStar {
		g.hostStar(f, anyKW)
	}
}

// hostStar writes a final Debian-like `Host *` block.
func (g *gen) hostStar(f *file, anyKW func(kw) bool) {
	g.filler(f)
	f.lines = append(f.lines, g.line(g.caseMangle("Host"), []string{"*"}, false))
	for range 1 + g.r.IntN(4) {
		if g.pct(30) {
			f.lines = append(f.lines, g.line("    SendEnv", []string{"LANG", "LC_*"}, false))
			g.set["SendEnv"] = true
			continue
		}
		g.directive(f, anyKW)
	}
}

// blockLine renders a Host or Match line.
func (g *gen) blockLine() string {
	if g.pct(65) {
		pats := g.some(1, 3, clientHostPatterns...)
		if g.pct(25) {
			neg := "!" + pick(g, "web2.example.com", "db.internal", "bastion", "10.0.0.5", "WEB1.example.com")
			pats = append(pats, neg)
			g.r.Shuffle(len(pats), func(i, j int) { pats[i], pats[j] = pats[j], pats[i] })
		}
		return g.line(g.caseMangle("Host"), pats, false)
	}
	var args []string
	if g.pct(20) {
		args = []string{g.caseMangle("all")}
	} else {
		for _, cr := range pickN(g, 1+g.r.IntN(2), "host", "originalhost", "user", "localuser") {
			var v string
			switch cr {
			case "host", "originalhost":
				v = strings.Join(g.some(1, 2, "web1.example.com", "*.example.com", "*.internal", "Bastion", "10.0.0.*",
					"git.example.org", "!db.internal", "*.INTERNAL", "bastion.example.com"), ",")
			case "user":
				v = pick(g, "root", "alice", "deploy", "git", "r*", "BoB", "root,git")
			case "localuser":
				v = pick(g, "root", "nobody", "r*")
			}
			if g.pct(15) {
				cr = "!" + cr
			}
			if g.pct(8) {
				args = append(args, g.caseMangle(cr)+"="+v)
			} else {
				args = append(args, g.caseMangle(cr), g.matchQuote(v, true))
			}
		}
	}
	return g.indent() + g.caseMangle("Match") + g.sep() + strings.Join(args, g.ws()) + g.tail()
}
