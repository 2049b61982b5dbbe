package opensshtest

import (
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestConnSpec(t *testing.T) {
	for _, tc := range []struct {
		c    Conn
		want string
	}{
		{Conn{}, ""},
		{Conn{User: "bob"}, "user=bob"},
		{Conn{User: "u", Host: "h", Addr: "a", LAddr: "l", LPort: 22}, "user=u,host=h,addr=a,laddr=l,lport=22"},
		{Conn{Addr: "192.0.2.1", LPort: 2222}, "addr=192.0.2.1,lport=2222"},
	} {
		if got := tc.c.Spec(); got != tc.want {
			t.Errorf("%#v.Spec() = %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestParseDump(t *testing.T) {
	d := parseDump("port 22\nallowusers a\nallowusers b\nbanner /etc/my banner\nversionaddendum\n")
	want := Dump{"port": {"22"}, "allowusers": {"a", "b"}, "banner": {"/etc/my banner"}, "versionaddendum": {""}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("parseDump = %#v, want %#v", d, want)
	}
	if d.Value("AllowUsers") != "a" || d.Value("nothing") != "" {
		t.Errorf("Value: got %q, %q", d.Value("AllowUsers"), d.Value("nothing"))
	}
}

func TestGenerateDeterministic(t *testing.T) {
	for seed := range uint64(20) {
		a := GenerateServer(rand.New(rand.NewPCG(seed, 1)))
		b := GenerateServer(rand.New(rand.NewPCG(seed, 1)))
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("GenerateServer(seed %d) differs between runs", seed)
		}
		c := GenerateClient(rand.New(rand.NewPCG(seed, 2)))
		d := GenerateClient(rand.New(rand.NewPCG(seed, 2)))
		if !reflect.DeepEqual(c, d) {
			t.Fatalf("GenerateClient(seed %d) differs between runs", seed)
		}
		if len(a.Conns) == 0 || (a.Conns[0].Spec() != "" && a.Conns[0].Spec() != "lport=22") {
			t.Errorf("server tree %d: Conns must start with the zero Conn: %v", seed, a.Conns)
		}
		if len(c.Hosts) == 0 {
			t.Errorf("client tree %d: no Hosts", seed)
		}
		if _, ok := a.Files["etc/ssh/sshd_config"]; !ok {
			t.Errorf("server tree %d has no sshd_config", seed)
		}
		if _, ok := c.Files["etc/ssh/ssh_config"]; !ok {
			t.Errorf("client tree %d has no ssh_config", seed)
		}
		if !sort.StringsAreSorted(a.Set) || !sort.StringsAreSorted(c.Set) {
			t.Errorf("tree %d: Set not sorted", seed)
		}
	}
}

// writeTree writes files (paths relative to the root) into a new temporary
// root and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := (Tree{Files: files}).Write(root); err != nil {
		t.Fatal(err)
	}
	return root
}

// etcSSHMounts returns the lines of /proc/self/mountinfo that mount on
// /etc/ssh: a bind mount leaking out of the namespace would show up here.
func etcSSHMounts(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == "/etc/ssh" || strings.HasPrefix(f[4], "/etc/ssh/")) {
			out = append(out, l)
		}
	}
	return out
}

