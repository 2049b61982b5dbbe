package files

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Probes stand for the connections (sshd) or hosts (ssh) a scope selects:
// a value is in effect in a scope when it is in effect for its probes.

// ProbeHost returns a host name that scope's Host patterns select: the
// first positive pattern with wildcards filled in. For the global scope it
// returns a name no sensible pattern list names. The scope's criteria are
// read as cat's release reads them (cat is of the Client dialect).
func (cat *Catalogue) ProbeHost(scope Scope) string {
	if scope.Host == "" {
		if scope.Match != "" {
			for _, c := range cat.mustCriteria(scope.Match) {
				if (c.Attr == "host" || c.Attr == "originalhost") && !c.Negate {
					return fillPattern(firstPositive(c.Arg, ","))
				}
			}
		}
		return "sshconverge-probe.invalid"
	}
	return fillPattern(firstPositive(scope.Host, " "))
}

// ProbeUser is the account name a probe connection uses when its scope
// names groups but no user.
const ProbeUser = "sshconverge-probe"

// ProbeConn returns a connection that scope's Match criteria select (the
// zero Conn for the global section), or an error if it finds none. The
// criteria are read as cat's release reads them (cat is of the Server
// dialect).
func (cat *Catalogue) ProbeConn(scope Scope) (Conn, error) {
	var conn Conn
	crit := cat.mustCriteria(scope.Match)
	if scope.Match != "" && crit == nil {
		return conn, fmt.Errorf("Match %s: not valid sshd Match criteria", scope.Match)
	}
	for _, cr := range crit {
		probeCriterion(&conn, cr)
	}
	if len(conn.Groups) > 0 && conn.User == "" {
		conn.User = ProbeUser // Match Group alone: any member will do
	}
	if !serverMatch(crit, conn) {
		return conn, fmt.Errorf("Match %s: no connection satisfies these criteria", scope.Match)
	}
	return conn, nil
}

// probeCriterion fills the field of conn that criterion cr tests with a
// value cr accepts.
func probeCriterion(conn *Conn, cr Criterion) {
	names := func(have string, lower bool) string {
		cands := patternCandidates(cr.Arg)
		if lower {
			cands = patternCandidates(strings.ToLower(cr.Arg))
		}
		return pickCandidate(cands, have, func(s string) bool { return MatchPatternList(s, cr.Arg, lower) == 1 })
	}
	addrs := func(have string) string {
		return pickCandidate(addrCandidates(cr.Arg), have, func(s string) bool { return matchAddrList(s, cr.Arg) == 1 })
	}
	switch cr.Attr {
	case "user":
		conn.User = names(conn.User, false)
	case "host":
		conn.Host = names(conn.Host, true)
	case "rdomain":
		conn.RDomain = names(conn.RDomain, false)
	case "address":
		conn.Addr = addrs(conn.Addr)
	case "localaddress":
		conn.LAddr = addrs(conn.LAddr)
	case "localport":
		conn.LPort, _ = strconv.Atoi(cr.Arg)
	case "group":
		have := ""
		if len(conn.Groups) > 0 {
			have = conn.Groups[0]
		}
		conn.Groups = []string{names(have, false)}
	}
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

var (
	fillWildcards  = strings.NewReplacer("*", "x", "?", "x")
	dropWildcards  = strings.NewReplacer("*", "", "?", "z")
	fillAddrDigits = strings.NewReplacer("*", "1", "?", "1")
)

// patternCandidates returns names that may match a pattern list: its
// positive patterns with wildcards filled in, then generic names.
func patternCandidates(list string) []string {
	var out []string
	for _, p := range strings.Split(list, ",") {
		if p != "" && p[0] != '!' {
			out = append(out, fillPattern(p), dropWildcards.Replace(p))
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
		out = append(out, fillAddrDigits.Replace(p))
	}
	return append(out, "192.0.2.1", "198.51.100.1", "203.0.113.1", "10.0.0.1", "127.0.0.1", "::1")
}

// mustCriteria returns the criteria s, or nil when s is empty or not valid.
func (cat *Catalogue) mustCriteria(s string) []Criterion {
	if s == "" {
		return nil
	}
	c, _ := cat.ParseCriteria(s)
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
func fillPattern(p string) string { return fillWildcards.Replace(p) }
