package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/sshconverge/agent/pkg/files"
)

// Memo is a small record in the state directory that saves a run from
// asking OpenSSH what an earlier run asked already: a value stored under a
// key that names everything the answer depends on (see SSHD.AcceptKey,
// SSHD.VersionKey). Any change to one of those makes another key, and
// OpenSSH is asked again.
type Memo struct {
	fs   *FS
	path string // configuration path of the record
}

// OpenMemo returns the record name kept in the state directory dir.
func OpenMemo(fsys *FS, dir, name string) *Memo {
	return &Memo{fs: fsys, path: path.Join(dir, name)}
}

// Get returns the value stored under key. A record this process's user
// does not own, or that others can write, is not believed.
func (m *Memo) Get(key string) (string, bool) {
	if key == "" || !m.Held() {
		return "", false
	}
	b, err := m.fs.ReadFile(m.path)
	if err != nil {
		return "", false
	}
	k, v, ok := strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n")
	if !ok || k != key || strings.Contains(v, "\n") {
		return "", false
	}
	return v, true
}

// Held reports whether the record may hold a value Get would believe
// under some key: it exists, and this process's user alone can write it.
func (m *Memo) Held() bool {
	if m == nil {
		return false
	}
	st, err := m.fs.Lstat(m.path)
	return err == nil && ownedBySelf(st)
}

// Put stores value (one line) under key, when the state directory exists
// (an audit creates no directory). A nil Memo stores nothing.
func (m *Memo) Put(key, value string) error {
	if m == nil || key == "" || strings.Contains(value, "\n") {
		return nil
	}
	st, err := m.fs.Lstat(path.Dir(m.path))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", m.path, err)
	case !st.IsDir() || !ownedBySelf(st):
		return fmt.Errorf("%s: the state directory is not this user's alone", m.path)
	}
	if err := m.fs.WriteAtomic(m.path, []byte(key+"\n"+value+"\n"), fileMeta{mode: 0o600, uid: -1, gid: -1}); err != nil {
		return fmt.Errorf("%s: %w", m.path, err)
	}
	return nil
}

// ownedBySelf reports whether st is owned by this process's user and
// writable by no one else.
func ownedBySelf(st fs.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Geteuid() && st.Mode().Perm()&0o022 == 0 && st.Mode()&fs.ModeSymlink == 0
}

// VersionKey returns the key under which the OpenSSH release Version
// finds is remembered: the identities of the ssh and sshd binaries it
// would ask (an upgrade replaces them). It is "" when none may be
// remembered (a running daemon's binaries are asked in its own view).
func (s *SSHD) VersionKey() (string, error) {
	return s.viewKey(func(h io.Writer, v *view) {
		fmt.Fprintf(h, "sshconverge openssh 1\nchroot %q\n", v.spec.Chroot)
		for _, bin := range []string{"/usr/bin/ssh", "/bin/ssh", v.spec.Argv[0]} {
			fmt.Fprintf(h, "%q %s\n", bin, s.viewIdentity(v, bin))
		}
	})
}

