package desired

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sshconverge/agent/pkg/files"
)

const good = `version: 1
sshd:
  settings:
    ClientAliveInterval: 5m
    clientalivecountmax: 2
    X11Forwarding: false
    AllowUsers: alice "bob smith"
  absent: [PermitRootLogin]
  match:
    - criteria: User  backup
      settings:
        ClientAliveInterval: 60
ssh:
  path: /etc/ssh/ssh_config
  hosts:
    - host: examplehost
      settings:
        Hostname: ExampleHost.com
        ProtocolKeepAlives: 180
        SendEnv: [LANG, "LC_*"]
        ProxyCommand: "ssh -W %h:%p bastion # keeps the hash"
`

func TestParse(t *testing.T) {
	st, err := Parse("d.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, side := range []*Side{st.Server, st.Client} {
		add := func(scope string, ss []Setting) {
			for _, s := range ss {
				got = append(got, strings.Join([]string{s.Pos.String(), scope, s.Keyword.Name, strings.Join(s.Args, "|"), strings.Join(s.Normal, "|")}, " "))
			}
		}
		add(side.Dialect.String(), side.Settings)
		for _, b := range side.Blocks {
			add(b.Scope.String(), b.Settings)
		}
	}
	want := []string{
		"d.yaml:4:26 sshd_config ClientAliveInterval 5m 300",
		"d.yaml:5:26 sshd_config ClientAliveCountMax 2 2",
		"d.yaml:6:20 sshd_config X11Forwarding no no",
		"d.yaml:7:17 sshd_config AllowUsers alice|bob smith alice|bob smith",
		"d.yaml:12:30 Match User backup ClientAliveInterval 60 60",
		"d.yaml:18:19 Host examplehost Hostname ExampleHost.com examplehost.com",
		"d.yaml:19:29 Host examplehost ServerAliveInterval 180 180",
		"d.yaml:20:18 Host examplehost SendEnv LANG|LC_* LANG|LC_*",
		"d.yaml:21:23 Host examplehost ProxyCommand ssh -W %h:%p bastion # keeps the hash ssh -W %h:%p bastion # keeps the hash",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	if len(st.Server.Absent) != 1 || st.Server.Absent[0].Keyword.Name != "PermitRootLogin" || st.Server.Absent[0].Pos.String() != "d.yaml:8:12" {
		t.Errorf("absent = %+v", st.Server.Absent)
	}
	if st.Client.Path != "/etc/ssh/ssh_config" || st.Server.Path != DefaultServerPath {
		t.Errorf("paths = %s, %s", st.Server.Path, st.Client.Path)
	}
}

// TestParseErrors checks that each class of bad input is reported at its
// position, all of them in one run.
func TestParseErrors(t *testing.T) {
	src := `version: 1
sshd:
  path: ../etc/sshd_config
  settings:
    ClientAliveIntervall: 300
    ClientAliveCountMax: -1
    ClientAliveInterval: 5x
    X11Forwarding: maybe
    PermitRootLogin: sometimes
    Banner: "/etc/issue\nPermitRootLogin yes"
    KeepAlive: yes
    TCPKeepAlive: no
    PasswordAuthentication: [yes, no]
    Protocol: 2
    LoginGraceTime:
  absent: [X11Forwarding, Frobnicate]
  match:
    - criteria: Colour red
      settings: {ClientAliveInterval: 60}
    - criteria: User backup
      settings:
        Port: 2222
    - criteria: User backup
      settings: {MaxAuthTries: 3}
    - settings: {MaxAuthTries: 3}
  extra: 1
ssh:
  hosts:
    - host: examplehost
      settings:
        ServerAliveInterval: 180
        setuptimeout: 60
        Hostname: {a: b}
`
	_, err := Parse("bad.yaml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`bad.yaml:3:9: sshd.path "../etc/sshd_config" must be an absolute, clean path (it is resolved under --root, which it must not leave)`,
		`bad.yaml:5:5: unknown sshd_config keyword "ClientAliveIntervall"; did you mean ClientAliveInterval?`,
		`bad.yaml:6:26: ClientAliveCountMax: "-1" is not an integer between 0 and 2147483647`,
		`bad.yaml:7:26: ClientAliveInterval: "5x": not a time: use seconds, optionally with units s, m, h, d, w (e.g. 300, 5m, 1h30m)`,
		`bad.yaml:8:20: X11Forwarding: "maybe" is not yes or no`,
		`bad.yaml:9:22: PermitRootLogin: "sometimes" is not one of`,
		`bad.yaml:10:13: Banner: control character '\n' is not allowed (a value must be one line of text)`,
		`bad.yaml:12:5: TCPKeepAlive is set twice (first as KeepAlive at bad.yaml:11:5)`,
		`bad.yaml:13:29: PasswordAuthentication takes one value, got 2 (yes no)`,
		`bad.yaml:14:5: Protocol is deprecated: OpenSSH 9.2 ignores it; remove it from the desired state`,
		`bad.yaml:15:20: LoginGraceTime needs a value, not nothing`,
		`bad.yaml:16:27: unknown sshd_config keyword "Frobnicate"`,
		`bad.yaml:18:17: Match: unsupported criterion "Colour"`,
		`bad.yaml:22:9: Port is not allowed inside a Match block: sshd rejects it there; set it globally`,
		`bad.yaml:23:7: Match User backup appears twice (first at bad.yaml:20:7); merge the two`,
		`bad.yaml:25:7: missing criteria`,
		`bad.yaml:26:3: unknown field "extra"; want one of path, settings, absent, everywhere, match`,
		`bad.yaml:32:9: ServerAliveInterval is set twice (first as ServerAliveInterval at bad.yaml:31:9)`,
		`bad.yaml:33:19: Hostname needs a value, not a mapping`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(got), len(want), err)
	}
	for i := range min(len(got), len(want)) {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestParseSyntaxAndShape(t *testing.T) {
	tests := []struct{ src, want string }{
		{"", "d.yaml: empty file; it needs at least version: 1"},
		{"version: 1\nsshd: [\n", "d.yaml:2: YAML: did not find expected node content"},
		{"sshd: {}\n", "d.yaml:1:1: missing version; add version: 1"},
		{"version: 2\n", "d.yaml:1:10: version must be 1 (the only schema version), not \"2\""},
		{"version: 1\nversion: 1\n", "d.yaml:2:1: version appears twice in the top level (first at d.yaml:1:1)"},
		{"- a\n", "d.yaml:1:1: the top level must be a mapping, not a list"},
		{"version: 1\nsshd:\n  settings:\n    X11Forwarding: yes\n    x11forwarding: no\n", "d.yaml:5:5: X11Forwarding is set twice (first as X11Forwarding at d.yaml:4:5)"},
		{"version: 1\nsshd:\n  settings: {X11Forwarding: yes}\n  absent: [x11forwarding]\n", "d.yaml:4:12: X11Forwarding is both set (at d.yaml:3:29) and absent; keep one"},
		{"version: 1\nssh:\n  hosts:\n    - host: \"a\\tb\"\n      settings: {User: x}\n", "d.yaml:4:13: host: control character '\\t' is not allowed"},
	}
	for _, tt := range tests {
		_, err := Parse("d.yaml", []byte(tt.src))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v\nwant %s", tt.src, err, tt.want)
		}
	}
}

// TestErrorsAreBounded: a file with many thousands of mistakes reports the
// first MaxErrors and counts the rest.
func TestErrorsAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nsshd:\n  settings:\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "    Unknown%d: 1\n", i)
	}
	_, err := Parse("big.yaml", []byte(b.String()))
	var list files.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	if len(list) != files.MaxErrors+1 {
		t.Fatalf("%d errors kept, want %d and a summary", len(list), files.MaxErrors)
	}
	if last := list[len(list)-1].Error(); last != fmt.Sprintf("… and %d more errors", 20000-files.MaxErrors) {
		t.Errorf("summary %q", last)
	}
	if first := list[0].Error(); !strings.HasPrefix(first, "big.yaml:4:5: unknown sshd_config keyword \"Unknown0\"") {
		t.Errorf("first %q", first)
	}
}

