package fleet_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sshconverge/agent/pkg/files/opensshtest"
)

// repoRoot is the checkout this package lives in (go test runs in the
// package's directory).
var repoRoot = func() string {
	d, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return d
}()

// subnetBase is the private range the test hosts take a /24 of:
// 10.213.X.0/24, X from 100 to 199, the first one found unused.
const subnetBase = "10.213."

// hostKind says what a test host is made to do.
type hostKind int

const (
	goodHost   hostKind = iota // sshd runs; the agent converges the tree
	brokenHost                 // sshd runs, but a drop-in written after it started has a misspelt keyword: the agent fails
	downHost                   // the namespace and address exist, no sshd: connections are refused
)

// fleet is a set of test hosts and the controller namespace that reaches
// them.
type fleet struct {
	t         *testing.T
	ctl       string // the controller's network namespace
	net       string // "10.213.X."
	dir       string // client key, known_hosts, ssh_config
	sshConfig string
	clientKey string
	hosts     []*testHost
	// lastCPU is the user+system time of the last inControl command and
	// the descendants it waited for: the controller's share of the work
	// (the hosts' sshd and agent are not among them).
	lastCPU time.Duration
}

// testHost is one host: a network namespace, an address, a tree and (for
// good and broken hosts) a running sshd.
type testHost struct {
	name string
	kind hostKind
	ns   string
	addr string
	tree string // the host's root: etc/ssh, run, usr/local/bin…
	pid  int    // the sshd this test started (0: none)
	done chan struct{}
}

var (
	fleetSeq atomic.Int32
	subnetMu sync.Mutex
)

// needFleet ends the test (skip, or fail under CI=true) when the tools or
// privileges the namespace hosts need are missing.
func needFleet(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		opensshtest.Unavailable(t, "the fleet tests need root: they make network namespaces and start sshd")
	}
	for _, tool := range []string{"ip", "/usr/sbin/sshd", "ssh", "scp", "ssh-keygen", "unshare", "nsenter", "timeout", "xargs", "sha256sum", "bash", "od"} {
		if _, err := exec.LookPath(tool); err != nil {
			opensshtest.Unavailable(t, "%s is missing (apt-get install -y iproute2 openssh-server openssh-client util-linux coreutils findutils; see .ci/setup.d/40-fleet.sh)", tool)
		}
	}
	if _, err := os.Stat("/usr/lib/openssh/sftp-server"); err != nil {
		opensshtest.Unavailable(t, "/usr/lib/openssh/sftp-server is missing (apt-get install -y openssh-server): scp needs it")
	}
	netnsOnce.Do(func() {
		probe := fmt.Sprintf("scv%d-probe", os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
			netnsErr = fmt.Errorf("ip netns add: %v: %s", err, bytes.TrimSpace(out))
			return
		}
		exec.Command("ip", "netns", "del", probe).Run()
	})
	if netnsErr != nil {
		opensshtest.Unavailable(t, "cannot make a network namespace here (%v)", netnsErr)
	}
}

var (
	netnsOnce sync.Once
	netnsErr  error
)

// run runs a command and fails the test with its output when it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pickSubnet returns "10.213.X." for a /24 that no address or route of
// this machine's own namespace uses, and that no other namespace of these
// tests (a concurrent run) has taken.
func pickSubnet(t *testing.T) string {
	t.Helper()
	used := run(t, "ip", "-4", "-o", "addr", "show") + run(t, "ip", "-4", "route", "show", "table", "all")
	for _, ns := range strings.Fields(run(t, "ip", "netns", "list")) {
		if strings.HasPrefix(ns, "scv") {
			out, _ := exec.Command("ip", "-n", ns, "-4", "-o", "addr", "show").CombinedOutput()
			used += string(out)
		}
	}
	start := 100 + os.Getpid()%100
	for i := range 100 {
		net := fmt.Sprintf("%s%d.", subnetBase, 100+(start-100+i)%100)
		if !strings.Contains(used, " "+net) && !strings.Contains(used, "\n"+net) && !strings.HasPrefix(used, net) {
			return net
		}
	}
	t.Fatalf("every 10.213.100-199.0/24 is in use here:\n%s", used)
	return ""
}

