// Package opensshtest asks the real OpenSSH binaries what they make of a
// configuration tree, for differential tests, in the way net/http/httptest
// serves net/http tests.
//
// An [Oracle] runs `sshd -T`, `sshd -t` and `ssh -G` against a directory tree
// ROOT whose ROOT/etc/ssh is shown to OpenSSH as /etc/ssh. It does so in a
// private mount namespace (`unshare -m`, which util-linux makes private, so
// the bind mount is never visible outside it); the machine's own /etc/ssh is
// never touched. Each call is one namespace and one shell running every query
// of the call, so hundreds of trees take seconds.
//
// [GenerateServer] and [GenerateClient] make random but valid configuration
// trees that stress OpenSSH's lexing, Include and precedence rules.
//
// [New] asks the machine's own OpenSSH; [Installs] and [NewFor] ask every
// OpenSSH version the setup script .ci/setup.d/30-openssh-chroots.sh put in
// chroots, running the binaries inside the chroot with the tree bound over its
// /etc/ssh.
//
// The package needs root (for unshare -m and mount), util-linux, and the
// openssh-server and openssh-client packages; [New] skips the test (or fails
// it when CI=true) when any of them is missing.
package opensshtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Unavailable ends a test that cannot run because something it needs is
// missing: tb.Fatalf when the environment variable CI is "true" (CI must
// not pass by skipping), tb.Skipf otherwise. The message should say what is
// missing and how to get it.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

// DefaultTimeout bounds one ServerT, ServerCheck or ClientG call: the whole
// namespace with all of its queries is killed when it runs longer.
const DefaultTimeout = 30 * time.Second

// Oracle asks the real OpenSSH binaries. It is immutable after New and safe
// for concurrent use: every call runs in its own mount namespace.
type Oracle struct {
	install                   Install
	sshd, ssh, unshare, mount string // sshd and ssh as seen by the binaries (inside the chroot)
	hostKey                   string // ed25519 private key for sshd -h, as seen by sshd
	keyDir                    string // directory holding the host key and empty, bound over ROOT/tmp for a chroot
	empty                     string // empty directory bound over the user's ~/.ssh
	home                      string // passwd home directory of the invoking user (of the chroot's passwd)
	timeout                   time.Duration
}

// New finds /usr/sbin/sshd, ssh, ssh-keygen, unshare and mount, makes an
// ed25519 host key in tb.TempDir() and ensures /run/sshd exists (sshd -T
// refuses to run without its privilege separation directory).
//
// When a tool is missing, when the process is not root, when unshare -m
// does not work here (an unprivileged container), or when sshd -T or ssh -G
// fail on an empty configuration, New calls tb.Fatalf if the environment
// variable CI is "true" and tb.Skipf otherwise, saying what is missing and
// how to get it. The Oracle is usable until tb ends (its host key lives in
// tb.TempDir()).
func New(tb testing.TB) *Oracle {
	tb.Helper()
	return newOracle(tb, Install{Name: HostInstall})
}

// newOracle is New for the host (in.Root == "") or NewFor for a chroot.
func newOracle(tb testing.TB, in Install) *Oracle {
	tb.Helper()
	unavailable := func(format string, args ...any) {
		tb.Helper()
		Unavailable(tb, "opensshtest: "+format, args...)
	}
	install := oracleInstallHint(in)
	o := &Oracle{install: in, timeout: DefaultTimeout}
	keygen, missing := o.locateTools(in)
	if len(missing) > 0 {
		unavailable("missing %s; %s", strings.Join(missing, ", "), install)
		return nil
	}
	if os.Geteuid() != 0 {
		unavailable("not root: `unshare -m` and `mount --bind` need root (CAP_SYS_ADMIN); run the tests as root, e.g. sudo go test")
		return nil
	}
	dir := tb.TempDir()
	probe := exec.Command(o.unshare, "-m", "--propagation", "private", o.mount, "--bind", dir, dir)
	if out, err := probe.CombinedOutput(); err != nil {
		unavailable("`unshare -m` with a bind mount does not work here (%v: %s); a privileged container or a real machine is needed",
			err, strings.TrimSpace(string(out)))
		return nil
	}
	o.makeHostKey(tb, dir, keygen)
	if err := o.prepareRoot(tb); err != nil {
		unavailable("%v; %s", err, install)
		return nil
	}
	if err := o.ensureVersion(); err != nil {
		unavailable("%v; %s", err, install)
		return nil
	}
	if err := o.probeEmptyTree(tb, dir); err != nil {
		unavailable("%v; %s", err, install)
		return nil
	}
	return o
}

