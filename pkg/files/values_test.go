package files

import (
	"slices"
	"testing"
)

// TestNormalizeKeepsNormalArgs checks that the loader's normalize returns
// a directive's own arguments when they are in normal form (no copy per
// directive), a new list when they are not, and that the exported
// Normalize never hands the caller's slice back.
func TestNormalizeKeepsNormalArgs(t *testing.T) {
	tests := []struct {
		d    Dialect
		kw   string
		args []string
		want []string
		same bool // normalize returns args itself
	}{
		{Server, "ClientAliveInterval", []string{"300"}, []string{"300"}, true},
		{Server, "ClientAliveInterval", []string{"0"}, []string{"0"}, true},
		{Server, "ClientAliveInterval", []string{"5m"}, []string{"300"}, false},
		{Server, "ClientAliveInterval", []string{"0300"}, []string{"300"}, false},
		{Server, "ClientAliveCountMax", []string{"2"}, []string{"2"}, true},
		{Server, "ClientAliveCountMax", []string{"+2"}, []string{"2"}, false},
		{Server, "ClientAliveCountMax", []string{"007"}, []string{"7"}, false},
		{Server, "PasswordAuthentication", []string{"no"}, []string{"no"}, true},
		{Server, "PasswordAuthentication", []string{"No"}, []string{"no"}, false},
		{Client, "ServerAliveInterval", []string{"180"}, []string{"180"}, true},
		{Client, "ForwardAgent", []string{"true"}, []string{"yes"}, false},
		{Client, "HostName", []string{"db.example.net"}, []string{"db.example.net"}, true},
		{Client, "IdentityFile", []string{"~/.ssh/id_ed25519"}, []string{"~/.ssh/id_ed25519"}, true},
		{Client, "SendEnv", []string{"LANG", "LC_*"}, []string{"LANG", "LC_*"}, true},
		{Server, "LogLevel", []string{"VERBOSE"}, []string{"VERBOSE"}, true},
		{Server, "LogLevel", []string{"verbose"}, []string{"VERBOSE"}, false},
	}
	for _, tt := range tests {
		k, err := DefaultVersion().Catalogue(tt.d).Find(tt.kw)
		if err != nil {
			t.Fatal(err)
		}
		in := slices.Clone(tt.args)
		got, err := normalize(tt.d, k, in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("normalize(%s %q) = %q, %v; want %q", tt.kw, tt.args, got, err, tt.want)
			continue
		}
		if same := &got[0] == &in[0]; same != tt.same {
			t.Errorf("normalize(%s %q) returned the arguments' own slice: %v, want %v", tt.kw, tt.args, same, tt.same)
		}
		pub, err := Normalize(tt.d, k, in)
		if err != nil || !slices.Equal(pub, tt.want) {
			t.Errorf("Normalize(%s %q) = %q, %v; want %q", tt.kw, tt.args, pub, err, tt.want)
			continue
		}
		pub[0] = "changed"
		if !slices.Equal(in, tt.args) {
			t.Errorf("Normalize(%s %q) returned the caller's slice: writing its result changed the input to %q", tt.kw, tt.args, in)
		}
	}
}