func TestKnownAnswers(t *testing.T) {
	o := New(t)
	before := etcSSHMounts(t)

	t.Run("drop-in beats main file", func(t *testing.T) {
		root := writeTree(t, map[string]string{
			"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nClientAliveInterval 60\n" +
				"Match User bob\n  MaxSessions 3\n",
			"etc/ssh/sshd_config.d/50-local.conf": "ClientAliveInterval 5m\n",
		})
		ds, err := o.ServerT(root, []Conn{{}, {User: "bob"}, {User: "alice", Addr: "192.0.2.10"}})
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			if got := d.Value("clientaliveinterval"); got != "300" {
				t.Errorf("dump %d: clientaliveinterval = %q, want 300", i, got)
			}
		}
		// The Match User bob override is visible only with -C user=bob.
		for i, want := range []string{"10", "3", "10"} {
			if got := ds[i].Value("maxsessions"); got != want {
				t.Errorf("dump %d: maxsessions = %q, want %q", i, got, want)
			}
		}
	})

	t.Run("ssh Host first wins", func(t *testing.T) {
		root := writeTree(t, map[string]string{
			"etc/ssh/ssh_config": "Host web1\n  Port 2222\n  User alice\nHost web*\n  Port 3333\n  ServerAliveInterval 5m\n" +
				"Host *\n  Port 4444\n",
		})
		ds, err := o.ClientG(root, []string{"web1", "web2", "other", "WEB1"})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range [][3]string{
			{"2222", "alice", "300"},
			{"3333", "root", "300"},
			{"4444", "root", "0"},
			{"4444", "root", "0"}, // Host patterns are case-sensitive against the name as typed
		} {
			got := [3]string{ds[i].Value("port"), ds[i].Value("user"), ds[i].Value("serveraliveinterval")}
			if got != want {
				t.Errorf("host %d: port, user, serveraliveinterval = %v, want %v", i, got, want)
			}
		}
	})

	t.Run("system config from the tree", func(t *testing.T) {
		root := writeTree(t, map[string]string{"etc/ssh/ssh_config": "Port 2200\n"})
		ds, err := o.ClientG(root, []string{"x"})
		if err != nil {
			t.Fatal(err)
		}
		if got := ds[0].Value("port"); got != "2200" {
			t.Errorf("port = %q, want 2200 (system config from the tree)", got)
		}
	})

	t.Run("rejections", func(t *testing.T) {
		root := writeTree(t, map[string]string{"etc/ssh/sshd_config": "ClientAliveInterval 5mm\n"})
		_, err := o.ServerT(root, []Conn{{}})
		if !IsQueryError(err) || !strings.Contains(err.Error(), "invalid time value") {
			t.Errorf("ServerT on a bad tree: err = %v, want a QueryError about the time value", err)
		}
		root = writeTree(t, map[string]string{"etc/ssh/ssh_config": "Compression true\n"})
		_, err = o.ClientG(root, []string{"x"})
		if !IsQueryError(err) {
			t.Errorf("ClientG on `Compression true`: err = %v, want a QueryError (ssh Compression takes only yes/no)", err)
		}
	})

	t.Run("ServerCheck", func(t *testing.T) {
		bad := writeTree(t, map[string]string{"etc/ssh/sshd_config": "Match User x\n  Port 22\n"})
		err := o.ServerCheck(bad)
		if !IsQueryError(err) || !strings.Contains(err.Error(), "not allowed within a Match block") {
			t.Errorf("ServerCheck(Port inside Match User x) = %v, want a rejection", err)
		}
		good := writeTree(t, map[string]string{
			"etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\nPermitRootLogin no\n" +
				"Match User x\n  X11Forwarding no\n",
			"etc/ssh/sshd_config.d/10-a.conf": "PasswordAuthentication no\n",
		})
		if err := o.ServerCheck(good); err != nil {
			t.Errorf("ServerCheck(normal tree) = %v, want nil", err)
		}
	})

	// Behaviour of OpenSSH 9.2p1 (Debian 12) that openssh-semantics.md does
	// not state, pinned here so a change of OpenSSH shows up.
	t.Run("observed", func(t *testing.T) {
		srv := func(conf string, c Conn, kw string) []string {
			t.Helper()
			ds, err := o.ServerT(writeTree(t, map[string]string{"etc/ssh/sshd_config": conf}), []Conn{c})
			if err != nil {
				t.Fatalf("%q: %v", conf, err)
			}
			return ds[0][kw]
		}
		cli := func(conf, host, kw string) []string {
			t.Helper()
			ds, err := o.ClientG(writeTree(t, map[string]string{"etc/ssh/ssh_config": conf}), []string{host})
			if err != nil {
				t.Fatalf("%q: %v", conf, err)
			}
			return ds[0][kw]
		}
		check := func(name string, got []string, want ...string) {
			t.Helper()
			if !slices.Equal(got, want) {
				t.Errorf("%s: got %q, want %q", name, got, want)
			}
		}
		// A global-only keyword inside `Match all` is accepted and applies
		// globally, first-wins with the global section.
		check("Port inside Match all", srv("Match all\nPort 2222\n", Conn{}, "port"), "2222")
		check("LoginGraceTime in Match all", srv("LoginGraceTime 7\nMatch all\nLoginGraceTime 5\n", Conn{User: "bob"}, "logingracetime"), "7")
		// Cumulative keywords accumulate across all matching Match blocks.
		check("AllowUsers across blocks", srv("AllowUsers a\nMatch User bob\nAllowUsers x\nMatch all\nAllowUsers z\n",
			Conn{User: "bob"}, "allowusers"), "x", "z")
		// A pattern list of negations only never matches.
		check("Match User !alice", srv("Match User !alice\nMaxSessions 2\n", Conn{User: "bob"}, "maxsessions"), "10")
		// Match User is case-sensitive, Match Host is not.
		check("Match User BOB", srv("Match User BOB\nMaxSessions 2\n", Conn{User: "bob"}, "maxsessions"), "10")
		check("Match Host upper", srv("Match Host *.EXAMPLE.com\nMaxSessions 2\n", Conn{Host: "web1.example.com"}, "maxsessions"), "2")
		// A portless ListenAddress takes every Port, even a later one.
		check("ListenAddress before Port", srv("ListenAddress 192.0.2.1\nPort 2222\n", Conn{}, "listenaddress"), "192.0.2.1:2222")
		// Each Port line is a separate entry, duplicates included.
		check("duplicate Port", srv("Port 22\nPort 022\n", Conn{}, "port"), "22", "22")
		// ssh: Match host and originalhost are case-insensitive; the
		// printed hostname is lowercased.
		check("Match originalhost", cli("Match originalhost foo\n Port 2222\n", "FOO", "port"), "2222")
		check("hostname lowercased", cli("Hostname Web1.Example.COM\n", "x", "hostname"), "web1.example.com")
		// ssh: IdentityFile ignores duplicates, SendEnv keeps them.
		check("IdentityFile dedup", cli("IdentityFile /k/a\nIdentityFile /k/a\nIdentityFile /k/b\n", "x", "identityfile"), "/k/a", "/k/b")
		check("SendEnv dup", cli("SendEnv A A\nSendEnv A\n", "x", "sendenv"), "A", "A", "A")
		// ssh: ProxyCommand none locks the keyword (nothing printed).
		check("ProxyCommand none", cli("ProxyCommand none\nProxyCommand ssh x\n", "x", "proxycommand"))
		// Match lines split with the old tokenizer: double quotes group,
		// single quotes stay part of the pattern (which then never matches).
		check(`Match User "bob"`, srv("Match User \"bob\"\nMaxSessions 2\n", Conn{User: "bob"}, "maxsessions"), "2")
		check(`Match User 'bob'`, srv("Match User 'bob'\nMaxSessions 2\n", Conn{User: "bob"}, "maxsessions"), "10")
		check(`Match host 'x'`, cli("Match host 'x'\n Port 2222\n", "x", "port"), "22")
		check(`Match criterion=value`, srv("Match User=bob\nMaxSessions 2\n", Conn{User: "bob"}, "maxsessions"), "2")
		// An Include glob matching a directory reads it as an empty file.
		ds, err := o.ServerT(writeTree(t, map[string]string{
			"etc/ssh/sshd_config":               "Include sshd_config.d\nMaxSessions 4\n",
			"etc/ssh/sshd_config.d/unread.conf": "MaxSessions 9\n",
		}), []Conn{{}})
		if err != nil {
			t.Fatal(err)
		}
		check("Include a directory", ds[0]["maxsessions"], "4")
		// ssh -G expands ~ and %h in UserKnownHostsFile, not in IdentityFile.
		check("UserKnownHostsFile expanded", cli("UserKnownHostsFile /etc/kh_%h\nIdentityFile ~/.ssh/id_%h\n", "x", "userknownhostsfile"), "/etc/kh_x")
		check("IdentityFile verbatim", cli("IdentityFile ~/.ssh/id_%h\n", "x", "identityfile"), "~/.ssh/id_%h")
		// Integers take a leading +.
		check("MaxAuthTries +5", srv("MaxAuthTries +5\n", Conn{}, "maxauthtries"), "5")
		for _, tc := range []struct{ name, conf string }{
			// "any" after an AuthenticationMethods line that took effect is
			// fatal, although the later line would be ignored (first wins).
			{"AuthenticationMethods any twice", "AuthenticationMethods password\nAuthenticationMethods any\n"},
			// A method whose flag is off may not be listed.
			{"AuthenticationMethods disabled method", "AuthenticationMethods publickey\nPubkeyAuthentication no\n"},
			// sshd -T refuses to run without lport once Match LocalPort is used.
			{"Match LocalPort without lport", "Match LocalPort 22\nMaxSessions 2\n"},
			{"Match LocalPort list", "Match LocalPort 22,2222\nMaxSessions 2\n"},
		} {
			_, err := o.ServerT(writeTree(t, map[string]string{"etc/ssh/sshd_config": tc.conf}), []Conn{{}})
			if !IsQueryError(err) {
				t.Errorf("%s: err = %v, want a rejection", tc.name, err)
			}
		}
		// ssh: Debian's BatchMode default for ServerAliveInterval.
		check("BatchMode 300", cli("ServerAliveInterval none\nBatchMode yes\n", "x", "serveraliveinterval"), "300")
		check("BatchMode explicit 0", cli("ServerAliveInterval 0\nBatchMode yes\n", "x", "serveraliveinterval"), "0")
	})

	if after := etcSSHMounts(t); !slices.Equal(before, after) {
		t.Errorf("/etc/ssh mounts changed outside the namespace:\nbefore %q\nafter  %q", before, after)
	}
}