// oracleInstallHint says how to get what an Oracle for in needs: the
// Debian packages for the host, the setup script for a chroot.
func oracleInstallHint(in Install) string {
	if in.Root != "" {
		return "make the chroots with: .ci/setup.d/30-openssh-chroots.sh (as root)"
	}
	return "install it with: apt-get install -y openssh-server openssh-client util-linux"
}

// findTool returns the first of candidates that is an executable regular
// file, else the absolute path of name in $PATH, else "".
func findTool(name string, candidates ...string) string {
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return c
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return ""
}

// locateTools sets o.sshd, o.ssh, o.unshare and o.mount for in and returns
// the path of ssh-keygen and what is missing, in the order looked for. For
// the host sshd and ssh are searched like the other tools; for a chroot
// they are Debian's paths inside it, which must be executable there, and
// chroot must be found on the host.
func (o *Oracle) locateTools(in Install) (keygen string, missing []string) {
	find := func(name string, candidates ...string) string {
		p := findTool(name, candidates...)
		if p == "" {
			missing = append(missing, name)
		}
		return p
	}
	if in.Root == "" {
		o.sshd = find("sshd", "/usr/sbin/sshd", "/usr/local/sbin/sshd")
		o.ssh = find("ssh", "/usr/bin/ssh", "/usr/local/bin/ssh")
	} else {
		// Debian's paths inside the chroot; no search of the host's PATH.
		o.sshd, o.ssh = "/usr/sbin/sshd", "/usr/bin/ssh"
		for _, b := range []string{o.sshd, o.ssh} {
			if fi, err := os.Stat(filepath.Join(in.Root, b)); err != nil || fi.Mode()&0o111 == 0 {
				missing = append(missing, filepath.Join(in.Root, b))
			}
		}
		find("chroot", "/usr/sbin/chroot", "/usr/bin/chroot")
	}
	keygen = find("ssh-keygen", "/usr/bin/ssh-keygen", "/usr/local/bin/ssh-keygen")
	o.unshare = find("unshare", "/usr/bin/unshare", "/bin/unshare")
	o.mount = find("mount", "/usr/bin/mount", "/bin/mount")
	return keygen, missing
}

// makeHostKey makes dir the Oracle's key directory: it generates the
// ed25519 host key there with keygen and creates the empty directory. It
// calls tb.Fatalf when either fails.
func (o *Oracle) makeHostKey(tb testing.TB, dir, keygen string) {
	tb.Helper()
	o.keyDir = dir
	o.hostKey = filepath.Join(dir, "ssh_host_ed25519_key")
	kg := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "opensshtest", "-f", o.hostKey)
	if out, err := kg.CombinedOutput(); err != nil {
		tb.Fatalf("opensshtest: ssh-keygen: %v: %s", err, out)
	}
	o.empty = filepath.Join(dir, "empty")
	if err := os.Mkdir(o.empty, 0o700); err != nil {
		tb.Fatalf("opensshtest: %v", err)
	}
}

// prepareRoot readies the system the binaries run in. For the host it
// ensures /run/sshd exists (calling tb.Fatalf when it cannot) and sets
// o.home from the invoking user; for a chroot it returns the error of
// chrootSetup.
func (o *Oracle) prepareRoot(tb testing.TB) error {
	tb.Helper()
	if o.install.Root != "" {
		return o.chrootSetup()
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		tb.Fatalf("opensshtest: sshd -T needs /run/sshd: %v", err)
	}
	// ssh takes the home directory from getpwuid(getuid()), not from
	// $HOME; so does os/user (through cgo or /etc/passwd).
	if u, err := user.Current(); err == nil {
		o.home = u.HomeDir
	}
	return nil
}

