package files

import (
	"strings"
)

// Dialect names one of the two OpenSSH configuration languages.
type Dialect uint8

const (
	// Server is the sshd_config(5) dialect.
	Server Dialect = iota + 1
	// Client is the ssh_config(5) dialect.
	Client
)

// String returns "sshd_config" or "ssh_config".
func (d Dialect) String() string {
	switch d {
	case Server:
		return "sshd_config"
	case Client:
		return "ssh_config"
	}
	return "unknown dialect"
}

// Type is the kind of value a keyword takes; it decides how values are
// validated and compared.
type Type uint8

const (
	// TypeString is a single argument taken as written (case-sensitive).
	TypeString Type = iota
	// TypeFlag is yes/no; the client also accepts true/false.
	TypeFlag
	// TypeInt is a decimal integer.
	TypeInt
	// TypeTime is a convtime(3)-style duration: seconds with optional
	// s/m/h/d/w units, summed ("1h30m" is 5400).
	TypeTime
	// TypeEnum is one case-insensitive word out of Keyword.Enum.
	TypeEnum
	// TypeAlgorithms is one comma-separated list of algorithm names,
	// optionally prefixed by +, - or ^. Names are case-sensitive.
	TypeAlgorithms
	// TypePatterns is a list of patterns (wildcards, ! negation).
	TypePatterns
	// TypePath is one file path.
	TypePath
	// TypeRawLine is the rest of the line, taken verbatim ('#' included).
	TypeRawLine
	// TypeList is several whitespace-separated arguments taken as written.
	TypeList
	// TypeIPQoS is one or two DSCP/ToS values (names like af21 or lowdelay,
	// or numbers), the second defaulting to the first.
	TypeIPQoS
	// TypeFlagOrString is a flag, or any other value taken as written (ssh
	// ForwardAgent: yes/no or an agent socket path).
	TypeFlagOrString
)

var typeNames = [...]string{
	TypeString:     "string",
	TypeFlag:       "flag",
	TypeInt:        "integer",
	TypeTime:       "time",
	TypeEnum:       "enum",
	TypeAlgorithms: "algorithm list",
	TypePatterns:   "pattern list",
	TypePath:       "path",
	TypeRawLine:    "raw line",
	TypeList:       "list",
	TypeIPQoS:      "IPQoS",

	TypeFlagOrString: "flag or string",
}

// String returns the type's human name, e.g. "time".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "unknown type"
}

// Combine says how repeated lines of one keyword combine.
type Combine uint8

const (
	// FirstWins: the first obtained value wins; later lines are ignored.
	// For list keywords this means the first line wins as a whole list.
	FirstWins Combine = iota
	// Cumulative: every line's arguments are appended.
	Cumulative
	// LastWins: every line overwrites the previous value.
	LastWins
	// LastWinsAnywhere: like LastWins, but lines inside blocks that do not
	// apply overwrite too (ssh StreamLocalBindMask in OpenSSH 9.2).
	LastWinsAnywhere
)

// Status says whether the running OpenSSH honours a keyword.
type Status uint8

const (
	// Supported keywords take effect.
	Supported Status = iota
	// Deprecated keywords are accepted and ignored with a message.
	Deprecated
	// Unsupported keywords are recognised but compiled out of this build
	// (accepted and ignored with a message).
	Unsupported
)

