package files

import (
	"fmt"
	"strings"
	"testing"
)

// synthServer returns an sshd_config of about n lines: a global section,
// then Match blocks every 50 lines, with comments, blank lines, quoted
// values and every separator form.
func synthServer(n int) []byte {
	var b strings.Builder
	lines := []string{
		"ClientAliveInterval %dm",
		"# comment %d about the next setting",
		"PermitRootLogin = prohibit-password # %d",
		"AllowUsers alice bob%d",
		"",
		"X11Forwarding=no",
		"\tMaxAuthTries 0%d",
		`Banner "/etc/issue %d"`,
		"ForceCommand /usr/bin/logger -t x %d # raw",
	}
	for i := 0; i < n; i++ {
		if i > 0 && i%50 == 0 {
			fmt.Fprintf(&b, "Match User u%d Address 192.0.2.%d/32\n", i, i%250)
			continue
		}
		l := lines[i%len(lines)]
		if strings.Contains(l, "%d") {
			l = fmt.Sprintf(l, i%97+1)
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func benchSizes(b *testing.B, f func(b *testing.B, n int, src []byte)) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		src := synthServer(n)
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			f(b, n, src)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/line")
		})
	}
}

// BenchmarkParse measures lossless lexing of one file.
func BenchmarkParse(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int, src []byte) {
		for b.Loop() {
			Parse("/etc/ssh/sshd_config", Server, src)
		}
	})
}

// BenchmarkLoad measures reading, lexing and validating a configuration
// (Include expansion, keyword lookup, value normalisation).
func BenchmarkLoad(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int, src []byte) {
		r := writeTree(b, map[string]string{"etc/ssh/sshd_config": string(src)})
		for b.Loop() {
			if _, err := Load(r, "/etc/ssh/sshd_config", Server); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEffective measures effective-value evaluation for one
// connection on a loaded configuration.
func BenchmarkEffective(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int, src []byte) {
		r := writeTree(b, map[string]string{"etc/ssh/sshd_config": string(src)})
		c, err := Load(r, "/etc/ssh/sshd_config", Server)
		if err != nil {
			b.Fatal(err)
		}
		conn := Conn{User: "u100", Addr: "192.0.2.100"}
		for b.Loop() {
			c.Server(conn)
		}
	})
}

// BenchmarkUnsetDropIns measures removing a keyword every one of n drop-ins
// sets (Draft.Unset: one edit per file, then one derive).
func BenchmarkUnsetDropIns(b *testing.B) {
	for _, n := range []int{100, 1_000, 5_000} {
		tree := map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n"}
		for i := range n {
			tree[fmt.Sprintf("etc/ssh/sshd_config.d/%05d.conf", i)] = fmt.Sprintf("X11Forwarding yes\nMaxAuthTries %d\n", 3+i%4)
		}
		r := writeTree(b, tree)
		c, err := Load(r, "/etc/ssh/sshd_config", Server)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("dropins=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				edits, err := NewDraft(c).Unset(Scope{}, "X11Forwarding")
				if err != nil || len(edits) != n {
					b.Fatalf("%d edits, %v; want %d", len(edits), err, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/file")
		})
	}
}

// synthClient returns an ssh_config of about n lines: Host blocks of four
// lines, a Match localuser block every 25 blocks, and Host * last.
func synthClient(n int) []byte {
	var b strings.Builder
	for i := range n / 4 {
		if i > 0 && i%25 == 0 {
			fmt.Fprintf(&b, "Match localuser ops%d\n    ForwardAgent yes\n", i)
		}
		fmt.Fprintf(&b, "Host web-%d web-%d.example.net\n    HostName 10.0.%d.%d\n    User deploy\n    Port %d\n", i, i, i>>8&255, i&255, 2200+i%50)
	}
	b.WriteString("Host *\n    SendEnv LANG LC_*\n    HashKnownHosts yes\n")
	return []byte(b.String())
}

// BenchmarkEffectiveClient measures effective-value evaluation for one
// destination (both passes: canonical hostname, then Match final) on an
// ssh_config of many Host blocks.
func BenchmarkEffectiveClient(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		src := synthClient(n)
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			r := writeTree(b, map[string]string{"etc/ssh/ssh_config": string(src)})
			c, err := Load(r, "/etc/ssh/ssh_config", Client)
			if err != nil {
				b.Fatal(err)
			}
			i := n / 8 // a block half-way through
			t := Target{Host: fmt.Sprintf("web-%d", i), LocalUser: "alice"}
			k, err := c.Catalogue().Find("HostName")
			if err != nil {
				b.Fatal(err)
			}
			if v, ok := c.Client(t).Get(k); !ok || v.Args[0] != fmt.Sprintf("10.0.%d.%d", i>>8&255, i&255) {
				b.Fatalf("HostName for %s is %v", t.Host, v)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Client(t)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/line")
		})
	}
}

// BenchmarkRender measures finding the files a draft changed and rendering
// them (Draft.FileChanges, FileChange.After): one line inserted into the
// global section of a large sshd_config.
func BenchmarkRender(b *testing.B) {
	benchSizes(b, func(b *testing.B, n int, src []byte) {
		r := writeTree(b, map[string]string{"etc/ssh/sshd_config": string(src)})
		c, err := Load(r, "/etc/ssh/sshd_config", Server)
		if err != nil {
			b.Fatal(err)
		}
		d := NewDraft(c)
		if _, err := d.Set(Scope{}, "LogLevel", []string{"VERBOSE"}, ""); err != nil {
			b.Fatal(err)
		}
		fc := d.FileChanges()
		if len(fc) != 1 || len(fc[0].After()) != len(src)+len("LogLevel VERBOSE\n") {
			b.Fatalf("%d changes; want one line more in the one file", len(fc))
		}
		for b.Loop() {
			d.FileChanges()[0].After()
		}
	})
}