// ensureVersion sets o.install.Version from the binaries when it is not
// known yet.
func (o *Oracle) ensureVersion() error {
	if o.install.Version != "" {
		return nil
	}
	v, err := o.version()
	if err != nil {
		return err
	}
	o.install.Version = v
	return nil
}

// probeEmptyTree asks once about an empty tree, written to dir/probe: this
// catches what the checks of newOracle cannot, such as a missing privilege
// separation user "sshd". It returns an error saying whether sshd -T or
// ssh -G failed, and calls tb.Fatalf when the tree cannot be written.
func (o *Oracle) probeEmptyTree(tb testing.TB, dir string) error {
	tb.Helper()
	probeRoot := filepath.Join(dir, "probe")
	if err := (Tree{Files: map[string]string{"etc/ssh/sshd_config": "", "etc/ssh/ssh_config": ""}}).Write(probeRoot); err != nil {
		tb.Fatalf("opensshtest: %v", err)
	}
	if _, err := o.ServerT(probeRoot, []Conn{{}}); err != nil {
		return fmt.Errorf("sshd -T fails on an empty configuration: %v", err)
	}
	if _, err := o.ClientG(probeRoot, []string{"probe.invalid"}); err != nil {
		return fmt.Errorf("ssh -G fails on an empty configuration: %v", err)
	}
	return nil
}

// Dump is OpenSSH's effective configuration as printed by `sshd -T` or
// `ssh -G`: lowercase keyword -> values, one element per output line (the
// text after the first space), in output order. List keywords that OpenSSH
// prints once per value (sshd AllowUsers, ssh IdentityFile) have several
// elements; keywords printed with several words on one line (sshd
// AuthorizedKeysFile) have one.
type Dump map[string][]string