// Keyword describes one configuration keyword of one dialect, as one
// OpenSSH release (the catalogue's, see Catalogue.Version) knows it.
// Catalogues of different releases hold different *Keyword values: compare
// keywords of one catalogue, or by Name.
type Keyword struct {
	// Name is the canonical spelling, e.g. "ClientAliveInterval": the one
	// the catalogue's release prints in sshd -T / ssh -G (OpenSSH 8.4
	// calls PubkeyAcceptedAlgorithms PubkeyAcceptedKeyTypes).
	Name string
	// Type is the kind of value the keyword takes.
	Type Type
	// Enum lists the words a TypeEnum keyword accepts, in canonical
	// spelling. Synonyms map a word to the canonical word it stands for.
	Enum []string
	// Synonyms maps lowercase accepted words to the canonical word that
	// OpenSSH reports for them (e.g. "prohibit-password" to
	// "without-password" for sshd 9.2's PermitRootLogin).
	Synonyms map[string]string
	// ExactCase is true when OpenSSH matches the Enum words
	// case-sensitively (sshd PermitTunnel).
	ExactCase bool
	// FoldCase is true when OpenSSH lowercases the value before use, so
	// values differing only in case are equal (ssh Hostname).
	FoldCase bool
	// None is true when the keyword also accepts the word "none" in place
	// of a value (e.g. ssh ConnectTimeout).
	None bool
	// Combine says how repeated lines combine.
	Combine Combine
	// InMatch is true when sshd allows the keyword inside a Match block.
	// It is true for every client keyword.
	InMatch bool
	// Status says whether OpenSSH honours the keyword.
	Status Status
	// Default is the value the catalogue's release uses when nothing sets
	// the keyword, in normal form, as sshd -T / ssh -G print it (from the
	// real binaries of Debian's builds); nil when it depends on the host,
	// the user or other settings.
	Default []string
	// Since is the first OpenSSH release that knows the keyword under any
	// spelling; zero when every release modelled (8.4 on) does.
	Since Version
	// Until is the first release that no longer knows it (removed upstream,
	// or compiled out of Debian's build); zero when the newest does.
	Until Version

	// table is the keyword's name in the tables when Name is an older
	// release's spelling of it ("" otherwise).
	table string
	// nameSince is the first release that knows the spelling Name; older
	// releases know the keyword only by an alias, which they print.
	nameSince Version
	// noneResets is true when the word "none" (any case) sets the keyword
	// however it was set before (0, the same value, does not), and 0
	// prints as none (sshd UnusedConnectionTimeout).
	noneResets bool
	// unique is true when a line that repeats an earlier line's arguments
	// adds nothing (ssh IdentityFile, CertificateFile and forwardings).
	unique bool
	// ipqos says how an older release reads IPQoS values.
	ipqos ipqosRules
	// matchSince, when set, is the first release that allows the keyword
	// inside Match (for releases between the ones whose facts are
	// recorded).
	matchSince Version
}

// Catalogue is the set of keywords of one dialect as one OpenSSH release
// knows them, looked up case-insensitively by canonical name or alias.
// Catalogues are immutable and shared: one per dialect and version.
type Catalogue struct {
	dialect Dialect
	version Version
	byName  map[string]*Keyword // lowercase name or alias -> keyword
	all     []*Keyword
	// criteria maps the lowercase Match criteria the release accepts to
	// whether they take an argument.
	criteria map[string]bool
	// legacy is true before 8.7: arguments are split by strdelim, not
	// argv_split (see lexLegacy).
	legacy bool
	// vendor maps lowercase distribution keywords the model does not
	// cover to the distribution that adds them.
	vendor map[string]string
	// well holds the client keywords the evaluation consults.
	well wellKnown
	// camel is true when the release's sshd -T / ssh -G print keywords in
	// CamelCase (sshd from 10.4 on).
	camel bool
}

// alias records that an alternative spelling stands for a canonical
// keyword, in the releases since..until (zero: unbounded).
type alias struct {
	name, canonical string
	since, until    Version
}

// Lookup returns the keyword that name (any case, canonical or alias)
// stands for, or false if the dialect has no such keyword in the
// catalogue's release.
func (c *Catalogue) Lookup(name string) (*Keyword, bool) {
	var buf [64]byte
	if len(name) > len(buf) {
		k, ok := c.byName[strings.ToLower(name)]
		return k, ok
	}
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	k, ok := c.byName[string(b)] // no allocation for a map index
	return k, ok
}

// Find is Lookup with an error for an unknown name, a *KeywordError: it
// names the releases that know the spelling when other ones do
// ("PerSourcePenalties needs OpenSSH 9.8 or later; this host runs
// 9.2p1"), says so of a distribution keyword the model does not cover, and
// otherwise reads "unknown sshd_config keyword "X"", with the nearest
// known spelling suggested when there is one.
func (c *Catalogue) Find(name string) (*Keyword, error) {
	if k, ok := c.Lookup(name); ok {
		return k, nil
	}
	return nil, c.unknown(name, true)
}

// Keywords returns every keyword of the catalogue in catalogue order.
func (c *Catalogue) Keywords() []*Keyword { return c.all }

// Dialect returns the dialect the catalogue describes.
func (c *Catalogue) Dialect() Dialect { return c.dialect }

// Version returns the OpenSSH release the catalogue describes (never the
// zero Version).
func (c *Catalogue) Version() Version { return c.version }

// Suggest returns the known keyword spelling closest to name, or "" when
// nothing is close enough to be a plausible typo.
func (c *Catalogue) Suggest(name string) string {
	lower := strings.ToLower(name)
	best, bestDist := "", len(lower)/3+1
	for alias, k := range c.byName {
		if d := editDistance(lower, alias); d < bestDist || (d == bestDist && best != "" && k.Name < best) {
			best, bestDist = k.Name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// CatalogueFor returns the keyword catalogue of dialect d for
// DefaultVersion (OpenSSH 9.2 with Debian's patches); v.Catalogue(d) gives
// another release's. The catalogues are immutable and shared.
func CatalogueFor(d Dialect) *Catalogue {
	return Version{}.Catalogue(d)
}
