package opensshtest

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false,
	"TestVersionFacts: rewrite pkg/files/testdata/openssh/<version>.json from the real binaries")

// TestVersionFacts checks pkg/files/testdata/openssh/<version>.json against
// the binaries of every installation (Installs); with -update it writes them:
//
//	go test ./pkg/files/opensshtest -run TestVersionFacts -update
//
// Every installation is asked about the same candidate keywords: the union of
// every version's sshd -T / ssh -G output, the catalogue in
// pkg/files/keywords*.go, the keywords of the fleet notes, the committed
// facts, and every word in the binaries' read-only strings (keyword tables
// included; with its suffixes, as the linker merges a string literal into the
// tail of a longer one). With -short (and no -update) it is skipped.
func TestVersionFacts(t *testing.T) {
	if testing.Short() && !*update {
		t.Skip("-short: asking every version about every candidate takes half a minute or more")
	}
	ins := Installs(t)
	dir := FactsDir()
	committed, err := ReadFacts(dir)
	if err != nil {
		t.Fatal(err)
	}
	byVersion := map[string]Facts{}
	for _, f := range committed {
		byVersion[f.Version] = f
	}

	subjects := make([]*factsSubject, len(ins))
	for i, in := range ins {
		s := &factsSubject{in: in, o: NewFor(t, in), root: t.TempDir()}
		if err := s.dumps(); err != nil {
			t.Fatalf("%v: %v", in, err)
		}
		subjects[i] = s
	}
	likelyS, likelyC := likelyKeywords(t, subjects, committed)
	wordsS, wordsC := map[string]bool{}, map[string]bool{} // of every subject
	criteria := map[string]bool{}
	for _, c := range matchCriterionCandidates() {
		criteria[c] = true
	}
	for _, f := range committed {
		for _, c := range append(f.Server.MatchCriteria, f.Client.MatchCriteria...) {
			criteria[c] = true
		}
	}
	for _, s := range subjects {
		root := s.in.Root
		if root == "" {
			root = "/"
		}
		s.wordsS, s.wordsC = map[string]bool{}, map[string]bool{}
		for _, b := range []string{"usr/sbin/sshd", "usr/lib/openssh/sshd-session", "usr/lib/openssh/sshd-auth"} {
			if err := binaryWords(filepath.Join(root, b), s.wordsS); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		if err := binaryWords(filepath.Join(root, "usr/bin/ssh"), s.wordsC); err != nil {
			t.Fatal(err)
		}
		for w := range s.wordsS {
			wordsS[w] = true
		}
		for w := range s.wordsC {
			wordsC[w] = true
		}
	}
	cand := factsCandidates{
		likelyS: sortedKeys(likelyS), likelyC: sortedKeys(likelyC),
		wordsS: sortedKeys(minus(wordsS, likelyS)), wordsC: sortedKeys(minus(wordsC, likelyC)),
		criteria: sortedKeys(criteria),
	}
	t.Logf("candidates: sshd %d likely + %d words, ssh %d likely + %d words, %d Match criteria",
		len(cand.likelyS), len(cand.wordsS), len(cand.likelyC), len(cand.wordsC), len(cand.criteria))

	for _, s := range subjects {
		t.Run(s.in.Name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			got, err := s.facts(cand)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%v: %d sshd keywords (%d in Match), %d ssh keywords, in %d runs, %v",
				s.in, len(got.Server.Keywords), len(got.Server.InMatch), len(got.Client.Keywords), s.runs, time.Since(start).Round(time.Millisecond))
			// The binaries' words must hold every keyword found: then they
			// are a complete source of candidates, and a keyword that no
			// dump, catalogue or note names is still found.
			for _, c := range []struct {
				bin   string
				kws   []string
				words map[string]bool
			}{{"sshd", got.Server.Keywords, s.wordsS}, {"ssh", got.Client.Keywords, s.wordsC}} {
				for _, kw := range c.kws {
					if !c.words[kw] {
						t.Errorf("%v: %s keyword %s is not among the binary's words", s.in, c.bin, kw)
					}
				}
			}
			gotJSON, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(dir, got.Version+".json")
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(name, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, ok := byVersion[got.Version]
			if !ok {
				t.Fatalf("no %s for %v; write it with: go test ./pkg/files/opensshtest -run TestVersionFacts -update", name, s.in)
			}
			wantJSON, err := want.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("%s does not match what %v says (rerun with -update if the binaries changed):\n%s",
					name, s.in, lineDiff(wantJSON, gotJSON))
			}
		})
	}
}