// Value returns the first value of keyword kw (any case), or "" when the
// dump does not have it.
func (d Dump) Value(kw string) string {
	if v := d[strings.ToLower(kw)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Conn is one connection's criteria for `sshd -T -C`. The zero Conn means: no
// -C at all (sshd then applies only `Match all` blocks). Fields must not
// contain commas.
type Conn struct {
	User, Host, Addr, LAddr string
	LPort                   int
	// Groups, when set, are groups User is made a member of for the query
	// (for Match Group): in the namespace, copies of /etc/passwd and
	// /etc/group that say so are bound over them, the user added when it
	// does not exist.
	Groups []string
}

// Spec returns the -C argument, "user=u,host=h,addr=a,laddr=l,lport=p",
// omitting empty fields; "" for the zero Conn.
func (c Conn) Spec() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("user", c.User)
	add("host", c.Host)
	add("addr", c.Addr)
	add("laddr", c.LAddr)
	if c.LPort != 0 {
		add("lport", strconv.Itoa(c.LPort))
	}
	return strings.Join(parts, ",")
}

// String returns the Spec, or "(no -C)" for the zero Conn.
func (c Conn) String() string {
	if s := c.Spec(); s != "" {
		return s
	}
	return "(no -C)"
}

// QueryError reports that OpenSSH rejected a configuration: one query exited
// with a non-zero status. Failures of the machinery (mount, timeout) are
// reported with other errors.
type QueryError struct {
	// Command is the query as run, e.g. "sshd -T -C user=bob" or "ssh -G web1".
	Command string
	// ExitStatus is the query's exit status (255 for a bad configuration).
	ExitStatus int
	// Stderr is what OpenSSH printed on its standard error.
	Stderr string
}

// Error returns the command, its exit status and OpenSSH's message.
func (e *QueryError) Error() string {
	return fmt.Sprintf("%s: exit status %d: %s", e.Command, e.ExitStatus, strings.TrimSpace(e.Stderr))
}

// The script run inside the namespace. Arguments: $1 the tree's etc/ssh, $2
// the marker, $3 the mode (T: sshd -T, t: sshd -t, G: ssh -G; f: sshd -t -f
// /etc/ssh/QUERY, F: ssh -v -G -F /etc/ssh/QUERY, for probes), $4 the binary,
// $5 the host key (as the binary sees it), $6 the home directory, $7 the empty
// directory, $8 the chroot ("" for none), $9 the directory bound over the
// chroot's /tmp, $10 a directory whose passwd and group are bound over
// /etc's ("" for none); then one argument per query. After each query it prints
// "\nMARKER i status" on stdout and "\nMARKER i" on stderr, so the Go side
// can split the streams.
//
// In a chroot the binaries run with "chroot ROOT"; ROOT itself is made
// read-only in the namespace, so nothing can write into the cached chroot;
// /proc is mounted because OpenSSH 8.4's closefrom() otherwise closes every
// possible descriptor one by one (about 0.1 s per run).
const script = `set -u
etc=$1 mark=$2 mode=$3 bin=$4 hk=$5 home=$6 empty=$7 r=$8 keydir=$9 acct=${10}
shift 10
if [ -n "$r" ]; then
	{ mount --bind "$r" "$r" && mount -o remount,bind,ro "$r" &&
		mount -t proc proc "$r/proc" && mount --bind "$keydir" "$r/tmp"; } ||
		{ echo "opensshtest: cannot set up the chroot $r" >&2; exit 97; }
fi
x() { if [ -n "$r" ]; then chroot "$r" "$@"; else "$@"; fi; }
mount --bind "$etc" "$r/etc/ssh" || { echo "opensshtest: cannot bind $etc over $r/etc/ssh" >&2; exit 97; }
if [ -n "$acct" ]; then
	{ mount --bind "$acct/passwd" "$r/etc/passwd" && mount --bind "$acct/group" "$r/etc/group"; } ||
		{ echo "opensshtest: cannot bind the account files" >&2; exit 97; }
fi
if [ "$mode" = G ] || [ "$mode" = F ]; then
	# Hide the invoking user's ~/.ssh (ssh reads ~/.ssh/config with the home
	# directory from getpwuid): bind an empty directory over ~/.ssh, or over
	# the home directory when there is no ~/.ssh to mount on.
	if [ -n "$home" ] && [ "$home" != / ]; then
		if [ -d "$r$home/.ssh" ]; then
			mount --bind "$empty" "$r$home/.ssh" || exit 97
		elif [ -d "$r$home" ]; then
			mount --bind "$empty" "$r$home" || exit 97
		fi
	fi
	if [ -e "$r$home/.ssh/config" ]; then
		echo "opensshtest: $r$home/.ssh/config is still visible" >&2
		exit 98
	fi
fi
i=0
for q in "$@"; do
	case $mode in
	T) if [ -n "$q" ]; then x "$bin" -T -h "$hk" -C "$q"; else x "$bin" -T -h "$hk"; fi ;;
	t) x "$bin" -t -h "$hk" ;;
	G) x "$bin" -G -- "$q" ;;
	f) x "$bin" -t -f "/etc/ssh/$q" -h "$hk" ;;
	F) x "$bin" -v -G -F "/etc/ssh/$q" -- probe.invalid ;;
	esac </dev/null
	rc=$?
	printf '\n%s %d %d\n' "$mark" "$i" "$rc"
	printf '\n%s %d\n' "$mark" "$i" >&2
	i=$((i+1))
done
`

type result struct {
	stdout, stderr string
	status         int
}

// run executes the queries of one call in one namespace.
func (o *Oracle) run(root, mode, bin string, queries []string) ([]result, error) {
	return o.runWith(root, mode, bin, "", queries)
}

// runWith is run with acct's passwd and group bound over /etc's ("" for
// none).
func (o *Oracle) runWith(root, mode, bin, acct string, queries []string) ([]result, error) {
	if len(queries) == 0 {
		return nil, nil
	}
	etc, err := treeEtc(root)
	if err != nil {
		return nil, err
	}
	mark, err := newMark()
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmd := o.namespaceCmd(ctx, etc, mark, mode, bin, acct, queries)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("opensshtest: %s queries on %s timed out after %v", mode, root, o.timeout)
	}
	return splitResults(stdout.String(), stderr.String(), mark, len(queries), runErr)
}

// treeEtc returns the absolute path of the tree root's etc/ssh, which must
// be a directory.
func treeEtc(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	etc := filepath.Join(abs, "etc", "ssh")
	if fi, err := os.Stat(etc); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("opensshtest: %s is not a directory", etc)
	}
	return etc, nil
}

