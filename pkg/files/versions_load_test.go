package files

import (
	"slices"
	"strings"
	"testing"
)

func mustVersion(t testing.TB, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// valueOf returns the value of keyword name in e (the default when
// nothing sets it), "" when unknown, with the configuration's catalogue.
func valueOf(t testing.TB, c *Config, e *Effective, name string) string {
	t.Helper()
	k, ok := c.Catalogue().Lookup(name)
	if !ok {
		t.Fatalf("%s: no keyword %s", c.Version, name)
	}
	v := e.valueOrDefault(c.Dialect, k)
	if v == nil {
		return ""
	}
	return strings.Join(v.Args, " ")
}

// loadFor loads the tree's sshd_config or ssh_config for release v.
func loadFor(t *testing.T, tree map[string]string, d Dialect, v string, opts LoadOptions) (*Config, error) {
	t.Helper()
	r := writeTree(t, tree)
	main := "/etc/ssh/sshd_config"
	if d == Client {
		main = "/etc/ssh/ssh_config"
	}
	opts.Version = mustVersion(t, v)
	return LoadWith(r, main, d, opts)
}

// TestLoadVersionKeywords: a keyword is known exactly to the releases
// that have it, and the error names them.
func TestLoadVersionKeywords(t *testing.T) {
	tree := map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\n",
		"etc/ssh/sshd_config.d/10-penalties.conf": "PerSourcePenalties crash:60\nClientAliveInterval 30\n"}
	if _, err := loadFor(t, tree, Server, "9.2p1", LoadOptions{}); err == nil ||
		!strings.Contains(err.Error(), "10-penalties.conf:1: PerSourcePenalties needs OpenSSH 9.8 or later; this host runs 9.2p1") {
		t.Errorf("9.2p1: %v", err)
	}
	cfg, err := loadFor(t, tree, Server, "10.0p2", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if valueOf(t, cfg, cfg.Server(Conn{}), "PerSourcePenalties") != "crash:60" || cfg.Version != mustVersion(t, "10.0p2") {
		t.Errorf("10.0p2: PerSourcePenalties %q, version %s", valueOf(t, cfg, cfg.Server(Conn{}), "PerSourcePenalties"), cfg.Version)
	}
	// Without a version, 9.2p1 is assumed and the message says so.
	r := writeTree(t, tree)
	if _, err := Load(r, "/etc/ssh/sshd_config", Server); err == nil || !strings.Contains(err.Error(), "OpenSSH 9.2p1 is assumed") {
		t.Errorf("Load: %v", err)
	}
	// With KeepUnknown (the host's sshd accepts the tree), it is kept and listed.
	cfg, err = loadFor(t, tree, Server, "9.2p1", LoadOptions{KeepUnknown: true})
	if err != nil || len(cfg.Unmodelled) != 1 || cfg.Unmodelled[0].Keyword != "PerSourcePenalties" || len(cfg.Warnings) != 1 {
		t.Errorf("KeepUnknown: %v %+v %v", err, cfg.Unmodelled, cfg.Warnings)
	}
	if valueOf(t, cfg, cfg.Server(Conn{}), "ClientAliveInterval") != "30" {
		t.Errorf("KeepUnknown: the rest is not read")
	}
}

// TestLoadVendorKeywords: Red Hat's keywords load, untouched and listed.
func TestLoadVendorKeywords(t *testing.T) {
	tree := map[string]string{
		"etc/ssh/sshd_config":                    "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n",
		"etc/ssh/sshd_config.d/50-redhat.conf":   "GSSAPIAuthentication yes\nGSSAPIEnablek5users no\nKerberosUseKuserok yes\nX11Forwarding yes\n",
		"etc/ssh/sshd_config.d/40-override.conf": "PermitRootLogin no\n",
	}
	for _, v := range []string{"8.4p1", "9.2p1", "10.6p1"} {
		cfg, err := loadFor(t, tree, Server, v, LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		var kws []string
		for _, u := range cfg.Unmodelled {
			kws = append(kws, u.Keyword+"/"+u.Vendor+"/"+u.Pos.String())
		}
		want := []string{"GSSAPIEnablek5users/Red Hat//etc/ssh/sshd_config.d/50-redhat.conf:2", "KerberosUseKuserok/Red Hat//etc/ssh/sshd_config.d/50-redhat.conf:3"}
		if !slices.Equal(kws, want) || len(cfg.Warnings) != 2 || !strings.Contains(cfg.Warnings.Error(), "Red Hat keyword that sshconverge does not model") {
			t.Errorf("%s: unmodelled %q, warnings %v", v, kws, cfg.Warnings)
		}
		if valueOf(t, cfg, cfg.Server(Conn{}), "X11Forwarding") != "yes" {
			t.Errorf("%s: the lines after them are not read", v)
		}
		d := NewDraft(cfg)
		if _, err := d.Set(Scope{}, "X11Forwarding", []string{"no"}, ""); err != nil {
			t.Fatal(err)
		}
		for _, fc := range d.FileChanges() {
			if !strings.Contains(string(fc.After()), "GSSAPIEnablek5users no\nKerberosUseKuserok yes\n") {
				t.Errorf("%s: edit lost the Red Hat lines:\n%s", v, fc.After())
			}
		}
	}
}

// TestLoadLegacyLexing: before 8.7 lines split with strdelim; sshd cuts a
// line at any '#', ssh has no trailing comments.
func TestLoadLegacyLexing(t *testing.T) {
	for _, tc := range []struct {
		d         Dialect
		conf      string
		v         string
		key, want string // want "error: ..." for a load error
	}{
		{Server, "ClientAliveInterval 30#x\n", "8.4p1", "ClientAliveInterval", "30"},
		{Server, "ClientAliveInterval 30#x\n", "9.2p1", "ClientAliveInterval", "error: not a time"},
		{Server, "ForceCommand echo hi # there\n", "8.4p1", "ForceCommand", "echo hi"},
		{Server, "ForceCommand echo hi # there\n", "9.2p1", "ForceCommand", "echo hi # there"},
		{Server, "Banner \"/etc/my banner\"\n", "8.4p1", "Banner", "/etc/my banner"},
		{Server, "Banner '/etc/my banner'\n", "8.4p1", "Banner", "error: takes one value"},
		{Server, "Banner '/etc/my banner'\n", "9.2p1", "Banner", "/etc/my banner"},
		{Server, "AllowUsers a=b c\n", "8.4p1", "AllowUsers", "a b c"},
		{Server, "AllowUsers a=b c\n", "9.2p1", "AllowUsers", "a=b c"},
		{Server, "AllowUsers a \"\" c\n", "8.4p1", "AllowUsers", "error: garbage at end of line"},
		{Server, "AllowUsers a \"\"\n", "8.4p1", "AllowUsers", "a"},
		{Server, "AllowUsers\nAllowUsers bob\n", "8.4p1", "AllowUsers", "bob"},
		{Server, "AllowUsers\n", "9.2p1", "AllowUsers", "error: no argument"},
		{Server, "SetEnv A=1 B=2\n", "8.4p1", "SetEnv", "A=1 B=2"},
		{Server, "Port 22 \"x\n", "8.4p1", "Port", "22"},
		{Server, "Match User a#lice\nX11Forwarding yes\n", "8.4p1", "X11Forwarding", "no"},
		{Client, "Port 22 # x\n", "8.4p1", "Port", "error: takes one value"},
		{Client, "Port 22 # x\n", "9.2p1", "Port", "22"},
		{Client, "SendEnv LANG # x\n", "8.4p1", "SendEnv", "LANG # x"},
		{Client, "ProxyCommand = nc %h %p # x\n", "8.4p1", "ProxyCommand", "nc %h %p # x"},
		{Client, "Host foo # bar\nUser x\nHost *\nUser y\n", "8.4p1", "User", "x"}, // "#" and "bar" are patterns
		{Client, "Host foo # bar\nUser x\nHost *\nUser y\n", "9.2p1", "User", "y"},
		{Client, "Match host foo # c\nUser x\n", "8.4p1", "User", "error: unsupported criterion"},
		{Client, "Match host foo # c\nUser x\n", "9.2p1", "User", ""},
		// Before 10.1, "Match !final" starts the second pass too, which
		// matches Host against the new Hostname.
		{Client, "Match !final\nHostname real.example\nHost real.example\nUser r\n", "10.0p2", "User", "r"},
		{Client, "Match !final\nHostname real.example\nHost real.example\nUser r\n", "10.3p1", "User", ""},
	} {
		file := "etc/ssh/sshd_config"
		if tc.d == Client {
			file = "etc/ssh/ssh_config"
		}
		cfg, err := loadFor(t, map[string]string{file: tc.conf}, tc.d, tc.v, LoadOptions{})
		var have string
		switch {
		case err != nil:
			have = "error: " + err.Error()
		case tc.d == Server:
			have = valueOf(t, cfg, cfg.Server(Conn{User: "alice"}), tc.key)
		default:
			have = valueOf(t, cfg, cfg.Client(Target{Host: "bar", LocalUser: "root"}), tc.key)
		}
		if !strings.HasPrefix(tc.want, "error: ") && have != tc.want || strings.HasPrefix(tc.want, "error: ") && !strings.Contains(have, strings.TrimPrefix(tc.want, "error: ")) {
			t.Errorf("%s %s %q: %s = %q, want %q", tc.v, tc.d, tc.conf, tc.key, have, tc.want)
		}
	}
}

// TestLoadMatchTokens: from 9.9 on, Match criteria split like arguments
// (single quotes group); before, with strdelim (single quotes are
// characters of the pattern).
func TestLoadMatchTokens(t *testing.T) {
	conf := "Match User 'alice'\nX11Forwarding yes\nMatch User=bob\nX11Forwarding yes\n"
	for v, want := range map[string][2]string{"9.2p1": {"no", "yes"}, "10.0p2": {"yes", "yes"}} {
		cfg, err := loadFor(t, map[string]string{"etc/ssh/sshd_config": conf}, Server, v, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range []string{"alice", "bob"} {
			if g := valueOf(t, cfg, cfg.Server(Conn{User: u}), "X11Forwarding"); g != want[i] {
				t.Errorf("%s: %s gets X11Forwarding %q, want %q", v, u, g, want[i])
			}
		}
	}
	if _, err := loadFor(t, map[string]string{"etc/ssh/sshd_config": "Match Version OpenSSH_10*\nX11Forwarding yes\n"}, Server, "9.2p1", LoadOptions{}); err == nil ||
		!strings.Contains(err.Error(), "Match Version needs OpenSSH 10.0 or later; this host runs 9.2p1") {
		t.Errorf("Match Version on 9.2: %v", err)
	}
	if _, err := loadFor(t, map[string]string{"etc/ssh/sshd_config": "Match Version OpenSSH_10*\nX11Forwarding yes\n"}, Server, "10.0p2", LoadOptions{}); err != nil {
		t.Errorf("Match Version on 10.0: %v", err)
	}
}

// TestEditsForOldReleases: an edit writes the spelling the release knows.
func TestEditsForOldReleases(t *testing.T) {
	cfg, err := loadFor(t, map[string]string{"etc/ssh/sshd_config": "Port 22\n"}, Server, "8.4p1", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDraft(cfg)
	if _, err := d.Set(Scope{}, "PubkeyAcceptedKeyTypes", []string{"ssh-ed25519"}, ""); err != nil {
		t.Fatal(err)
	}
	if fc := d.FileChanges(); len(fc) != 1 || !strings.Contains(string(fc[0].After()), "\nPubkeyAcceptedKeyTypes ssh-ed25519\n") {
		t.Errorf("changes %+v", fc)
	}
	if _, err := NewDraft(cfg).Set(Scope{}, "PubkeyAcceptedAlgorithms", []string{"ssh-ed25519"}, ""); err == nil ||
		!strings.Contains(err.Error(), "which calls it PubkeyAcceptedKeyTypes") {
		t.Errorf("PubkeyAcceptedAlgorithms on 8.4: %v", err)
	}
	cat := mustVersion(t, "8.4p1").Catalogue(Server)
	k, _ := cat.Lookup("AllowUsers")
	if err := cat.CheckWritable(k, []string{"a=b"}); err == nil {
		t.Errorf("8.4 writes a=b unquoted, which it reads as two users")
	}
	if err := CatalogueFor(Server).CheckWritable(k, []string{"a=b", "c d"}); err != nil {
		t.Errorf("9.2: %v", err)
	}
	fc, _ := cat.Lookup("ForceCommand")
	if err := cat.CheckWritable(fc, []string{"echo #1"}); err == nil {
		t.Errorf("sshd 8.4 cuts ForceCommand at '#'")
	}
}