// newFleet makes the controller namespace and one host per kind in kinds,
// named h1, h2… (good), broken…, down…; every namespace, process and file
// is removed when the test ends, also when it fails.
func newFleet(t *testing.T, kinds ...hostKind) *fleet {
	t.Helper()
	needFleet(t)
	start := time.Now()
	var teardown time.Time // cleanups run last-registered first: this one runs last
	t.Cleanup(func() { t.Logf("hosts torn down in %.1f s", time.Since(teardown).Seconds()) })
	f := &fleet{t: t, dir: t.TempDir()}
	prefix := fmt.Sprintf("scv%d-%d", os.Getpid(), fleetSeq.Add(1))
	f.ctl = prefix + "-ctl"
	f.addNamespace(f.ctl)
	ipn := func(ns string, args ...string) { run(t, "ip", append([]string{"-n", ns}, args...)...) }
	ipn(f.ctl, "link", "set", "lo", "up")
	ipn(f.ctl, "link", "add", "br0", "type", "bridge")
	// Until the bridge has its address, a fleet made in parallel would
	// see the same subnet as free.
	subnetMu.Lock()
	f.net = pickSubnet(t)
	ipn(f.ctl, "addr", "add", f.net+"1/24", "dev", "br0")
	subnetMu.Unlock()
	ipn(f.ctl, "link", "set", "br0", "up")

	f.clientKey = filepath.Join(f.dir, "id_ed25519")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleet-test", "-f", f.clientKey)
	clientPub, err := os.ReadFile(f.clientKey + ".pub")
	must(t, err)

	counts := map[hostKind]int{}
	for i, kind := range kinds {
		counts[kind]++
		h := &testHost{kind: kind, ns: fmt.Sprintf("%s-%d", prefix, i+1), addr: fmt.Sprintf("%s%d", f.net, 10+i)}
		h.name = map[hostKind]string{goodHost: "h", brokenHost: "broken", downHost: "down"}[kind] + strconv.Itoa(counts[kind])
		f.addNamespace(h.ns)
		veth := fmt.Sprintf("v%d", i+1)
		ipn(f.ctl, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
		ipn(f.ctl, "link", "set", veth, "master", "br0")
		ipn(f.ctl, "link", "set", veth, "up")
		ipn(h.ns, "link", "set", "lo", "up")
		ipn(h.ns, "addr", "add", h.addr+"/24", "dev", "eth0")
		ipn(h.ns, "link", "set", "eth0", "up")
		h.tree = filepath.Join(f.dir, "hosts", h.name)
		f.writeTree(h, clientPub)
		f.hosts = append(f.hosts, h)
	}
	// Start the daemons in parallel: each waits for its pid file.
	var wg sync.WaitGroup
	errs := make([]error, len(f.hosts))
	for i, h := range f.hosts {
		if h.kind == downHost {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.startSSHD(h)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	for _, h := range f.hosts {
		if h.kind == brokenHost {
			// sshd read its configuration already; the agent reads this.
			must(t, os.WriteFile(filepath.Join(h.tree, "etc/ssh/sshd_config.d/60-typo.conf"), []byte("ClientAliveIntervall 5\n"), 0o644))
		}
	}
	f.writeClientConfig()
	f.checkRoutes()
	t.Logf("%d hosts in %s0/24 ready in %.1f s", len(f.hosts), f.net, time.Since(start).Seconds())
	t.Cleanup(func() { teardown = time.Now() })
	return f
}

// addNamespace makes a network namespace and, at cleanup, kills every
// process left in it (ssh sessions and control masters, which belong to
// this test because the namespace does) and deletes it.
func (f *fleet) addNamespace(ns string) {
	t := f.t
	t.Helper()
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		for range 50 {
			out, _ := exec.Command("ip", "netns", "pids", ns).Output()
			pids := strings.Fields(string(out))
			if len(pids) == 0 {
				break
			}
			for _, p := range pids {
				if pid, err := strconv.Atoi(p); err == nil && pid > 1 && pid != os.Getpid() {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
}

// sshdConfig is the test-specific part of every host's configuration: a
// drop-in that sorts before the image's 50-cloud-init.conf, so its values
// win. The rest of the tree is examples/demo-root (Debian 12).
const sshdConfig = `# Written by the fleet test: this host listens on its namespace's address
# only, and root logs in with the test's key.
ListenAddress %s:22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
AuthorizedKeysFile /etc/ssh/authorized_keys/%%u
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
`

// writeTree lays out a host's root: the demo tree's etc/ssh, a drop-in
// with the test's settings, a host key, root's authorized key, and the
// directories sshd and the agent use.
func (f *fleet) writeTree(h *testHost, clientPub []byte) {
	t := f.t
	src := filepath.Join(repoRoot, "examples/demo-root")
	must(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(h.tree, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	}))
	ssh := filepath.Join(h.tree, "etc/ssh")
	must(t, os.WriteFile(filepath.Join(ssh, "sshd_config.d/10-fleet-test.conf"), fmt.Appendf(nil, sshdConfig, h.addr), 0o644))
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h.name, "-f", filepath.Join(ssh, "ssh_host_ed25519_key"))
	must(t, os.MkdirAll(filepath.Join(ssh, "authorized_keys"), 0o755))
	must(t, os.WriteFile(filepath.Join(ssh, "authorized_keys/root"), clientPub, 0o644))
	for _, d := range []string{"run/sshd", "tmp", "root"} {
		must(t, os.MkdirAll(filepath.Join(h.tree, d), 0o755))
	}
	must(t, os.Chmod(filepath.Join(h.tree, "tmp"), 0o1777))
	must(t, os.Chmod(filepath.Join(h.tree, "root"), 0o700))
}

// startSSHD starts the host's sshd in its network namespace and in a
// private mount namespace where the tree's etc/ssh, run and root are
// /etc/ssh, /run and /root (so a session on the host has its own home, and
// never runs this machine's ~/.bashrc), waits until it has written its pid file (after it listens), and
// stops it by its pid at cleanup (and the one the pid file names, should
// the agent have started it again).
func (f *fleet) startSSHD(h *testHost) error {
	cmd := exec.Command("ip", "netns", "exec", h.ns, "unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount --bind "$1/etc/ssh" /etc/ssh && mount --bind "$1/run" /run && mount --bind "$1/root" /root && exec /usr/sbin/sshd -D -E /run/sshd.log -f /etc/ssh/sshd_config`,
		"sh", h.tree)
	// A file, not a pipe: sessions that outlive the daemon keep its
	// stderr open, and Wait would wait for them.
	stderr, err := os.Create(filepath.Join(h.tree, "run/sshd.stderr"))
	if err != nil {
		return err
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	// ip netns exec, unshare and sh all exec: the pid is sshd's.
	h.pid = cmd.Process.Pid
	h.done = make(chan struct{})
	go func() { cmd.Wait(); close(h.done) }()
	f.t.Cleanup(func() {
		if p := h.pidFromFile(); p > 0 && p != h.pid {
			syscall.Kill(p, syscall.SIGTERM)
		}
		syscall.Kill(h.pid, syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(h.pid, syscall.SIGKILL)
			<-h.done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if h.pidFromFile() == h.pid {
			return nil
		}
		select {
		case <-h.done:
			b, _ := os.ReadFile(stderr.Name())
			return fmt.Errorf("sshd of %s exited: %s\nlog:\n%s", h.name, b, h.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("sshd of %s wrote no pid file within 15 s\nlog:\n%s", h.name, h.log())
}

func (h *testHost) pidFromFile() int {
	b, err := os.ReadFile(filepath.Join(h.tree, "run/sshd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (h *testHost) log() string {
	b, _ := os.ReadFile(filepath.Join(h.tree, "run/sshd.log"))
	return string(b)
}

// sshdT runs sshd -T in the daemon's own mount namespace: what it reads.
func (h *testHost) sshdT(t *testing.T) string {
	t.Helper()
	return run(t, "nsenter", "-t", strconv.Itoa(h.pidFromFile()), "-m", "/usr/sbin/sshd", "-T", "-f", "/etc/ssh/sshd_config")
}

// unknownKeyHost is an ssh_config alias of the first host whose host key
// is not in known_hosts.
const unknownKeyHost = "unknownkey"

// writeClientConfig writes known_hosts (from the hosts' own public keys:
// host keys are checked, never accepted blindly) and the ssh_config that
// bootstrap.sh gets with -F.
func (f *fleet) writeClientConfig() {
	t := f.t
	var known, cfg strings.Builder
	for _, h := range f.hosts {
		pub, err := os.ReadFile(filepath.Join(h.tree, "etc/ssh/ssh_host_ed25519_key.pub"))
		must(t, err)
		fields := strings.Fields(string(pub))
		fmt.Fprintf(&known, "%s %s %s\n", h.addr, fields[0], fields[1])
		fmt.Fprintf(&cfg, "Host %s\n\tHostName %s\n", h.name, h.addr)
	}
	if len(f.hosts) > 0 {
		// The first host under a name known_hosts has no key for: host
		// key checking must refuse it.
		fmt.Fprintf(&cfg, "Host %s\n\tHostName %s\n\tHostKeyAlias %s\n", unknownKeyHost, f.hosts[0].addr, unknownKeyHost)
	}
	knownHosts := filepath.Join(f.dir, "known_hosts")
	must(t, os.WriteFile(knownHosts, []byte(known.String()), 0o644))
	fmt.Fprintf(&cfg, `Host *
	User root
	IdentityFile %s
	IdentitiesOnly yes
	IdentityAgent none
	UserKnownHostsFile %s
	GlobalKnownHostsFile /dev/null
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	GSSAPIAuthentication no
	ConnectTimeout 5
`, f.clientKey, knownHosts)
	f.sshConfig = filepath.Join(f.dir, "ssh_config")
	must(t, os.WriteFile(f.sshConfig, []byte(cfg.String()), 0o644))
}

// checkRoutes proves that, from the controller namespace, every host
// address goes over the test's bridge, and that the controller has no
// other route: nothing the tools send can leave the test's namespaces.
func (f *fleet) checkRoutes() {
	t := f.t
	routes := strings.TrimSpace(run(t, "ip", "-n", f.ctl, "-4", "route", "show", "table", "all"))
	for _, l := range strings.Split(routes, "\n") {
		if !strings.Contains(l, f.net) && !strings.Contains(l, "127.") {
			t.Fatalf("the controller namespace has a route outside the test's subnet: %q", l)
		}
	}
	for _, h := range f.hosts {
		if out := run(t, "ip", "-n", f.ctl, "route", "get", h.addr); !strings.Contains(out, "dev br0") {
			t.Fatalf("%s (%s) is not reached over the test bridge: %s", h.name, h.addr, out)
		}
	}
}

// host returns the host named name.
func (f *fleet) host(name string) *testHost {
	for _, h := range f.hosts {
		if h.name == name {
			return h
		}
	}
	f.t.Fatalf("no host %s", name)
	return nil
}

// good returns the hosts of kind goodHost.
func (f *fleet) good() []*testHost {
	var out []*testHost
	for _, h := range f.hosts {
		if h.kind == goodHost {
			out = append(out, h)
		}
	}
	return out
}

// inControl runs argv in the controller namespace with the environment
// env added, within timeout, and returns its exit code and output.
func (f *fleet) inControl(timeout time.Duration, env []string, argv ...string) (code int, stdout, stderr string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", f.ctl}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		f.t.Fatalf("%s: still running after %s\nstdout:\n%s\nstderr:\n%s", strings.Join(argv, " "), timeout, out.String(), errb.String())
	}
	code = cmd.ProcessState.ExitCode()
	f.lastCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if err != nil && code < 0 {
		f.t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return code, out.String(), errb.String()
}

// snapshot returns every regular file under the tree's etc/ssh with its
// bytes and modification time.
func (h *testHost) snapshot(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	must(t, filepath.WalkDir(filepath.Join(h.tree, "etc/ssh"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = fmt.Sprintf("%s\n%s", info.ModTime().Format(time.RFC3339Nano), b)
		return err
	}))
	return m
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var (
	agentOnce sync.Once
	agentPath string
	agentErr  error
	buildDir  string
)

// TestMain removes the agent built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// agentBinary builds the agent once, as the README says (static,
// -trimpath), and returns its path.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		buildDir, agentErr = os.MkdirTemp("", "sshconverge-fleet-agent")
		if agentErr != nil {
			return
		}
		agentPath = filepath.Join(buildDir, "sshconverge")
		cmd := exec.Command("go", "build", "-trimpath", "-o", agentPath, "./cmd/agent")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			agentErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	return agentPath
}