// TestVersionFactsCommitted checks the committed facts for what must hold
// whatever the machine has: each file parses, is sorted, and holds the
// differences between versions the fleet notes give.
func TestVersionFactsCommitted(t *testing.T) {
	all, err := ReadFacts(FactsDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatalf("no facts in %s", FactsDir())
	}
	byVersion := map[string]Facts{}
	for _, f := range all {
		byVersion[f.Version] = f
		for name, l := range map[string][]string{
			"sshd keywords": f.Server.Keywords, "sshd deprecated": f.Server.Deprecated,
			"sshd unsupported": f.Server.Unsupported, "sshd in_match": f.Server.InMatch,
			"sshd criteria": f.Server.MatchCriteria, "ssh keywords": f.Client.Keywords,
			"ssh deprecated": f.Client.Deprecated, "ssh unsupported": f.Client.Unsupported,
			"ssh criteria": f.Client.MatchCriteria,
		} {
			if !sort.StringsAreSorted(l) {
				t.Errorf("%s: %s not sorted", f.Version, name)
			}
		}
		for _, kw := range append(append([]string{}, f.Server.InMatch...), f.Server.Deprecated...) {
			if !f.Server.Has(kw) {
				t.Errorf("%s: %s is not among the sshd keywords", f.Version, kw)
			}
		}
		// Every version: Port is global only, PasswordAuthentication may
		// sit in Match; Match and Include exist in both dialects.
		if f.Server.AllowedInMatch("Port") || !f.Server.AllowedInMatch("PasswordAuthentication") {
			t.Errorf("%s: Port in Match %v, PasswordAuthentication in Match %v", f.Version,
				f.Server.AllowedInMatch("Port"), f.Server.AllowedInMatch("PasswordAuthentication"))
		}
		for _, kw := range []string{"match", "include", "port"} {
			if !f.Server.Has(kw) || !f.Client.Has(kw) {
				t.Errorf("%s: %s missing from a dialect", f.Version, kw)
			}
		}
		if v, ok := f.Server.Default("port"); !ok || len(v) != 1 || v[0] != "22" {
			t.Errorf("%s: sshd default Port %v", f.Version, v)
		}
	}
	// Version differences the fleet notes give, when those versions are
	// committed.
	if f, ok := byVersion["8.4p1"]; ok {
		for _, kw := range []string{"persourcemaxstartups", "channeltimeout", "modulifile", "requiredrsasize"} {
			if f.Server.Has(kw) {
				t.Errorf("8.4p1 sshd accepts %s, which came later", kw)
			}
		}
		if f.Client.Has("knownhostscommand") || !f.Server.Has("pubkeyacceptedkeytypes") {
			t.Errorf("8.4p1: ssh knownhostscommand %v, sshd pubkeyacceptedkeytypes %v",
				f.Client.Has("knownhostscommand"), f.Server.Has("pubkeyacceptedkeytypes"))
		}
	}
	for _, f := range all {
		if CompareVersions(f.Version, "10.0") < 0 {
			continue
		}
		for _, kw := range []string{"persourcepenalties", "refuseconnection", "sshdsessionpath"} {
			if !f.Server.Has(kw) {
				t.Errorf("%s sshd lacks %s", f.Version, kw)
			}
		}
		if !contains(f.Server.MatchCriteria, "version") || !contains(f.Client.MatchCriteria, "version") {
			t.Errorf("%s: Match Version missing", f.Version)
		}
	}
	if f, ok := byVersion["10.6p1"]; ok && f.Server.DumpCase != "camel" {
		t.Errorf("10.6p1 sshd -T dump case %q, want camel", f.Server.DumpCase)
	}
	if f, ok := byVersion["9.2p1"]; ok && (f.Server.DumpCase != "lower" || contains(f.Server.MatchCriteria, "version")) {
		t.Errorf("9.2p1: dump case %q, Match Version %v", f.Server.DumpCase, contains(f.Server.MatchCriteria, "version"))
	}
}

