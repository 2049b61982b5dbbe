package files

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// kwCatalogues pairs each dialect with fresh copies of its raw tables.
func kwCatalogues() []struct {
	d       Dialect
	kws     []Keyword
	aliases []alias
} {
	return []struct {
		d       Dialect
		kws     []Keyword
		aliases []alias
	}{
		{Server, serverKeywords(), serverAliases},
		{Client, clientKeywords(), clientAliases},
	}
}

func TestKeywordTablesInvariants(t *testing.T) {
	wantRaw := map[Dialect][]string{
		Server: {"AuthorizedKeysCommand", "AuthorizedPrincipalsCommand", "ForceCommand", "VersionAddendum"},
		Client: {"KnownHostsCommand", "LocalCommand", "ProxyCommand", "RemoteCommand", "VersionAddendum"},
	}
	for _, c := range kwCatalogues() {
		t.Run(c.d.String(), func(t *testing.T) {
			seen := map[string]string{}
			var raw []string
			for _, k := range c.kws {
				if k.Name == "" || strings.ContainsAny(k.Name, " \t=#") {
					t.Errorf("bad keyword name %q", k.Name)
				}
				low := strings.ToLower(k.Name)
				if prev, dup := seen[low]; dup {
					t.Errorf("duplicate keyword %s (also %s)", k.Name, prev)
				}
				seen[low] = k.Name
				if !k.Until.IsZero() && !k.Since.before(k.Until) {
					t.Errorf("%s: Since %s is not before Until %s", k.Name, k.Since, k.Until)
				}
				if k.Type == TypeRawLine {
					raw = append(raw, k.Name)
				}
				if int(k.Type) >= len(typeNames) {
					t.Errorf("%s: unknown type %d", k.Name, k.Type)
				}
				if k.Type == TypeEnum && len(k.Enum) == 0 {
					t.Errorf("%s: enum keyword without words", k.Name)
				}
				if k.Type != TypeEnum && (len(k.Enum) > 0 || len(k.Synonyms) > 0) {
					t.Errorf("%s: enum words on a %s keyword", k.Name, k.Type)
				}
				words := map[string]bool{}
				for _, w := range k.Enum {
					if words[strings.ToLower(w)] {
						t.Errorf("%s: duplicate enum word %q", k.Name, w)
					}
					words[strings.ToLower(w)] = true
				}
				for from, to := range k.Synonyms {
					if from != strings.ToLower(from) {
						t.Errorf("%s: synonym %q is not lowercase", k.Name, from)
					}
					if words[from] {
						t.Errorf("%s: synonym %q is also an enum word", k.Name, from)
					}
					if !slices.Contains(k.Enum, to) {
						t.Errorf("%s: synonym %q targets %q, not an enum word", k.Name, from, to)
					}
				}
				if k.None && k.Type != TypeTime && k.Type != TypeInt {
					t.Errorf("%s: None set on a %s keyword, whose type accepts none anyway", k.Name, k.Type)
				}
				if k.Combine == LastWinsAnywhere && c.d == Server {
					t.Errorf("%s: LastWinsAnywhere is a client-only behaviour", k.Name)
				}
			}
			slices.Sort(raw)
			if !slices.Equal(raw, wantRaw[c.d]) {
				t.Errorf("raw-line keywords = %v, want %v", raw, wantRaw[c.d])
			}
			// Within every release, each spelling stands for one keyword
			// and each alias for a keyword that release knows.
			for _, r := range allReleases() {
				names := map[string]string{}
				active := map[string]bool{}
				for _, k := range c.kws {
					if known(r, k.Since, k.Until) {
						active[k.Name] = true
						if known(r, k.nameSince, Version{}) {
							names[strings.ToLower(k.Name)] = k.Name
						}
					}
				}
				for _, a := range c.aliases {
					if !known(r, a.since, a.until) {
						continue
					}
					low := strings.ToLower(a.name)
					if prev, dup := names[low]; dup {
						t.Errorf("%s: alias %s collides with %s", r, a.name, prev)
					}
					names[low] = a.name
					if !active[a.canonical] || strings.EqualFold(a.name, a.canonical) {
						t.Errorf("%s: alias %s names %s, which that release does not know", r, a.name, a.canonical)
					}
				}
			}
			// The tables are fresh on every call: mutating one copy must
			// not leak into the catalogue.
			again := kwCatalogues()
			for i, k := range again {
				if k.d == c.d && &again[i].kws[0] == &c.kws[0] {
					t.Errorf("keyword table is shared between calls")
				}
			}
		})
	}
}

