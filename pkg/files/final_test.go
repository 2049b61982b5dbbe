package files

import (
	"strings"
	"testing"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// TestFinalPassAgainstSSH checks the model's repeated and second-pass
// values against every release's ssh -G: a "Match final" block makes ssh
// read the files twice, and ssh keeps one copy of a repeated IdentityFile,
// CertificateFile or forwarding but every SendEnv line it reads.
func TestFinalPassAgainstSSH(t *testing.T) {
	const conf = `Match final all
	SendEnv FOO
Host *
	IdentityFile ~/.ssh/a
	IdentityFile /id/b
	IdentityFile /id/b
	CertificateFile /id/c
	LocalForward 1234 localhost:22
	RemoteForward 2345 localhost:22
	DynamicForward 3456
	SendEnv BAR
Host once
	IdentityFile /id/b
	SendEnv BAR
`
	keywords := []string{"IdentityFile", "CertificateFile", "LocalForward", "RemoteForward", "DynamicForward", "SendEnv"}
	forEachInstall(t, func(t *testing.T, in opensshtest.Install) {
		o := opensshtest.NewFor(t, in)
		v := installVersion(t, in)
		root := writeTree(t, map[string]string{"etc/ssh/ssh_config": conf, "etc/ssh/sshd_config": ""})
		dumps, err := o.ClientG(root.Dir(), []string{"h", "once"})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadWith(root, "/etc/ssh/ssh_config", Client, LoadOptions{Version: v})
		if err != nil {
			t.Fatal(err)
		}
		for i, host := range []string{"h", "once"} {
			eff := cfg.Client(Target{Host: host, LocalUser: "root"})
			for _, kw := range keywords {
				k, _ := cfg.Catalogue().Lookup(kw)
				val, _ := eff.Get(k)
				var args []string
				var lines int
				if val != nil {
					args, lines = val.Args, len(val.From)
				}
				dump := Dump(dumps[i])
				if strings.HasSuffix(kw, "Forward") {
					// ssh prints forwards in its own form: count them.
					if printed := len(dump[strings.ToLower(kw)]); printed != lines {
						t.Errorf("%s %s: ssh -G prints %d forwards, the model has %d", host, kw, printed, lines)
					}
					continue
				}
				if kw == "IdentityFile" {
					// ssh prints ~ unexpanded; compare the absolute ones.
					dump = Dump{"identityfile": without(dump["identityfile"], "~/.ssh/a")}
					args = without(args, "~/.ssh/a")
				}
				if ok, comparable := dump.Has(Client, k, args); !ok || !comparable {
					t.Errorf("%s %s: ssh -G prints %q, the model has %q", host, kw, dumps[i][strings.ToLower(kw)], args)
				}
			}
		}
	})
}

func without(s []string, drop string) []string {
	var out []string
	for _, x := range s {
		if x != drop {
			out = append(out, x)
		}
	}
	return out
}