// newMark returns a random marker for script to print after each query,
// which no configuration can contain by chance.
func newMark() (string, error) {
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", err
	}
	return "@@opensshtest-" + hex.EncodeToString(nonce[:]), nil
}

// namespaceCmd returns the command running script in a new private mount
// namespace with the arguments it documents, in its own process group,
// all of which is killed when ctx is done.
func (o *Oracle) namespaceCmd(ctx context.Context, etc, mark, mode, bin, acct string, queries []string) *exec.Cmd {
	hostKey := o.hostKey
	if o.install.Root != "" {
		hostKey = "/tmp/" + filepath.Base(o.hostKey) // o.keyDir is bound over ROOT/tmp
	}
	args := append([]string{"-m", "--propagation", "private", "/bin/sh", "-c", script, "opensshtest",
		etc, mark, mode, bin, hostKey, o.home, o.empty, o.install.Root, o.keyDir, acct}, queries...)
	cmd := exec.CommandContext(ctx, o.unshare, args...)
	cmd.Env = []string{"PATH=" + filepath.Dir(o.mount) + ":/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=" + o.home}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd
}

// splitResults splits the standard output and error of script, run with
// marker mark for n queries, into one result per query. It fails when the
// output does not hold n results (the namespace failed midway) or is
// garbled, and then when the run itself failed (runErr).
func splitResults(stdout, stderr, mark string, n int, runErr error) ([]result, error) {
	outs := strings.Split(stdout, "\n"+mark+" ")
	errs := strings.Split(stderr, "\n"+mark+" ")
	if len(outs) != n+1 || len(errs) != n+1 {
		return nil, fmt.Errorf("opensshtest: namespace failed after %d of %d queries (%v): %s",
			len(outs)-1, n, runErr, strings.TrimSpace(errs[len(errs)-1]))
	}
	res := make([]result, n)
	for i := range res {
		res[i].stdout = outs[i]
		res[i].stderr = errs[i]
		if i > 0 {
			// Each piece after the first starts with the previous marker's tail.
			_, res[i].stdout, _ = strings.Cut(outs[i], "\n")
			_, res[i].stderr, _ = strings.Cut(errs[i], "\n")
		}
		head, _, _ := strings.Cut(outs[i+1], "\n")
		f := strings.Fields(head)
		if len(f) != 2 || f[0] != strconv.Itoa(i) {
			return nil, fmt.Errorf("opensshtest: garbled output after query %d: %q", i, head)
		}
		status, err := strconv.Atoi(f[1])
		if err != nil {
			return nil, fmt.Errorf("opensshtest: garbled status after query %d: %q", i, head)
		}
		res[i].status = status
	}
	if runErr != nil {
		return nil, fmt.Errorf("opensshtest: namespace: %v: %s", runErr, strings.TrimSpace(errs[len(errs)-1]))
	}
	return res, nil
}

// parseDump parses `sshd -T` / `ssh -G` output.
func parseDump(out string) Dump {
	d := Dump{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		k = strings.ToLower(k)
		d[k] = append(d[k], v)
	}
	return d
}

// dumps turns results into Dumps. A failed query leaves a nil Dump and the
// first failure is returned as a *QueryError.
func dumps(res []result, command func(i int) string) ([]Dump, error) {
	ds := make([]Dump, len(res))
	var first error
	for i, r := range res {
		if r.status != 0 {
			if first == nil {
				first = &QueryError{Command: command(i), ExitStatus: r.status, Stderr: r.stderr}
			}
			continue
		}
		ds[i] = parseDump(r.stdout)
	}
	return ds, first
}

// ServerT runs `sshd -T` with ROOT/etc/ssh seen as /etc/ssh, once per conn
// (with `-C conn.Spec()` for each non-zero conn), and returns one Dump per
// conn in the same order. When sshd rejects the configuration for a conn, that
// Dump is nil and the error is a *QueryError holding sshd's stderr (the first
// such failure); other errors mean the oracle itself failed.
func (o *Oracle) ServerT(root string, conns []Conn) ([]Dump, error) {
	qs := make([]string, len(conns))
	for i, c := range conns {
		qs[i] = c.Spec()
	}
	res, err := o.serverQueries(root, conns, qs)
	if err != nil {
		return nil, err
	}
	return dumps(res, func(i int) string {
		if qs[i] == "" {
			return "sshd -T"
		}
		return "sshd -T -C " + qs[i]
	})
}