func TestKeywordFacts(t *testing.T) {
	srv, cli := CatalogueFor(Server), CatalogueFor(Client)
	look := func(c *Catalogue, name string) *Keyword {
		t.Helper()
		k, ok := c.Lookup(name)
		if !ok {
			t.Fatalf("%s: %s missing", c.Dialect(), name)
		}
		return k
	}
	combine := []struct {
		c     *Catalogue
		names []string
		want  Combine
	}{
		{srv, []string{"Port", "ListenAddress", "HostKey", "HostCertificate", "AllowUsers", "DenyUsers",
			"AllowGroups", "DenyGroups", "AcceptEnv", "Subsystem"}, Cumulative},
		{srv, []string{"SetEnv", "AuthorizedKeysFile", "AuthenticationMethods", "PermitOpen", "PermitListen",
			"ClientAliveInterval", "PermitRootLogin", "Ciphers", "LogVerbose", "ChannelTimeout", "Banner"}, FirstWins},
		{srv, []string{"FingerprintHash", "StreamLocalBindMask", "IPQoS", "PerSourceMaxStartups",
			"MaxStartups", "PerSourceNetBlockSize"}, LastWins},
		{cli, []string{"IdentityFile", "CertificateFile", "LocalForward", "RemoteForward", "DynamicForward",
			"SendEnv"}, Cumulative},
		{cli, []string{"UserKnownHostsFile", "GlobalKnownHostsFile", "SetEnv", "ServerAliveInterval",
			"ConnectTimeout", "IPQoS", "User", "ProxyCommand", "CanonicalDomains"}, FirstWins},
		{cli, []string{"StreamLocalBindMask"}, LastWinsAnywhere},
	}
	for _, tc := range combine {
		for _, n := range tc.names {
			if k := look(tc.c, n); k.Combine != tc.want {
				t.Errorf("%s %s: Combine = %d, want %d", tc.c.Dialect(), n, k.Combine, tc.want)
			}
		}
	}
	aliases := []struct {
		c           *Catalogue
		alias, want string
	}{
		{srv, "KeepAlive", "TCPKeepAlive"},
		{srv, "ChallengeResponseAuthentication", "KbdInteractiveAuthentication"},
		{srv, "HostDSAKey", "HostKey"},
		{srv, "PubkeyAcceptedKeyTypes", "PubkeyAcceptedAlgorithms"},
		{srv, "DSAAuthentication", "PubkeyAuthentication"},
		{cli, "ProtocolKeepAlives", "ServerAliveInterval"},
		{cli, "setuptimeout", "ServerAliveInterval"},
		{cli, "KeepAlive", "TCPKeepAlive"},
		{cli, "ChallengeResponseAuthentication", "KbdInteractiveAuthentication"},
		{cli, "DsaAuthentication", "PubkeyAuthentication"},
	}
	for _, a := range aliases {
		if k := look(a.c, a.alias); k.Name != a.want {
			t.Errorf("%s alias %s -> %s, want %s", a.c.Dialect(), a.alias, k.Name, a.want)
		}
	}
	for name, want := range map[string]bool{"Port": false, "ListenAddress": false, "HostKey": false,
		"Ciphers": false, "Subsystem": false, "ClientAliveInterval": true, "PermitRootLogin": true,
		"ForceCommand": true, "Include": true, "Match": true, "AllowUsers": true} {
		if k := look(srv, name); k.InMatch != want {
			t.Errorf("sshd %s: InMatch = %v, want %v", name, k.InMatch, want)
		}
	}
	for _, k := range cli.Keywords() {
		if !k.InMatch {
			t.Errorf("ssh %s: InMatch false; every client keyword is allowed in blocks", k.Name)
		}
	}
	if _, ok := cli.Lookup("Host"); !ok {
		t.Errorf("ssh: Host missing")
	}
	if _, ok := srv.Lookup("Host"); ok {
		t.Errorf("sshd: Host must not be a keyword")
	}
	if k := look(srv, "PermitRootLogin"); k.Synonyms["prohibit-password"] != "without-password" {
		t.Errorf("sshd PermitRootLogin: prohibit-password -> %q", k.Synonyms["prohibit-password"])
	}
	for _, n := range []string{"ConnectTimeout", "ServerAliveInterval"} {
		if !look(cli, n).None {
			t.Errorf("ssh %s: None = false", n)
		}
	}
	for _, tc := range []struct {
		c    *Catalogue
		name string
		want Status
	}{
		{srv, "UsePrivilegeSeparation", Deprecated}, {srv, "UseLogin", Deprecated},
		{srv, "KerberosGetAFSToken", Unsupported}, {srv, "UsePAM", Supported},
		{srv, "GSSAPIKeyExchange", Supported}, {cli, "UseRoaming", Deprecated},
		{cli, "CompressionLevel", Unsupported}, {cli, "GSSAPIAuthentication", Supported},
	} {
		if k := look(tc.c, tc.name); k.Status != tc.want {
			t.Errorf("%s %s: Status = %d, want %d", tc.c.Dialect(), tc.name, k.Status, tc.want)
		}
	}
	for _, n := range []string{"ClientAliveIntervall", "PermitRootLogon", "ObscureKeystrokeTiming", "PerSourcePenalties"} {
		if _, ok := srv.Lookup(n); ok {
			t.Errorf("sshd: %s should be unknown", n)
		}
	}
	for _, n := range []string{"Tag", "ChannelTimeout", "ObscureKeystrokeTiming", "ServerAliveIntervall"} {
		if _, ok := cli.Lookup(n); ok {
			t.Errorf("ssh: %s should be unknown in 9.2", n)
		}
	}
}

