package files

import (
	"slices"
	"strings"
	"testing"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

func TestProbeAccount(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/bash\n# a comment\nalice:x:1000:1000::/home/alice:/bin/sh\n"
	group := "root:x:0:\nwheel:x:10:bob\njump:x:60000:\nalice:x:1000:\n"
	for _, tc := range []struct {
		name                   string
		conn                   Conn
		wantPasswd, wantGroups []string // lines that must be there
	}{
		{"new user, existing empty group", Conn{User: ProbeUser, Groups: []string{"jump"}},
			[]string{ProbeUser + ":x:60000:60000::/nonexistent:/usr/sbin/nologin"}, []string{"jump:x:60000:" + ProbeUser}},
		{"existing user, group with members", Conn{User: "alice", Groups: []string{"wheel"}},
			[]string{"alice:x:1000:1000::/home/alice:/bin/sh"}, []string{"wheel:x:10:bob,alice", "alice:x:1000:"}},
		{"missing group", Conn{User: "alice", Groups: []string{"ops", "wheel"}},
			nil, []string{"ops:x:60001:alice", "wheel:x:10:bob,alice"}},
		{"already a member", Conn{User: "bob", Groups: []string{"wheel"}},
			[]string{"bob:x:60000:10::/nonexistent:/usr/sbin/nologin"}, []string{"wheel:x:10:bob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, g, err := ProbeAccount([]byte(passwd), []byte(group), tc.conn)
			if err != nil {
				t.Fatal(err)
			}
			pl, gl := strings.Split(string(p), "\n"), strings.Split(string(g), "\n")
			for _, want := range tc.wantPasswd {
				if !slices.Contains(pl, want) {
					t.Errorf("passwd lacks %q:\n%s", want, p)
				}
			}
			for _, want := range tc.wantGroups {
				if !slices.Contains(gl, want) {
					t.Errorf("group lacks %q:\n%s", want, g)
				}
			}
			n := 0
			for _, l := range pl {
				if strings.HasPrefix(l, tc.conn.User+":") {
					n++
				}
			}
			if !slices.Contains(pl, "root:x:0:0:root:/root:/bin/bash") || n != 1 {
				t.Errorf("passwd lost a line or has the user twice:\n%s", p)
			}
		})
	}
	for _, bad := range []Conn{{User: "a:b", Groups: []string{"g"}}, {User: "u", Groups: []string{"g,h"}}, {Groups: []string{"g"}}, {User: "u"}} {
		if _, _, err := ProbeAccount([]byte(passwd), []byte(group), bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestMatchGroupAgainstSSHD compares the model's Match Group evaluation
// (pattern lists, negation, wildcards, a user in several groups, Group
// with User) with the real sshd's, the probe's account made a member of
// the groups as the agent makes it when it asks the daemon.
func TestMatchGroupAgainstSSHD(t *testing.T) {
	o := opensshtest.New(t)
	conf := `PermitTTY yes
Match Group admins,ops*
	X11Forwarding yes
Match Group *,!wheel
	MaxSessions 3
Match Group jump User alice
	PermitTTY no
Match Group jump
	MaxAuthTries 2
`
	root := writeTree(t, map[string]string{"etc/ssh/sshd_config": conf})
	dir := root.Dir()
	cfg := mustLoad(t, root, "/etc/ssh/sshd_config", Server)
	conns := []Conn{
		{User: ProbeUser, Groups: []string{"admins"}},
		{User: ProbeUser, Groups: []string{"opsteam"}},
		{User: ProbeUser, Groups: []string{"wheel"}},
		{User: ProbeUser, Groups: []string{"jump"}},
		{User: "alice", Groups: []string{"jump"}},
		{User: "alice", Groups: []string{"jump", "wheel"}},
		{User: ProbeUser},
	}
	var oconns []opensshtest.Conn
	for _, c := range conns {
		oconns = append(oconns, opensshtest.Conn{User: c.User, Host: "h", Addr: "192.0.2.1", Groups: c.Groups})
	}
	dumps, err := o.ServerT(dir, oconns)
	if err != nil {
		t.Fatal(err)
	}
	matched := 0
	for i, c := range conns {
		c.Host, c.Addr = "h", "192.0.2.1"
		eff := cfg.Server(c)
		for _, kw := range []string{"X11Forwarding", "MaxSessions", "PermitTTY", "MaxAuthTries"} {
			k, _ := cfg.Catalogue().Lookup(kw)
			v, set := eff.Get(k)
			if !set {
				continue
			}
			matched++
			if got := dumps[i].Value(kw); got != v.Args[0] {
				t.Errorf("%+v: %s: sshd says %q, the model %q", c, kw, got, v.Args[0])
			}
		}
		if len(c.Groups) == 0 && dumps[i].Value("MaxSessions") != "10" {
			t.Errorf("a user in no group matched a Group block: MaxSessions %s", dumps[i].Value("MaxSessions"))
		}
	}
	if matched < 12 {
		t.Errorf("only %d values compared", matched)
	}
}