// factsSubject is one installation being asked for its facts.
type factsSubject struct {
	in           Install
	o            *Oracle
	root         string          // test tree: etc/ssh with empty configs and the probe files
	sshdT, sshG  string          // raw sshd -T / ssh -G output for empty configurations
	runs         int             // probe runs so far
	wordsS       map[string]bool // words of the sshd binaries
	wordsC       map[string]bool // words of the ssh binary
	probeCounter int
}

// factsCandidates are the names every installation is asked about.
type factsCandidates struct {
	likelyS, likelyC []string // from dumps, the catalogue, the fleet notes, the committed facts
	wordsS, wordsC   []string // the binaries' words, not already likely
	criteria         []string // Match criteria
}

// dumps writes the empty configurations and runs sshd -T and ssh -G on them.
func (s *factsSubject) dumps() error {
	if err := (Tree{Files: map[string]string{"etc/ssh/sshd_config": "", "etc/ssh/ssh_config": ""}}).Write(s.root); err != nil {
		return err
	}
	res, err := s.o.run(s.root, "T", s.o.sshd, []string{""})
	if err != nil {
		return err
	}
	if res[0].status != 0 {
		return fmt.Errorf("sshd -T on an empty config: exit %d: %s", res[0].status, res[0].stderr)
	}
	s.sshdT = res[0].stdout
	if res, err = s.o.run(s.root, "G", s.o.ssh, []string{"somehost"}); err != nil {
		return err
	}
	if res[0].status != 0 {
		return fmt.Errorf("ssh -G on an empty config: exit %d: %s", res[0].status, res[0].stderr)
	}
	s.sshG = res[0].stdout
	return nil
}

// facts asks the installation about every candidate.
func (s *factsSubject) facts(c factsCandidates) (Facts, error) {
	f := Facts{Version: s.in.Version}
	var err error
	if f.Server, err = s.dialect("f", s.o.sshd, s.sshdT, c.likelyS, c.wordsS, c.criteria); err != nil {
		return f, fmt.Errorf("sshd: %w", err)
	}
	if f.Client, err = s.dialect("F", s.o.ssh, s.sshG, c.likelyC, c.wordsC, c.criteria); err != nil {
		return f, fmt.Errorf("ssh: %w", err)
	}
	return f, nil
}