// kwSample returns an argument string OpenSSH 9.2 accepts for k.
func kwSample(d Dialect, k *Keyword, hostKey string) string {
	switch d {
	case Server:
		switch k.Name {
		case "HostKey":
			return hostKey
		case "HostCertificate":
			return hostKey + "-cert.pub"
		case "HostKeyAgent":
			return "SSH_AUTH_SOCK"
		case "ListenAddress":
			return "127.0.0.1:2222"
		case "AcceptEnv":
			return "LANG LC_*"
		case "AuthenticationMethods":
			return "publickey,password"
		case "AuthorizedKeysCommand", "AuthorizedPrincipalsCommand":
			return "/bin/echo %u # kept"
		case "AuthorizedKeysFile":
			return ".ssh/a .ssh/b"
		case "ChannelTimeout":
			return "session=5m"
		case "LogVerbose":
			return "kex.c:*"
		case "MaxStartups":
			return "10:30:100"
		case "PerSourceNetBlockSize":
			return "24:64"
		case "PermitListen":
			return "1234"
		case "PermitOpen":
			return "host.example:22"
		case "PermitUserEnvironment":
			return "LANG,LC_*"
		case "PubkeyAuthOptions":
			return "touch-required"
		case "SecurityKeyProvider":
			return "internal"
		case "Subsystem":
			return "foo /usr/lib/foo -x"
		}
	case Client:
		switch k.Name {
		case "AddKeysToAgent":
			return "confirm 5m"
		case "CanonicalDomains":
			return "example.com"
		case "CanonicalizePermittedCNAMEs":
			return "*.a.example:*.b.example"
		case "DynamicForward":
			return "1080"
		case "LocalForward", "RemoteForward":
			return "1234 localhost:22"
		case "ForwardAgent":
			return "no"
		case "IgnoreUnknown":
			return "Foo*"
		case "PermitRemoteOpen":
			return "host.example:22"
		case "ControlPersist":
			return "10m"
		case "EscapeChar":
			return "^A"
		case "TunnelDevice":
			return "any:any"
		case "ProxyCommand", "LocalCommand", "RemoteCommand", "KnownHostsCommand":
			return "/bin/echo %h # kept"
		}
	}
	switch k.Name {
	case "Include":
		return "/nonexistent/dir/*.conf"
	case "Match":
		return "User nobody"
	case "Host":
		return "nomatch.example"
	case "Ciphers":
		return "aes128-ctr,aes256-ctr"
	case "MACs":
		return "-hmac-sha1"
	case "KexAlgorithms":
		return "+diffie-hellman-group14-sha1"
	case "GSSAPIKexAlgorithms":
		return "gss-curve25519-sha256-"
	case "IPQoS":
		return "af21 cs1"
	case "RekeyLimit":
		return "1G 1h"
	case "SetEnv":
		return "A=1 B=2"
	case "StreamLocalBindMask":
		return "0117"
	case "AcceptEnv", "SendEnv":
		return "LANG LC_*"
	case "AllowUsers", "DenyUsers", "AllowGroups", "DenyGroups":
		return "alice bob@192.0.2.0/24"
	}
	switch k.Type {
	case TypeFlag:
		return "yes"
	case TypeEnum:
		return k.Enum[len(k.Enum)-1]
	case TypeInt:
		return "3"
	case TypeTime:
		return "1m30s"
	case TypeAlgorithms:
		return "ssh-ed25519,rsa-sha2-512"
	case TypePatterns:
		return "alice"
	case TypePath:
		return "/nonexistent/path"
	case TypeList:
		return "a b"
	}
	return "value"
}