// viewKey hashes what describe writes about the view sshd would run in;
// "" with a running daemon, whose view the agent does not read.
func (s *SSHD) viewKey(describe func(io.Writer, *view)) (string, error) {
	if s.Listener != nil {
		return "", nil
	}
	v, err := s.view()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	describe(h, v)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// AcceptKey returns the key under which sshd's verdict on the
// configuration whose files have digest (Plan.ServerDigest) is
// remembered: the digest, how sshd is run (its arguments, chroot and
// binds), the identity (device, inode, size, modification and change
// times: an upgrade changes it) of its binary and of the password file it
// looks its privilege separation user up in, and the content of every host
// key file. With a running daemon it is daemonAcceptKey's. It is "" when
// no verdict may be remembered.
func (s *SSHD) AcceptKey(digest string) (string, error) {
	if s.Listener != nil {
		return s.daemonAcceptKey()
	}
	if digest == "" {
		return "", nil
	}
	return s.viewKey(func(h io.Writer, v *view) {
		fmt.Fprintf(h, "sshconverge accepted 1\nfiles %s\nargv %q\nchroot %q\n", digest, v.spec.Argv, v.spec.Chroot)
		for _, b := range v.spec.Binds {
			fmt.Fprintf(h, "bind %q %q\n", b.Source, b.Target)
		}
		fmt.Fprintf(h, "binary %s\npasswd %s\n", s.viewIdentity(v, v.spec.Argv[0]), s.viewIdentity(v, "/etc/passwd"))
		hashHostKeys(h, s.Root, s.HostKeys)
	})
}

// daemonAcceptKey is AcceptKey with a running daemon, which is asked in
// its own view: daemonKey's facts.
func (s *SSHD) daemonAcceptKey() (string, error) {
	return s.daemonKey(daemonAcceptHeader, false, nil)
}

const daemonAcceptHeader = "sshconverge accepted by a daemon 1"

// AcceptKeyStands reports whether key, made by AcceptKey before sshd was
// asked, still names the files sshd checked, so that its verdict may be
// remembered under it. A running daemon's files are read again: its key
// may be made from the agent's read, before sshd read them. Without a
// daemon the key names the digest the caller read.
func (s *SSHD) AcceptKeyStands(key string) bool {
	if s.Listener == nil {
		return true
	}
	again, err := s.daemonKey(daemonAcceptHeader, true, nil)
	return err == nil && again == key
}

// daemonKey hashes header, the facts a running daemon's answers depend
// on, and what more writes (when not nil). Its files are read as the model
// reads them, inside its root (/proc/PID/root, where sshd run in its mount
// namespace finds them), and hashed with its arguments, its binary's
// identity (the file it runs, held open), its password file's and its
// host keys' content. Unless fresh, the files are not read again when
// they are known (daemonFiles): a converged host's audit reads its 5,000
// drop-ins once, or twice from another mount namespace, not three times.
// The key is "" when that would not name everything its
// answers depend on: the daemon is chrooted inside its namespace (sshd
// would read the namespace's root instead), it was started with options
// other than -f (an -o or -h names what its files do not), or the model
// cannot read its files (sshd is then asked).
func (s *SSHD) daemonKey(header string, fresh bool, more func(h io.Writer, root *files.Root)) (string, error) {
	args := daemonArgs(s.Listener.Args)
	if !onlyConfigFile(args) {
		return "", nil
	}
	if in, err := chrooted(s.Listener.PID); in || err != nil {
		return "", err
	}
	root, err := rootOf(s.Listener.PID)
	if err != nil {
		return "", err
	}
	r, err := s.daemonFiles(root, fresh)
	if err != nil {
		return "", err
	}
	bin, err := s.exe.Stat()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\nfiles %s\nargv %q\n", header, r.digest, args)
	fmt.Fprintf(h, "binary %s\npasswd %s\n", identityOf(bin), rootIdentity(root, "/etc/passwd"))
	hashHostKeys(h, root, r.hostKeys)
	if more != nil {
		more(h, root)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// daemonRead is what a read of a daemon's files gives its keys.
type daemonRead struct {
	pid      int // the daemon's
	digest   string
	hostKeys []string
}

// daemonFiles returns the digest of the daemon's files and the host keys
// they name. Unless fresh, they are the agent's own read (readsAgentFiles)
// or this run's last read of them for the same daemon (an audit's
// verdict and values keys share it); otherwise the files are read in
// root, the daemon's.
func (s *SSHD) daemonFiles(root *files.Root, fresh bool) (daemonRead, error) {
	pid := s.Listener.PID
	switch {
	case fresh:
	case s.readsAgentFiles():
		s.Log.Debug().Msg(DaemonFilesNotReread)
		return daemonRead{pid: pid, digest: s.FilesDigest, hostKeys: s.HostKeys}, nil
	case s.read != nil && s.read.pid == pid:
		s.Log.Debug().Msg(DaemonFilesReadOnce)
		return *s.read, nil
	}
	cfg, err := files.LoadWith(root, s.Listener.ConfigFile(), files.Server, files.LoadOptions{Version: s.Release})
	if err != nil {
		return daemonRead{}, fmt.Errorf("reading sshd %d's files: %w", pid, err)
	}
	r := daemonRead{pid: pid, digest: cfg.DiskDigest()}
	_, r.hostKeys = DaemonFiles(cfg)
	s.read = &r
	return r, nil
}

// FilesChanged tells s that the agent wrote the configuration's files:
// neither the agent's read of them (FilesDigest) nor the daemon's names
// them any longer.
func (s *SSHD) FilesChanged() { s.FilesDigest, s.read = "", nil }

// DaemonFilesNotReread is the debug event of a daemon keyed with the
// agent's own read of its files (readsAgentFiles).
const DaemonFilesNotReread = "the daemon reads the files this run read: they are not read again for it"

// DaemonFilesReadOnce is the debug event of a daemon keyed with this
// run's earlier read of its files.
const DaemonFilesReadOnce = "the daemon's files as this run read them in its root: not read again"

// readsAgentFiles reports whether the daemon reads the very files the
// agent read, so that FilesDigest is its files' digest: it runs in the
// agent's mount namespace, unchrooted (daemonKey asks first), the agent's
// root is "/", and its configuration file is Config.
func (s *SSHD) readsAgentFiles() bool {
	if s.FilesDigest == "" || s.mntNS == nil || s.Root.Dir() != "/" || path.Clean(s.Listener.ConfigFile()) != s.Config {
		return false
	}
	ours, err := os.Stat("/proc/self/ns/mnt")
	if err != nil {
		return false
	}
	theirs, err := s.mntNS.Stat()
	return err == nil && os.SameFile(ours, theirs)
}

// dumpKey returns the key under which a running daemon's answers to
// probes are remembered: daemonKey's facts, each probe, the identities of
// its group file and name service configuration (a Match Group probe's
// account is made from its account files), and the machine's boot (what
// the kernel tells sshd, such as FIPS mode, changes only with a boot). It
// is "" when they may not be remembered. Fresh reads the daemon's files
// whatever the agent read (daemonKey).
func (s *SSHD) dumpKey(probes []probe, fresh bool) (string, error) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", err
	}
	return s.daemonKey("sshconverge daemon values 1", fresh, func(h io.Writer, root *files.Root) {
		fmt.Fprintf(h, "group %s\nnsswitch %s\nboot %s\n", rootIdentity(root, "/etc/group"), rootIdentity(root, "/etc/nsswitch.conf"), strings.TrimSpace(string(boot)))
		for _, p := range probes {
			var groups []string
			if p.acct != nil {
				groups = p.acct.Groups
			}
			fmt.Fprintf(h, "probe %q %q\n", connSpec(p.conn), groups)
		}
	})
}

// chrooted reports whether the process pid runs chrooted inside its mount
// namespace: its root directory has a parent (seen from outside, a
// namespace's root is its own parent).
func chrooted(pid int) (bool, error) {
	theirs := fmt.Sprintf("/proc/%d/root", pid)
	top, err := os.Stat(theirs)
	if err != nil {
		return false, err
	}
	up, err := os.Stat(theirs + "/..")
	if err != nil {
		return false, err
	}
	return !os.SameFile(top, up), nil
}

// onlyConfigFile reports whether a daemon's arguments (daemonArgs) name
// nothing but its configuration file.
func onlyConfigFile(args []string) bool {
	switch {
	case len(args) == 0:
		return true
	case len(args) == 1:
		return strings.HasPrefix(args[0], "-f") && len(args[0]) > 2
	}
	return len(args) == 2 && args[0] == "-f"
}

// hashHostKeys writes each host key file's path, owner and mode, and the
// SHA-256 of its content (as read inside root) to h: sshd ignores a
// private key others can read.
func hashHostKeys(h io.Writer, root *files.Root, keys []string) {
	for _, k := range keys {
		id := "unreadable"
		if b, err := root.ReadFile(k); err == nil {
			sum := sha256.Sum256(b)
			id = hex.EncodeToString(sum[:])
		}
		fmt.Fprintf(h, "hostkey %q %s %s\n", k, id, rootOwnerMode(root, k))
	}
}

// rootOwnerMode is the owner and mode of the path p inside root.
func rootOwnerMode(root *files.Root, p string) string {
	st, err := root.Stat(p)
	if err != nil {
		return "missing"
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "unknown"
	}
	return fmt.Sprintf("%d:%d:%o", sys.Uid, sys.Gid, st.Mode())
}

// identity names the file at the host path p as it is now: a file
// replaced or changed in place gets another name.
func identity(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return "missing"
	}
	return identityOf(st)
}

// rootIdentity is identity of the path p inside root, its symbolic links
// resolved there: an absolute link in an image or a daemon's root names a
// file of that root, not the host's.
func rootIdentity(root *files.Root, p string) string {
	st, err := root.Stat(p)
	if err != nil {
		return "missing"
	}
	return identityOf(st)
}

// viewIdentity is identity of the path p as sshd sees it in view v: inside
// the root it is chrooted into, or else on the host.
func (s *SSHD) viewIdentity(v *view, p string) string {
	if v.spec.Chroot == "" {
		return identity(p)
	}
	return rootIdentity(s.Root, p)
}

// identityOf is identity of a file's status.
func identityOf(st fs.FileInfo) string {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "unknown"
	}
	return fmt.Sprintf("%d:%d:%d:%d.%d:%d.%d:%o", sys.Dev, sys.Ino, sys.Size, sys.Mtim.Sec, sys.Mtim.Nsec, sys.Ctim.Sec, sys.Ctim.Nsec, sys.Mode)
}
