package files

import (
	"fmt"
	"strings"
)

// releaseRules applies to sshd's global values what a release does to
// them after reading its configuration and before applying Match blocks
// (matched holds the values Match blocks set).
//
// Before 8.7, sshd turned keyboard-interactive authentication on whenever
// ChallengeResponseAuthentication (a keyword of its own then, yes by
// default) was on; an unset KbdInteractiveAuthentication is otherwise no.
// A Match block that sets KbdInteractiveAuthentication still decides.
func (c *Catalogue) releaseRules(global, matched *Effective) {
	if !c.legacy || c.dialect != Server {
		return
	}
	kbd, ok1 := c.Lookup("KbdInteractiveAuthentication")
	cra, ok2 := c.Lookup("ChallengeResponseAuthentication")
	if !ok1 || !ok2 || kbd == cra {
		return
	}
	if _, ok := matched.values[kbd]; ok {
		return
	}
	craV, craSet := global.values[cra]
	craOn := !craSet || craV.Args[0] == "yes"
	kbdV, kbdSet := global.values[kbd]
	var from []*Entry
	where := "its default"
	if craSet {
		from, where = craV.From, craV.Origin().String()
	}
	switch {
	case craOn && kbdSet && kbdV.Args[0] == "no":
		global.values[kbd] = &Value{Keyword: kbd, Args: []string{"yes"}, From: append(from, kbdV.From...),
			cause: fmt.Sprintf("OpenSSH %s turns keyboard-interactive authentication on while ChallengeResponseAuthentication is yes (%s); "+
				"set ChallengeResponseAuthentication no as well, before this key", c.version, where)}
	case !craOn && !kbdSet:
		global.values[kbd] = &Value{Keyword: kbd, Args: []string{"no"}, From: from}
		global.order = append(global.order, kbd)
	}
}

// resets reports whether entry en is the word "none" of a keyword sshd
// sets to none whatever came before (UnusedConnectionTimeout: "none" skips
// the first-value-wins check, 0 does not).
func (en *Entry) resets() bool {
	if !en.Keyword.noneResets || len(en.Args) != 1 || en.Args[0] != "none" {
		return false
	}
	return strings.EqualFold(strings.Trim(en.Line.Value(), `"'`), "none")
}