// TestYAMLErrorPositions: a syntax error names the line that breaks the
// document (the YAML library names where the enclosing mapping began), a
// tab in an indentation its column with a hint; a misspelled Match
// criterion gets a suggestion.
func TestYAMLErrorPositions(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"version: 1\nsshd:\n  settings:\n\tClientAliveInterval: 300\n", "d.yaml:4:1: YAML: a tab in the indentation; YAML indents with spaces only"},
		{"version: 1\nsshd:\n  settings:\n    ClientAliveInterval: 300\n   bad: [\n", "d.yaml:5: YAML: did not find expected key"},
		{"version: 1\nsshd:\n  settings: {ClientAliveInterval: 300\n", "d.yaml:3: YAML: did not find expected ',' or '}'"},
		{"version: 1\nsshd:\n  match:\n    - criteria: Usr backup\n      settings: {X11Forwarding: no}\n", `d.yaml:4:17: Match: unsupported criterion "Usr"; did you mean User?`},
	} {
		_, err := Parse("d.yaml", []byte(tt.src))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\n got %v\nwant %s", tt.src, err, tt.want)
		}
	}
}

// TestParseForVersions: the desired state is checked against the host's
// OpenSSH release.
func TestParseForVersions(t *testing.T) {
	v := func(s string) files.Version {
		x, err := files.ParseVersion(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, tc := range []struct {
		version, yaml, want string // want "" for no error
	}{
		{"9.2p1", "sshd: {settings: {PerSourcePenalties: crash:60}}", "d.yaml:2:19: PerSourcePenalties needs OpenSSH 9.8 or later; this host runs 9.2p1"},
		{"10.0p2", "sshd: {settings: {PerSourcePenalties: crash:60}}", ""},
		{"", "sshd: {settings: {PerSourcePenalties: crash:60}}", "d.yaml:2:19: PerSourcePenalties needs OpenSSH 9.8 or later; OpenSSH 9.2p1 is assumed (the host's version is not known)"},
		{"10.6p1", "sshd: {settings: {GSSAPIKeyExchange: no}}", "d.yaml:2:19: GSSAPIKeyExchange is not known to OpenSSH 10.6 and later (removed, or left out of the build); this host runs 10.6p1"},
		{"10.6p1", "sshd: {settings: {GSSAPIAuthentication: no}}", "d.yaml:2:19: GSSAPIAuthentication is not supported by this OpenSSH build (10.6); remove it from the desired state"},
		{"9.2p1", "sshd: {settings: {GSSAPIEnablek5users: no}}", "d.yaml:2:19: GSSAPIEnablek5users is a Red Hat keyword that sshconverge does not model; manage it outside the desired state"},
		{"8.4p1", "sshd: {settings: {PubkeyAcceptedAlgorithms: ssh-ed25519}}", "d.yaml:2:19: PubkeyAcceptedAlgorithms needs OpenSSH 8.5 or later; this host runs 8.4p1, which calls it PubkeyAcceptedKeyTypes"},
		{"8.4p1", "sshd: {settings: {PubkeyAcceptedKeyTypes: ssh-ed25519}}", ""},
		{"8.4p1", "sshd: {settings: {ForceCommand: 'echo #1'}}", "d.yaml:2:33: ForceCommand: the value cannot be written so that OpenSSH 8.4p1 reads it as given (it would read [\"echo\"]); change it"},
		{"9.2p1", "sshd: {settings: {ForceCommand: 'echo #1'}}", ""},
		{"9.2p1", "sshd: {match: [{criteria: Version OpenSSH_10*, settings: {X11Forwarding: no}}]}", "d.yaml:2:27: Match Version needs OpenSSH 10.0 or later; this host runs 9.2p1"},
		{"10.0p2", "sshd: {match: [{criteria: Version OpenSSH_10*, settings: {X11Forwarding: no}}]}", ""},
		{"9.2p1", "ssh: {hosts: [{host: x, settings: {Tag: work}}]}", "d.yaml:2:36: Tag needs OpenSSH 9.4 or later; this host runs 9.2p1"},
		{"10.0p2", "sshd: {settings: {Subsystem: sftp internal-sftp}, match: [{criteria: User x, settings: {Subsystem: sftp internal-sftp}}]}", ""},
		{"9.2p1", "sshd: {match: [{criteria: User x, settings: {Subsystem: sftp internal-sftp}}]}", "d.yaml:2:46: Subsystem is not allowed inside a Match block: sshd rejects it there; set it globally"},
	} {
		st, err := ParseFor("d.yaml", []byte("version: 1\n"+tc.yaml+"\n"), v2(t, v, tc.version))
		var have string
		if err != nil {
			have = err.Error()
		}
		if have != tc.want {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.version, tc.yaml, have, tc.want)
		}
		if err == nil && st.OpenSSH != v2(t, v, tc.version) {
			t.Errorf("%s: State.OpenSSH %s", tc.version, st.OpenSSH)
		}
	}
}

func v2(t *testing.T, v func(string) files.Version, s string) files.Version {
	t.Helper()
	if s == "" {
		return files.Version{}
	}
	return v(s)
}