// dialect asks one binary (mode "f": sshd -t -f, "F": ssh -v -G -F).
func (s *factsSubject) dialect(mode, bin, dump string, likely, words, criteria []string) (DialectFacts, error) {
	d := DialectFacts{Keywords: []string{}, Deprecated: []string{}, Unsupported: []string{}, MatchCriteria: []string{}}
	// The binaries' words are nearly all unknown (few fatal errors: big
	// files); the likely keywords are nearly all known (small files).
	for _, set := range []struct {
		kws   []string
		chunk int
	}{{words, 1000}, {likely, 8}} {
		msgs, err := s.probe(mode, bin, nil, probeLines(set.kws), set.chunk)
		if err != nil {
			return d, err
		}
		for i, kw := range blockLast(set.kws) {
			switch {
			case strings.Contains(msgs[i], "Bad configuration option"):
				continue
			case strings.Contains(msgs[i], "Deprecated option"):
				d.Deprecated = append(d.Deprecated, kw)
			case strings.Contains(msgs[i], "Unsupported option"):
				d.Unsupported = append(d.Unsupported, kw)
			}
			d.Keywords = append(d.Keywords, kw)
		}
	}
	sort.Strings(d.Keywords)
	sort.Strings(d.Deprecated)
	sort.Strings(d.Unsupported)

	if mode == "f" {
		d.InMatch = []string{}
		msgs, err := s.probe(mode, bin, []string{"Match User x"}, probeLines(d.Keywords), 8)
		if err != nil {
			return d, err
		}
		for i, kw := range blockLast(d.Keywords) {
			if !strings.Contains(msgs[i], "not allowed within a Match block") {
				d.InMatch = append(d.InMatch, kw)
			}
		}
		sort.Strings(d.InMatch)
	}

	// An argument-less criterion (all, invalid-user, canonical) leaves
	// "false" to be read as the next criterion: the binary then complains
	// about "false", not about c.
	contents := make([]string, len(criteria))
	for i, c := range criteria {
		contents[i] = "Match " + c + " false\n"
	}
	res, err := s.runProbes(mode, bin, contents)
	if err != nil {
		return d, err
	}
	for i, c := range criteria {
		if !strings.Contains(strings.ToLower(res[i].stderr), "unsupported match attribute "+c) {
			d.MatchCriteria = append(d.MatchCriteria, c)
		}
	}
	if contains(d.MatchCriteria, "invalid-criterion") {
		return d, fmt.Errorf("the control Match criterion invalid-criterion was accepted: the probe is broken")
	}

	// Most keywords decide the case: ssh -G prints one odd
	// "canonicalizePermittedcnames" among lowercase ones.
	type line struct{ key, raw string }
	var lines []line
	upper := 0
	for _, l := range strings.Split(dump, "\n") {
		k, _, _ := strings.Cut(l, " ")
		if k == "" || (mode == "f" && strings.EqualFold(k, "hostkey")) {
			continue
		}
		if k != strings.ToLower(k) {
			upper++
		}
		lines = append(lines, line{strings.ToLower(k), l})
	}
	d.DumpCase = "lower"
	if 2*upper > len(lines) {
		d.DumpCase = "camel"
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].key < lines[j].key })
	d.Defaults = make([]string, len(lines))
	for i, l := range lines {
		d.Defaults[i] = l.raw
	}
	return d, nil
}

// blockLast orders keywords as probeLines writes them: Host and Match (which
// open blocks) last.
func blockLast(kws []string) []string {
	out := make([]string, 0, len(kws))
	var blocks []string
	for _, k := range kws {
		if k == "host" || k == "match" {
			blocks = append(blocks, k)
		} else {
			out = append(out, k)
		}
	}
	return append(out, blocks...)
}

// probeLines returns "keyword 0" for each keyword, in blockLast order. "0"
// is an argument every version's parser takes as one (9.x refuses a bare
// keyword before looking it up) without a DNS lookup or a command run.
func probeLines(kws []string) []string {
	ls := blockLast(kws)
	for i := range ls {
		ls[i] += " 0"
	}
	return ls
}

// lineRE finds the line number OpenSSH names in a message about a
// configuration line ("/etc/ssh/p.conf line 3: …", "… p.conf: line 3: …",
// "reprocess config line 3: …").
var lineRE = regexp.MustCompile(`\bline ([0-9]+)\b`)

