package files

import (
	"strings"
	"testing"
)

func TestServerEffective(t *testing.T) {
	r := writeTree(t, map[string]string{
		"etc/ssh/sshd_config": "AllowUsers a b\nAllowUsers c\nPermitRootLogin Prohibit-Password\n" +
			"Match Address 192.0.2.0/24,!192.0.2.7 User *\n  AllowUsers z\n  PermitRootLogin no\n" +
			"Match LocalPort 2222\n  PermitRootLogin yes\n" +
			"Match Host *.example.com\n  PermitRootLogin forced-commands-only\n",
	})
	c := mustLoad(t, r, "/etc/ssh/sshd_config", Server)
	tests := []struct {
		conn      Conn
		key, want string
	}{
		{Conn{}, "AllowUsers", "a b c @ /etc/ssh/sshd_config:1"},
		{Conn{}, "PermitRootLogin", "without-password @ /etc/ssh/sshd_config:3"},
		// A Match list replaces the global list.
		{Conn{User: "u", Addr: "192.0.2.9"}, "AllowUsers", "z @ /etc/ssh/sshd_config:5"},
		// Negated address, or a criterion without connection data, fails.
		{Conn{User: "u", Addr: "192.0.2.7"}, "AllowUsers", "a b c @ /etc/ssh/sshd_config:1"},
		{Conn{Addr: "192.0.2.9"}, "AllowUsers", "a b c @ /etc/ssh/sshd_config:1"},
		// The first applying block wins per keyword.
		{Conn{User: "u", Addr: "192.0.2.9", LPort: 2222}, "PermitRootLogin", "no @ /etc/ssh/sshd_config:6"},
		{Conn{LPort: 2222}, "PermitRootLogin", "yes @ /etc/ssh/sshd_config:8"},
		// Host matching is case-insensitive.
		{Conn{Host: "WWW.Example.COM"}, "PermitRootLogin", "forced-commands-only @ /etc/ssh/sshd_config:10"},
	}
	for _, tt := range tests {
		if g := got(t, Server, c.Server(tt.conn), tt.key); g != tt.want {
			t.Errorf("%+v %s = %s, want %s", tt.conn, tt.key, g, tt.want)
		}
	}
}

func TestClientEffective(t *testing.T) {
	r := writeTree(t, map[string]string{
		"etc/ssh/ssh_config": "Include /etc/ssh/ssh_config.d/*.conf\n" +
			"Host web* !web9\n  User deploy\n  ServerAliveInterval none\n  SendEnv LANG LC_*\n" +
			"Host Mixed\n  Hostname Mixed.Example.com\n" +
			"Match host mixed.example.com user root\n  ServerAliveCountMax 7\n" +
			"Match user deploy\n  ServerAliveCountMax 5\n" +
			"Host *\n  ServerAliveInterval 2m\n  SendEnv -LC_* XMODIFIERS\n  IdentityFile ~/.ssh/a\n  IdentityFile ~/.ssh/b\n",
		"etc/ssh/ssh_config.d/10-x.conf": "Host web1\n  ProtocolKeepAlives 30\n",
	})
	c := mustLoad(t, r, "/etc/ssh/ssh_config", Client)
	tests := []struct {
		host, key, want string
	}{
		{"web1", "ServerAliveInterval", "30 @ /etc/ssh/ssh_config.d/10-x.conf:2"},
		// "none" does not lock the keyword: Host * sets it later.
		{"web2", "ServerAliveInterval", "120 @ /etc/ssh/ssh_config:13"},
		{"web9", "User", "unset"},
		{"web2", "SendEnv", "LANG XMODIFIERS @ /etc/ssh/ssh_config:5"},
		{"web2", "IdentityFile", "~/.ssh/a ~/.ssh/b @ /etc/ssh/ssh_config:15"},
		// Host patterns are case-sensitive.
		{"mixed", "Hostname", "unset"},
		{"Mixed", "Hostname", "mixed.example.com @ /etc/ssh/ssh_config:7"}, // written Mixed.Example.com
		// Match host sees the Hostname set so far; Match user the local user.
		{"Mixed", "ServerAliveCountMax", "7 @ /etc/ssh/ssh_config:9"},
		// Match user sees the User set so far.
		{"web2", "ServerAliveCountMax", "5 @ /etc/ssh/ssh_config:11"},
	}
	for _, tt := range tests {
		e := c.Client(Target{Host: tt.host, LocalUser: "root"})
		if g := got(t, Client, e, tt.key); g != tt.want {
			t.Errorf("%s %s = %s, want %s", tt.host, tt.key, g, tt.want)
		}
	}
}

func TestIgnoreUnknown(t *testing.T) {
	r := writeTree(t, map[string]string{
		"etc/ssh/ssh_config": "IgnoreUnknown UseKeychain,AddKeys*\nUseKeychain yes\nAddKeysToAgentX no\nHost x\n  Frobnicate 1\n",
	})
	_, err := Load(r, "/etc/ssh/ssh_config", Client)
	if err == nil || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), `ssh_config:5: unknown ssh_config keyword "Frobnicate"`) {
		t.Fatalf("err = %v, want only Frobnicate reported", err)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"300", 300, true}, {"5m", 300, true}, {"5M", 300, true}, {"1h30m", 5400, true},
		{"5m30", 330, true}, {"0", 0, true}, {"1w", 604800, true}, {"2d1s", 172801, true},
		{"007", 7, true}, {"+5", 5, true}, {"", 0, false}, {"5x", 0, false}, {"m", 0, false},
		{"-5", 0, false}, {"2147483647", 2147483647, true}, {"2147483648", 0, false},
		{"4000w", 0, false},
	}
	for _, tt := range tests {
		n, err := ParseTime(tt.in)
		if (err == nil) != tt.ok || (tt.ok && n != tt.want) {
			t.Errorf("ParseTime(%q) = %d, %v; want %d ok=%v", tt.in, n, err, tt.want, tt.ok)
		}
	}
}

func TestEqual(t *testing.T) {
	k := func(d Dialect, name string) *Keyword {
		kw, ok := CatalogueFor(d).Lookup(name)
		if !ok {
			t.Fatalf("no keyword %s", name)
		}
		return kw
	}
	tests := []struct {
		d     Dialect
		key   string
		a, b  string
		equal bool
	}{
		{Server, "ClientAliveInterval", "5m", "300", true},
		{Server, "ClientAliveInterval", "1h30m", "5400", true},
		{Server, "ClientAliveInterval", "5m", "301", false},
		{Server, "ClientAliveCountMax", "02", "2", true},
		{Server, "X11Forwarding", "YES", "yes", true},
		{Client, "ForwardX11", "true", "yes", true},
		{Server, "PermitRootLogin", "prohibit-password", "WITHOUT-PASSWORD", true},
		{Server, "PermitRootLogin", "no", "yes", false},
		{Server, "Ciphers", "aes128-ctr", "AES128-CTR", false},
		{Client, "Hostname", "Example.com", "example.com", true}, // ssh lowercases it
		{Client, "User", "Root", "root", false},
	}
	for _, tt := range tests {
		if got := Equal(tt.d, k(tt.d, tt.key), []string{tt.a}, []string{tt.b}); got != tt.equal {
			t.Errorf("Equal(%s %q, %q) = %v, want %v", tt.key, tt.a, tt.b, got, tt.equal)
		}
	}
}