// stats counts the results of a run of generated trees.
type stats struct {
	mu       sync.Mutex
	trees    int
	accepted int
	queries  int
	rejected []string
	seen     map[string]bool // lowercase keywords seen in some dump of a tree that sets them
	setAny   map[string]bool // lowercase keywords some tree sets
}

func TestGeneratedServerTrees(t *testing.T) {
	o := New(t)
	defaults, err := o.ServerT(writeTree(t, map[string]string{"etc/ssh/sshd_config": ""}), []Conn{{}})
	if err != nil {
		t.Fatal(err)
	}
	runGenerated(t, treeCount(t), func(i int) Tree { return GenerateServer(rand.New(rand.NewPCG(uint64(i), 0x55d))) },
		func(root string, tr Tree) ([]Dump, int, error) {
			ds, err := o.ServerT(root, tr.Conns)
			return ds, len(tr.Conns), err
		}, defaults[0])
}

func TestGeneratedClientTrees(t *testing.T) {
	o := New(t)
	defaults, err := o.ClientG(writeTree(t, map[string]string{"etc/ssh/ssh_config": ""}), []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	runGenerated(t, treeCount(t), func(i int) Tree { return GenerateClient(rand.New(rand.NewPCG(uint64(i), 0xc11))) },
		func(root string, tr Tree) ([]Dump, int, error) {
			ds, err := o.ClientG(root, tr.Hosts)
			return ds, len(tr.Hosts), err
		}, defaults[0])
}

// treeCount is how many trees of each dialect the generated-tree tests run:
// 200, or $OPENSSHTEST_TREES for longer soak runs.
func treeCount(t *testing.T) int {
	if v := os.Getenv("OPENSSHTEST_TREES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("bad OPENSSHTEST_TREES=%q", v)
		}
		return n
	}
	return 200
}