// probe asks about lines written after prefix in configuration files and
// returns, per line, the messages the binary printed about it ("" when
// none). The lines are cut into chunks of at most chunk lines, one file
// each, all asked in one namespace. A fatal error stops the parser at a
// line: the rest of its chunk is asked again in the next round, until every
// line was read.
func (s *factsSubject) probe(mode, bin string, prefix, lines []string, chunk int) ([]string, error) {
	type part struct{ next, end int } // lines[next:end] are still to read
	var parts []part
	for lo := 0; lo < len(lines); lo += chunk {
		parts = append(parts, part{lo, min(lo+chunk, len(lines))})
	}
	msgs := make([]string, len(lines))
	for len(parts) > 0 {
		contents := make([]string, len(parts))
		for i, p := range parts {
			contents[i] = strings.Join(append(append([]string{}, prefix...), lines[p.next:p.end]...), "\n") + "\n"
		}
		res, err := s.runProbes(mode, bin, contents)
		if err != nil {
			return nil, err
		}
		var again []part
		for pi, p := range parts {
			last := -1
			for _, l := range strings.Split(res[pi].stderr, "\n") {
				m := lineRE.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				n, _ := strconv.Atoi(m[1])
				i := p.next + n - 1 - len(prefix)
				if i < p.next || i >= p.end {
					return nil, fmt.Errorf("message about line %d, outside the lines asked (prefix %q): %s", n, prefix, l)
				}
				msgs[i] += l + "\n"
				last = max(last, i)
			}
			// Parsed to the end: exit 0, or sshd/ssh counted bad lines
			// and gave up after the last. Otherwise the last line named
			// was fatal.
			if res[pi].status == 0 || strings.Contains(res[pi].stderr, "terminating,") || last < p.next {
				continue
			}
			if last+1 < p.end {
				again = append(again, part{last + 1, p.end})
			}
		}
		parts = again
	}
	return msgs, nil
}

// runProbes writes each content to an etc/ssh/probe-N.conf of the
// subject's tree and runs the binary on each, in one namespace.
func (s *factsSubject) runProbes(mode, bin string, contents []string) ([]result, error) {
	names := make([]string, len(contents))
	for i, c := range contents {
		s.probeCounter++
		names[i] = fmt.Sprintf("probe-%d.conf", s.probeCounter)
		file := filepath.Join(s.root, "etc", "ssh", names[i])
		if err := os.WriteFile(file, []byte(c), 0o644); err != nil {
			return nil, err
		}
		defer os.Remove(file)
	}
	s.runs++
	return s.o.run(s.root, mode, bin, names)
}

// likelyKeywords returns the server and client candidates other than the
// binaries' words: the dumps of every subject, the catalogue, the fleet
// notes and the committed facts, lowercase.
func likelyKeywords(t *testing.T, subjects []*factsSubject, committed []Facts) (server, client map[string]bool) {
	t.Helper()
	server, client = map[string]bool{}, map[string]bool{}
	addDump := func(set map[string]bool, dump string) {
		for _, l := range strings.Split(dump, "\n") {
			if k, _, _ := strings.Cut(l, " "); k != "" {
				set[strings.ToLower(k)] = true
			}
		}
	}
	for _, s := range subjects {
		addDump(server, s.sshdT)
		addDump(client, s.sshG)
	}
	both := fleetKeywords()
	// The catalogue: keyword names and aliases in pkg/files/keywords*.go
	// (both dialects' names are asked of both binaries).
	files, err := filepath.Glob(filepath.Join("..", "keywords*.go"))
	if err != nil {
		t.Fatal(err)
	}
	nameRE := regexp.MustCompile(`Name:\s*"([A-Za-z0-9]+)"|name:\s*"([A-Za-z0-9]+)",\s*canonical:\s*"([A-Za-z0-9]+)"|\{"([A-Za-z0-9]+)",\s*"[A-Za-z ]+"\}`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range nameRE.FindAllStringSubmatch(string(b), -1) {
			both = append(both, m[1:]...)
		}
	}
	for _, k := range both {
		if k != "" {
			server[strings.ToLower(k)] = true
			client[strings.ToLower(k)] = true
		}
	}
	for _, f := range committed {
		for _, k := range f.Server.Keywords {
			server[k] = true
		}
		for _, k := range f.Client.Keywords {
			client[k] = true
		}
	}
	return server, client
}