// serverQueries runs sshd -T for the queries qs of conns: those without
// groups in one namespace, each with groups in its own, with its account.
func (o *Oracle) serverQueries(root string, conns []Conn, qs []string) ([]result, error) {
	var plain []int
	res := make([]result, len(conns))
	for i, c := range conns {
		if len(c.Groups) == 0 {
			plain = append(plain, i)
			continue
		}
		acct, err := o.accountDir(c)
		if err != nil {
			return nil, err
		}
		r, err := o.runWith(root, "T", o.sshd, acct, qs[i:i+1])
		os.RemoveAll(acct)
		if err != nil {
			return nil, err
		}
		res[i] = r[0]
	}
	pq := make([]string, len(plain))
	for j, i := range plain {
		pq[j] = qs[i]
	}
	r, err := o.run(root, "T", o.sshd, pq)
	if err != nil {
		return nil, err
	}
	for j, i := range plain {
		res[i] = r[j]
	}
	return res, nil
}

// accountDir writes, into a new directory, the binary's /etc/passwd and
// /etc/group with c.User added (when missing) and made a member of
// c.Groups (each added when missing).
func (o *Oracle) accountDir(c Conn) (string, error) {
	read := func(name string) []string {
		b, _ := os.ReadFile(filepath.Join(o.install.Root, "/etc", name))
		return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	}
	passwd, group := read("passwd"), read("group")
	if !slices.ContainsFunc(passwd, func(l string) bool { return strings.HasPrefix(l, c.User+":") }) {
		passwd = append(passwd, c.User+":x:61234:61234::/nonexistent:/usr/sbin/nologin")
	}
	for i, g := range c.Groups {
		j := slices.IndexFunc(group, func(l string) bool { return strings.HasPrefix(l, g+":") })
		if j < 0 {
			group = append(group, fmt.Sprintf("%s:x:%d:%s", g, 61300+i, c.User))
			continue
		}
		if strings.HasSuffix(group[j], ":") {
			group[j] += c.User
		} else {
			group[j] += "," + c.User
		}
	}
	dir, err := os.MkdirTemp(o.keyDir, "account")
	if err != nil {
		return "", err
	}
	for name, lines := range map[string][]string{"passwd": passwd, "group": group} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// ServerCheck runs `sshd -t` (configuration test mode) on the tree. It
// returns nil when sshd accepts the configuration, a *QueryError with sshd's
// message when it does not, and another error when the oracle failed.
func (o *Oracle) ServerCheck(root string) error {
	res, err := o.run(root, "t", o.sshd, []string{""})
	if err != nil {
		return err
	}
	if res[0].status != 0 {
		return &QueryError{Command: "sshd -t", ExitStatus: res[0].status, Stderr: res[0].stderr}
	}
	return nil
}

// ClientG runs `ssh -G host` for each host with ROOT/etc/ssh seen as
// /etc/ssh, and returns one Dump per host in the same order.
//
// No user configuration is read: inside the namespace an empty directory is
// bind-mounted over the invoking user's ~/.ssh, with the home directory taken
// from the password database as ssh does (getpwuid, not $HOME); when there is
// no ~/.ssh it is mounted over the home directory itself. The call fails if
// ~/.ssh/config is still visible afterwards. Errors are as for ServerT.
func (o *Oracle) ClientG(root string, hosts []string) ([]Dump, error) {
	res, err := o.run(root, "G", o.ssh, hosts)
	if err != nil {
		return nil, err
	}
	return dumps(res, func(i int) string { return "ssh -G " + hosts[i] })
}

// IsQueryError reports whether err is (or wraps) a *QueryError, that is,
// whether OpenSSH rejected the configuration rather than the oracle failing.
func IsQueryError(err error) bool {
	var qe *QueryError
	return errors.As(err, &qe)
}