// runGenerated writes n generated trees, asks OpenSSH about each with query
// (several trees at once), and checks the acceptance rate and that the
// keywords in Set show up in the dumps: a keyword OpenSSH always prints (it is
// in defaults) in every dump of the tree, the others in some dump of some
// tree.
func runGenerated(t *testing.T, n int, generate func(i int) Tree, query func(string, Tree) ([]Dump, int, error), defaults Dump) {
	st := &stats{seen: map[string]bool{}, setAny: map[string]bool{}}
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 2 * max(2, runtime.NumCPU()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				tr := generate(i)
				root := t.TempDir()
				if err := tr.Write(root); err != nil {
					t.Error(err)
					continue
				}
				ds, nq, err := query(root, tr)
				st.mu.Lock()
				st.trees++
				st.queries += nq
				switch {
				case err != nil && !IsQueryError(err):
					t.Errorf("tree %d: %v", i, err)
				case err != nil:
					st.rejected = append(st.rejected, describeRejection(i, tr, err))
				default:
					st.accepted++
					for _, k := range tr.Set {
						lk := strings.ToLower(k)
						st.setAny[lk] = true
						_, always := defaults[lk]
						for j, d := range ds {
							if _, ok := d[lk]; ok {
								st.seen[lk] = true
							} else if always {
								t.Errorf("tree %d dump %d: keyword %s (in Set) missing from the dump", i, j, k)
							}
						}
					}
				}
				st.mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	el := time.Since(start)
	sort.Strings(st.rejected)
	for _, r := range st.rejected {
		t.Logf("rejected: %s", r)
	}
	var never []string
	for k := range st.setAny {
		if !st.seen[k] {
			never = append(never, k)
		}
	}
	sort.Strings(never)
	if len(never) > 0 {
		t.Errorf("keywords in Set that no dump ever showed: %v", never)
	}
	t.Logf("%d trees, %d queries in %v (%.0f trees/s, %.0f queries/s); accepted %d/%d (%.1f%%)",
		st.trees, st.queries, el.Round(time.Millisecond), float64(st.trees)/el.Seconds(), float64(st.queries)/el.Seconds(),
		st.accepted, st.trees, 100*float64(st.accepted)/float64(st.trees))
	if st.accepted*100 < st.trees*99 {
		t.Errorf("only %d of %d generated trees accepted by OpenSSH (want >= 99%%)", st.accepted, st.trees)
	}
}

// describeRejection names the tree and the offending line when OpenSSH's
// message points at one.
func describeRejection(i int, tr Tree, err error) string {
	msg := err.Error()
	s := "tree " + strconv.Itoa(i) + ": " + msg
	// "/etc/ssh/FILE line N: ..." or "/etc/ssh/FILE: line N: ..."
	if _, rest, ok := strings.Cut(msg, "/etc/ssh/"); ok {
		file, after, _ := strings.Cut(rest, " line ")
		file = strings.TrimSuffix(file, ":")
		numStr, _, _ := strings.Cut(after, ":")
		if content, ok := tr.Files["etc/ssh/"+file]; ok {
			lines := strings.Split(content, "\n")
			if n, err := strconv.Atoi(numStr); err == nil && n >= 1 && n <= len(lines) {
				s += " -- line: " + strings.TrimRight(lines[n-1], "\r")
			}
		}
	}
	return s
}

// TestTimeout checks that a query that never ends (sshd opening a FIFO that
// no one writes) is killed, with its whole namespace, after the timeout.
func TestTimeout(t *testing.T) {
	o := New(t)
	short := *o
	short.timeout = 2 * time.Second
	root := writeTree(t, map[string]string{"etc/ssh/sshd_config": "Include /etc/ssh/fifo\n"})
	if err := syscall.Mkfifo(root+"/etc/ssh/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := short.ServerT(root, []Conn{{}})
	if err == nil || IsQueryError(err) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("ServerT on a FIFO include: err = %v, want a time-out", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("ServerT took %v to time out", el)
	}
}
