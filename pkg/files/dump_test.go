package files

import "testing"

func TestDumpHas(t *testing.T) {
	dump := ParseDump("ClientAliveInterval 300\nport 22\nport 2222\npermitrootlogin prohibit-password\nTCPKeepAlive true\nciphers aes128-ctr,aes256-ctr\nsubsystem sftp /usr/lib/openssh/sftp-server\n")
	for _, tt := range []struct {
		key            string
		want           []string
		ok, comparable bool
	}{
		{"ClientAliveInterval", []string{"300"}, true, true}, // CamelCase keyword (10.6)
		{"ClientAliveInterval", []string{"60"}, false, true},
		{"Port", []string{"22", "2222"}, true, true}, // one line per value
		{"Port", []string{"22"}, false, true},
		{"PermitRootLogin", []string{"without-password"}, true, true}, // a synonym
		{"TCPKeepAlive", []string{"yes"}, true, true},                 // true/false (10.6)
		{"Ciphers", []string{"aes128-ctr,aes256-ctr"}, true, true},
		{"Ciphers", []string{"+aes128-ctr"}, false, false}, // relative to the default: not settled here
		{"Subsystem", []string{"sftp", "/usr/lib/openssh/sftp-server"}, true, true},
		{"Banner", []string{"none"}, false, false}, // not printed
		{"AuthorizedKeysFile", []string{"%h/.ssh/keys"}, false, false},
	} {
		k, _ := CatalogueFor(Server).Lookup(tt.key)
		ok, comparable := dump.Has(Server, k, tt.want)
		if ok != tt.ok || comparable != tt.comparable {
			t.Errorf("%s %q: ok=%v comparable=%v, want %v %v", tt.key, tt.want, ok, comparable, tt.ok, tt.comparable)
		}
	}
}