// kwEnv runs the real OpenSSH binaries for one dialect.
type kwEnv struct {
	d       Dialect
	dir     string
	hostKey string
	mu      sync.Mutex
	n       int
}

// kwRealOpenSSH returns runners for the installed sshd and ssh, or skips
// (fails when CI=true) when they are not installed.
func kwRealOpenSSH(t *testing.T) (srv, cli *kwEnv) {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		opensshtest.Unavailable(t, "%s; install it with apt-get install -y openssh-server openssh-client", what)
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		missing("/usr/sbin/sshd not installed")
	}
	for _, tool := range []string{"ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tool + " not installed")
		}
	}
	if _, err := os.Stat("/run/sshd"); err != nil {
		missing("sshd -t needs its privilege separation directory /run/sshd (mkdir -p /run/sshd)")
	}
	dir := t.TempDir()
	hk := filepath.Join(dir, "hk")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-s", hk, "-I", "test", "-h", hk+".pub").CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -s: %v\n%s", err, out)
	}
	return &kwEnv{d: Server, dir: dir, hostKey: hk}, &kwEnv{d: Client, dir: dir, hostKey: hk}
}

// run writes config to a fresh file and runs `sshd -t`/`sshd -T` or
// `ssh -G` on it, returning stdout, stderr and whether it exited 0.
func (e *kwEnv) run(t *testing.T, config string, dump bool) (stdout, stderr string, ok bool) {
	t.Helper()
	e.mu.Lock()
	e.n++
	name := filepath.Join(e.dir, fmt.Sprintf("%s-%d.conf", e.d, e.n))
	e.mu.Unlock()
	if err := os.WriteFile(name, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if e.d == Server {
		mode := "-t"
		if dump {
			mode = "-T"
		}
		cmd = exec.Command("/usr/sbin/sshd", mode, "-f", name, "-h", e.hostKey)
	} else {
		// -v shows "Deprecated option" messages but forces LogLevel DEBUG,
		// so dumps go without it. localhost resolves when CNAME rules make
		// ssh look the name up. ForkAfterAuthentication yes needs a command
		// (which changes other settings, e.g. UpdateHostKeys ask, so only
		// then).
		args := []string{"-F", name, "-G", "localhost"}
		if strings.Contains(config, "ForkAfterAuthentication") {
			args = append(args, "true")
		}
		if !dump {
			args = append([]string{"-v"}, args...)
		}
		cmd = exec.Command("ssh", args...)
	}
	var o, eb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &eb
	cmd.Stdin = nil
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return o.String(), eb.String(), err == nil
}

// dumped returns the values printed for keyword name by sshd -T / ssh -G.
func kwDumped(out, name string) []string {
	var vs []string
	prefix := strings.ToLower(name) + " "
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// TestKeywordsAgainstOpenSSH checks the catalogues against the installed
// OpenSSH 9.2: every keyword and alias is recognised, statuses, Match
// permissions, enum spellings and synonyms, flag and time syntax and None.
func TestKeywordsAgainstOpenSSH(t *testing.T) {
	srv, cli := kwRealOpenSSH(t)
	for _, e := range []*kwEnv{srv, cli} {
		cat := CatalogueFor(e.d)
		t.Run(e.d.String(), func(t *testing.T) {
			t.Run("unknown", func(t *testing.T) {
				t.Parallel()
				for _, name := range []string{"ClientAliveIntervall", "ServerAliveIntervall", "NoSuchKeyword"} {
					_, stderr, ok := e.run(t, name+" 5\n", false)
					if ok || !strings.Contains(stderr, "Bad configuration option") {
						t.Errorf("%s accepted (ok=%v): %s", name, ok, stderr)
					}
				}
			})
			for _, k := range cat.Keywords() {
				t.Run(k.Name, func(t *testing.T) {
					t.Parallel()
					kwCheck(t, e, k, kwSample(e.d, k, e.hostKey))
				})
			}
			for _, a := range aliasesOf(cat) {
				t.Run("alias "+a.name, func(t *testing.T) {
					t.Parallel()
					k, _ := cat.Lookup(a.name)
					_, stderr, ok := e.run(t, a.name+" "+kwSample(e.d, k, e.hostKey)+"\n", false)
					if !ok {
						t.Errorf("alias %s refused: %s", a.name, stderr)
					}
				})
			}
		})
	}
}

// aliasesOf returns the aliases the catalogue's release knows.
func aliasesOf(c *Catalogue) []alias {
	var out []alias
	for _, a := range specOf(c.Dialect()).aliases {
		if known(c.Version(), a.since, a.until) {
			out = append(out, a)
		}
	}
	return out
}

// allReleases returns every release from 8.4 to 10.6.
func allReleases() []Version {
	var out []Version
	for major, last := range map[uint8]uint8{8: 9, 9: 9, 10: 6} {
		for minor := uint8(0); minor <= last; minor++ {
			if v := rel(major, minor); !v.before(rel(8, 4)) {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, Version.Compare)
	return out
}

// kwCheck checks one keyword of e's dialect against the real binary.
func kwCheck(t *testing.T, e *kwEnv, k *Keyword, sample string) {
	line := k.Name + " " + sample + "\n"
	extra := ""
	if e.d == Server {
		switch k.Name {
		case "Match":
			extra = "PermitTTY no\n"
		case "AuthorizedKeysCommand", "AuthorizedPrincipalsCommand":
			extra = k.Name + "User nobody\n"
		}
	}
	_, stderr, ok := e.run(t, line+extra, false)
	if strings.Contains(stderr, "Bad configuration option") {
		t.Fatalf("%s is not recognised: %s", k.Name, stderr)
	}
	switch {
	case k.Status == Supported:
		if !ok {
			t.Fatalf("%q refused: %s", strings.TrimSpace(line), stderr)
		}
	case k.Name == "RDomain":
		// Recognised, but Debian's build refuses any use of it.
		if ok || !strings.Contains(stderr, "not supported on this platform") {
			t.Errorf("RDomain: ok=%v %s", ok, stderr)
		}
	case k.Name == "Protocol":
		if !ok {
			t.Errorf("Protocol refused: %s", stderr)
		}
	case k.Status == Deprecated:
		if !ok || !strings.Contains(stderr, "Deprecated option") {
			t.Errorf("%s: not deprecated (ok=%v): %s", k.Name, ok, stderr)
		}
	case k.Status == Unsupported:
		if !ok || !strings.Contains(stderr, "Unsupported option") {
			t.Errorf("%s: not unsupported (ok=%v): %s", k.Name, ok, stderr)
		}
	}
	if e.d == Server && k.Name != "Match" {
		_, stderr, ok := e.run(t, "Match User nobody\n"+line, false)
		refused := strings.Contains(stderr, "is not allowed within a Match block")
		if refused == k.InMatch {
			t.Errorf("InMatch = %v, but sshd inside Match: ok=%v %s", k.InMatch, ok, stderr)
		}
		if k.InMatch && k.Status == Supported && !ok {
			t.Errorf("refused inside Match: %s", stderr)
		}
	}
	if k.Status != Supported {
		return
	}
	dump := func(arg string) ([]string, string, bool) {
		out, stderr, ok := e.run(t, k.Name+" "+arg+"\n", true)
		return kwDumped(out, k.Name), stderr, ok
	}
	switch k.Type {
	case TypeEnum:
		check := func(word, want string) {
			got, stderr, ok := dump(word)
			if !ok {
				t.Errorf("%s %s refused: %s", k.Name, word, stderr)
			} else if !slices.Equal(got, []string{want}) {
				t.Errorf("%s %s: OpenSSH reports %q, want %q", k.Name, word, got, want)
			}
		}
		for _, w := range k.Enum {
			check(w, w)
		}
		for from, to := range k.Synonyms {
			check(from, to)
		}
		upper := strings.ToUpper(k.Enum[0])
		if e.d == Server && k.Name == "PermitTunnel" {
			// sshd compares PermitTunnel's words case-sensitively.
			if _, _, ok := dump(upper); ok {
				t.Errorf("PermitTunnel %s accepted; expected case-sensitive", upper)
			}
		} else if upper != k.Enum[0] {
			check(upper, k.Enum[0])
		}
		if _, _, ok := dump("bogus-word"); ok {
			t.Errorf("%s accepts a word outside its Enum", k.Name)
		}
	case TypeFlag:
		got, stderr, ok := dump("no")
		if !ok {
			t.Errorf("%s no refused: %s", k.Name, stderr)
		} else if len(got) > 0 && !slices.Equal(got, []string{"no"}) {
			t.Errorf("%s no: OpenSSH reports %q", k.Name, got)
		}
		_, stderr, ok = dump("true")
		if ok != (e.d == Client) {
			t.Errorf("%s true: accepted=%v for %s: %s", k.Name, ok, e.d, stderr)
		}
	case TypeTime:
		got, stderr, ok := dump("1m30s")
		if !ok {
			t.Errorf("%s 1m30s refused: %s", k.Name, stderr)
		} else if len(got) > 0 && !slices.Equal(got, []string{"90"}) {
			t.Errorf("%s 1m30s: OpenSSH reports %q", k.Name, got)
		}
	}
	if k.Type == TypeTime || k.Type == TypeInt {
		if _, stderr, ok := dump("none"); ok != k.None {
			t.Errorf("%s none: accepted=%v, None=%v: %s", k.Name, ok, k.None, stderr)
		}
	}
}

// TestKeywordCombineAgainstOpenSSH checks Combine for representative
// keywords by setting each twice and reading what OpenSSH reports.
func TestKeywordCombineAgainstOpenSSH(t *testing.T) {
	srv, cli := kwRealOpenSSH(t)
	cases := []struct {
		e          *kwEnv
		name       string
		in1, in2   string
		out1, out2 string
		block      bool // put the second line in a block that does not apply
	}{
		{e: srv, name: "FingerprintHash", in1: "md5", in2: "sha256", out1: "MD5", out2: "SHA256"},
		{e: srv, name: "StreamLocalBindMask", in1: "0111", in2: "022", out1: "0111", out2: "022"},
		{e: srv, name: "IPQoS", in1: "af11", in2: "cs1", out1: "af11 af11", out2: "cs1 cs1"},
		{e: srv, name: "PerSourceMaxStartups", in1: "3", in2: "5", out1: "3", out2: "5"},
		{e: srv, name: "MaxStartups", in1: "7:10:20", in2: "8:10:20", out1: "7:10:20", out2: "8:10:20"},
		{e: srv, name: "PerSourceNetBlockSize", in1: "24:64", in2: "16:48", out1: "24:64", out2: "16:48"},
		{e: srv, name: "ClientAliveInterval", in1: "10", in2: "20", out1: "10", out2: "20"},
		{e: srv, name: "LogLevel", in1: "ERROR", in2: "DEBUG2", out1: "ERROR", out2: "DEBUG2"},
		{e: srv, name: "Ciphers", in1: "aes128-ctr", in2: "aes256-ctr", out1: "aes128-ctr", out2: "aes256-ctr"},
		{e: srv, name: "SyslogFacility", in1: "LOCAL0", in2: "LOCAL1", out1: "LOCAL0", out2: "LOCAL1"},
		{e: srv, name: "AuthorizedKeysFile", in1: "a b", in2: "c", out1: "a b", out2: "c"},
		{e: srv, name: "Port", in1: "2201", in2: "2202", out1: "2201", out2: "2202"},
		{e: srv, name: "AcceptEnv", in1: "A", in2: "B", out1: "A", out2: "B"},
		{e: srv, name: "AllowUsers", in1: "a", in2: "b", out1: "a", out2: "b"},
		{e: srv, name: "Subsystem", in1: "a /bin/a", in2: "b /bin/b", out1: "a /bin/a", out2: "b /bin/b"},
		{e: cli, name: "StreamLocalBindMask", in1: "0111", in2: "0177", out1: "0111", out2: "0177", block: true},
		{e: cli, name: "StreamLocalBindMask", in1: "0111", in2: "022", out1: "0111", out2: "022"},
		{e: cli, name: "ServerAliveInterval", in1: "10", in2: "20", out1: "10", out2: "20"},
		{e: cli, name: "IPQoS", in1: "af11", in2: "cs1", out1: "af11 af11", out2: "cs1 cs1"},
		{e: cli, name: "UserKnownHostsFile", in1: "/a /b", in2: "/c", out1: "/a /b", out2: "/c"},
		{e: cli, name: "IdentityFile", in1: "/k1", in2: "/k2", out1: "/k1", out2: "/k2"},
		{e: cli, name: "CertificateFile", in1: "/c1", in2: "/c2", out1: "/c1", out2: "/c2"},
		{e: cli, name: "SendEnv", in1: "A", in2: "B", out1: "A", out2: "B"},
		{e: cli, name: "DynamicForward", in1: "1080", in2: "1081", out1: "1080", out2: "1081"},
	}
	for _, tc := range cases {
		t.Run(tc.e.d.String()+" "+tc.name, func(t *testing.T) {
			t.Parallel()
			k, ok := CatalogueFor(tc.e.d).Lookup(tc.name)
			if !ok {
				t.Fatalf("%s missing", tc.name)
			}
			var want []string
			switch {
			case tc.block && k.Combine == LastWinsAnywhere:
				want = []string{tc.out2}
			case tc.block:
				want = []string{tc.out1}
			case k.Combine == FirstWins:
				want = []string{tc.out1}
			case k.Combine == Cumulative:
				want = []string{tc.out1, tc.out2}
			default:
				want = []string{tc.out2}
			}
			second := tc.name + " " + tc.in2 + "\n"
			if tc.block {
				second = "Host nomatch.example\n" + second
			}
			out, stderr, ok := tc.e.run(t, tc.name+" "+tc.in1+"\n"+second, true)
			if !ok {
				t.Fatalf("refused: %s", stderr)
			}
			if got := kwDumped(out, tc.name); !slices.Equal(got, want) {
				t.Errorf("Combine %d: OpenSSH reports %q, want %q", k.Combine, got, want)
			}
		})
	}
}