// fleetKeywords are the keywords the fleet notes name as added, removed or
// vendor-specific across the versions in the field (RHEL's GSSAPI and
// Kerberos additions included), for both dialects.
func fleetKeywords() []string {
	return strings.Fields(`
		PerSourcePenalties PerSourcePenaltyExemptList RefuseConnection SshdSessionPath SshdAuthPath
		PAMServiceName ChannelTimeout UnusedConnectionTimeout RequiredRSASize PerSourceMaxStartups
		PerSourceNetBlockSize ModuliFile LogVerbose PubkeyAcceptedAlgorithms HostbasedAcceptedAlgorithms
		PubkeyAcceptedKeyTypes HostbasedAcceptedKeyTypes WarnWeakCrypto AgentSocketPath
		GSSAPIEnablek5users KerberosUseKuserok GSSAPIKeyExchange GSSAPIKexAlgorithms
		ObscureKeystrokeTiming Tag VersionAddendum EnableEscapeCommandline ForkAfterAuthentication
		KnownHostsCommand PermitRemoteOpen SessionType StdinNull DSAAuthentication
		UseRoaming UsePrivilegeSeparation Protocol Cipher CompressionLevel`)
}

// matchCriterionCandidates are the Match criteria asked of both binaries:
// those of every OpenSSH release up to 10.x that the man pages name, and
// "invalid-criterion", a control no version may accept.
func matchCriterionCandidates() []string {
	return strings.Fields(`address all canonical command exec final group host invalid-user
		localaddress localnetwork localport localuser originalhost rdomain sessiontype tagged
		user version invalid-criterion`)
}

// binaryWords adds to set the lowercase words (runs of letters and digits
// of 3 to 40 characters, starting with a letter) in the printable strings of
// the file, and every suffix of them that starts with a letter: the keyword
// tables' literals, wherever the linker put them.
func binaryWords(file string, set map[string]bool) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	isWord := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	add := func(w []byte) {
		if len(w) < 3 || len(w) > 40 {
			return
		}
		lw := strings.ToLower(string(w))
		for i := 0; i+3 <= len(lw); i++ {
			if lw[i] >= 'a' && lw[i] <= 'z' {
				set[lw[i:]] = true
			}
		}
	}
	// Printable runs of at least 4 bytes ending in NUL, as string literals
	// do; then split into words.
	start := 0
	for i, c := range b {
		if c >= 0x20 && c < 0x7f {
			continue
		}
		if c == 0 && i-start >= 4 {
			run := b[start:i]
			for j := 0; j < len(run); {
				k := j
				for k < len(run) && isWord(run[k]) {
					k++
				}
				add(run[j:k])
				j = k + 1
			}
		}
		start = i + 1
	}
	return nil
}

// minus returns the keys of a that are not in b.
func minus(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		if !b[k] {
			out[k] = true
		}
	}
	return out
}

// sortedKeys returns the keys of set, sorted.
func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lineDiff lists the lines only in want ("-") and only in got ("+"), at most
// 60 of them.
func lineDiff(want, got []byte) string {
	count := func(b []byte) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(string(b), "\n") {
			m[strings.TrimSpace(strings.TrimSuffix(l, ","))]++
		}
		return m
	}
	w, g := count(want), count(got)
	var out []string
	for _, l := range sortedKeys(keysOf(w, g)) {
		switch {
		case w[l] > g[l]:
			out = append(out, "- "+l)
		case g[l] > w[l]:
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 60 {
		out = append(out[:60], fmt.Sprintf("… and %d more", len(out)-60))
	}
	return strings.Join(out, "\n")
}

// keysOf returns the union of the maps' keys as a set.
func keysOf(ms ...map[string]int) map[string]bool {
	set := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			set[k] = true
		}
	}
	return set
}
