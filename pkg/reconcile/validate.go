package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/sshconverge/agent/pkg/files"
)

// hostKeyName is the ephemeral host key's name in the view's scratch
// directory.
const hostKeyName = "sshconverge-ephemeral-host-key"

// Validate runs sshd -t on the configuration with the staged changes, in
// the daemon's own view when one runs, before anything on disk changes.
func (s *SSHD) Validate(ctx context.Context, staged []FileChange) error {
	_, err := s.Run(ctx, staged, "-t")
	return err
}

// Run runs sshd with args (e.g. -t, or -T -C spec) in a view of the
// configuration with staged bound over the files it changes, and returns
// its standard output; an error carries sshd's own message:
//
//   - with a running daemon: in its mount namespace, with its own binary
//     and arguments (in a private copy of it when anything is to be
//     mounted);
//   - on the root "/": in a private mount namespace, with /usr/sbin/sshd
//     (or Binary);
//   - on another root that has its own sshd (a mounted image): chrooted
//     into it, with the root's own binary;
//   - on a bare configuration tree: with the tree's etc/ssh over /etc/ssh
//     and the host's sshd (or Binary).
func (s *SSHD) Run(ctx context.Context, staged []FileChange, args ...string) (string, error) {
	return s.runAs(ctx, staged, nil, args...)
}

// runAs is Run with, when acct is not nil, acct's user made a member of
// acct's groups in the view's account files.
func (s *SSHD) runAs(ctx context.Context, staged []FileChange, acct *viewAccount, args ...string) (string, error) {
	v, err := s.view()
	if err != nil {
		return "", err
	}
	st, err := newStage(s.Root, staged, v.target)
	if err != nil {
		return "", err
	}
	defer st.close()
	v.spec.Binds = append(v.spec.Binds, st.binds...)
	if !v.daemon {
		if err := s.ephemeralHostKey(v); err != nil {
			return "", err
		}
	}
	if err := v.chooseScratch(); err != nil {
		return "", err
	}
	if v.hostKey {
		v.spec.Argv = append(v.spec.Argv, "-h", path.Join(strings.TrimPrefix(v.spec.Scratch, v.spec.Chroot), hostKeyName))
	}
	v.spec.Argv = append(v.spec.Argv, args...)
	v.spec.Account = acct
	out, err := s.runView(ctx, v)
	if dir, ok := missingPrivsep(err); ok && v.spec.PrivsepDir == "" {
		v.spec.PrivsepDir = dir
		if v.spec.Chroot != "" {
			// Its links lead inside the image, not on the host.
			if dir, err = s.Root.Resolve(dir); err != nil {
				return "", fmt.Errorf("sshd's privilege separation directory %s is missing, and the root's path to it: %w", dir, err)
			}
			v.spec.PrivsepDir = s.Root.HostPath(dir)
		}
		out, err = s.runView(ctx, v)
	}
	return out, err
}

// view is one way of running sshd on the configuration.
type view struct {
	spec    viewSpec
	daemon  bool // in the daemon's namespace
	hostKey bool // an ephemeral host key is among Files
	// target maps a configuration path to the path bound over in the
	// view, before any chroot.
	target func(string) (string, error)
	// exists reports whether a path (before any chroot) exists in the
	// view.
	exists func(string) bool
}

// chooseScratch picks the directory the view's tmpfs goes on: one that
// exists in the view, holds no bind target, and (in a chroot) lies inside
// it, since the ephemeral host key is read from there.
func (v *view) chooseScratch() error {
	cands := []string{"/dev/shm", "/run", "/tmp"}
	if v.spec.Chroot != "" {
		cands = []string{filepath.Join(v.spec.Chroot, "tmp"), filepath.Join(v.spec.Chroot, "run")}
	}
next:
	for _, c := range cands {
		if !v.exists(c) {
			continue
		}
		for _, b := range v.spec.Binds {
			for _, p := range []string{b.Target, b.Source} {
				if p != "" && (p == c || strings.HasPrefix(p, c+"/") || strings.HasPrefix(c, p+"/")) {
					continue next // the tmpfs would hide it (a root under /dev/shm)
				}
			}
		}
		v.spec.Scratch = c
		return nil
	}
	return fmt.Errorf("validation: none of %s exists in sshd's view for a scratch file system", strings.Join(cands, ", "))
}

// view chooses how to run sshd.
func (s *SSHD) view() (*view, error) {
	if s.Listener != nil {
		return s.daemonView()
	}
	v := &view{target: func(p string) (string, error) { return p, nil }, exists: pathExists}
	// Binary (--sshd) is a host binary: it names what checks, not what is
	// checked, so on another root it reads the root's files as a bare
	// tree's are read, whether the root has an sshd of its own or not.
	bin := s.Binary
	switch {
	case s.Root.Dir() == "/":
	case bin == "" && s.rootHasFile("/usr/sbin/sshd"):
		v.spec.Chroot, bin = s.Root.Dir(), "/usr/sbin/sshd"
		v.target = s.hostTarget
		v.exists = isRealDir // a link would be followed on the host
	default:
		if err := s.bindTree(v); err != nil {
			return nil, err
		}
	}
	if bin == "" {
		bin = firstExisting("/usr/sbin/sshd", "/sbin/sshd")
	}
	if v.spec.Chroot == "" {
		if err := trustedExecutable(bin); err != nil {
			return nil, err
		}
	}
	v.spec.Argv = append([]string{bin}, s.configArgs(v)...)
	return v, nil
}

// isRealDir reports whether p is a directory and not a link to one.
func isRealDir(p string) bool {
	st, err := os.Lstat(p)
	return err == nil && st.IsDir()
}

// linkOut returns a link under the directory dir, bound over /etc/ssh,
// that leads out of it as the host resolves links there (an absolute
// target elsewhere than /etc/ssh, or a relative one climbing out), with
// its path relative to dir and its target; "" when none does. Of several,
// it returns the first in lexical order. A first audit asks it several
// times of a tree that may hold thousands of drop-ins, so directories are
// read raw (dirEntries): only links and directories get a name, a
// readlink or a walk of their own.
func linkOut(dir string) (link, target string, err error) {
	// walk reads the directory rel, open as fd.
	var walk func(fd int, rel string) error
	walk = func(fd int, rel string) error {
		return linksAndDirs(fd, func(base string, typ fs.FileMode) error {
			name := path.Join(rel, base)
			if typ == fs.ModeSymlink {
				t, err := readlinkAt(fd, base)
				if err != nil {
					return &fs.PathError{Op: "readlink", Path: filepath.Join(dir, name), Err: err}
				}
				if !linkStaysIn(name, t) && (link == "" || name < link) {
					link, target = name, t
				}
				return nil
			}
			sub, err := unix.Openat(fd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return &fs.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
			}
			defer unix.Close(sub)
			return walk(sub, name)
		})
	}
	top, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", "", &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(top)
	if err := walk(top, ""); err != nil {
		return "", "", fmt.Errorf("reading %s: %w", dir, err)
	}
	return link, target, nil
}

// linkStaysIn reports whether the link at rel (a path relative to the
// directory bound over /etc/ssh) with target t leads inside it.
func linkStaysIn(rel, t string) bool {
	if filepath.IsAbs(t) {
		return t == "/etc/ssh" || strings.HasPrefix(t, "/etc/ssh/")
	}
	j := filepath.Join(filepath.Dir(rel), t)
	return j != ".." && !strings.HasPrefix(j, "../")
}

// rootHasFile reports whether the path p inside the root, its symbolic
// links resolved there, is a regular file.
func (s *SSHD) rootHasFile(p string) bool {
	st, err := s.Root.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func pathExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// hostTarget is a configuration path's host path, symbolic links
// resolved inside the root.
func (s *SSHD) hostTarget(p string) (string, error) { return hostTarget(s.Root, p) }

// bindTree binds a bare tree's etc/ssh over /etc/ssh: staged files under
// /etc/ssh then land where sshd reads them; others are bound over their
// host paths.
func (s *SSHD) bindTree(v *view) error {
	// etc/ssh may be a link (NixOS's point into /etc/static): it and the
	// paths under it are resolved inside the root.
	etc, err := s.Root.Resolve("/etc/ssh")
	if err != nil {
		return fmt.Errorf("validation: the root has no sshd of its own, and its etc/ssh: %w", err)
	}
	if st, err := os.Lstat(s.Root.HostPath(etc)); err != nil || !st.IsDir() {
		return fmt.Errorf("validation: the root has no sshd of its own and no etc/ssh directory")
	}
	if link, target, err := linkOut(s.Root.HostPath(etc)); err != nil || link != "" {
		if err == nil {
			err = fmt.Errorf("/etc/ssh/%s is a link to %s, outside etc/ssh: the host's sshd would read the host's file there, not the root's (replace the link with its file, or give the root an sshd of its own)", link, target)
		}
		return fmt.Errorf("validation: the root has no sshd of its own: %w", err)
	}
	v.spec.Binds = append(v.spec.Binds, viewBind{Source: s.Root.HostPath(etc), Target: "/etc/ssh"})
	v.target = func(p string) (string, error) {
		r, err := s.Root.Resolve(p)
		if err != nil {
			return "", err
		}
		if rest, ok := strings.CutPrefix(r, etc); ok && (rest == "" || rest[0] == '/') {
			return "/etc/ssh" + rest, nil
		}
		return s.Root.HostPath(r), nil
	}
	s.Log.Debug().Str("root", s.Root.Dir()).Msg("the root has no sshd of its own: checking with the host's, the root's etc/ssh as /etc/ssh")
	return nil
}

// configArgs names the main file when it is not sshd's default.
func (s *SSHD) configArgs(v *view) []string {
	if s.Config == "" || s.Config == "/etc/ssh/sshd_config" {
		return nil
	}
	p, err := v.target(s.Config)
	if err != nil || (v.spec.Chroot != "" && p != s.Config) {
		p = s.Config // inside the chroot the configuration path is right
	}
	return []string{"-f", p}
}

// daemonView runs sshd in a private copy of the daemon's mount namespace
// with its own binary and arguments.
func (s *SSHD) daemonView() (*view, error) {
	v := &view{daemon: true, target: s.daemonTarget, exists: func(p string) bool {
		_, err := statInRootOf(s.Listener.PID, p)
		return err == nil
	}}
	// The binary the daemon runs, held open: the path it started from may
	// name another file by now, or none.
	v.spec.Argv = append([]string{fdPath(int(s.exe.Fd()))}, daemonArgs(s.Listener.Args)...)
	return v, nil
}

// daemonTarget maps a configuration path to the path the daemon sees
// the same file at: the path itself when the daemon's root is the
// agent's root, or the root's host path when the daemon reads the tree
// from outside it (sshd -f ROOT/etc/ssh/sshd_config).
func (s *SSHD) daemonTarget(p string) (string, error) {
	resolved, err := s.Root.Resolve(p)
	if err != nil {
		return "", err
	}
	probe := resolved
	if _, err := os.Stat(s.Root.HostPath(probe)); err != nil {
		probe = path.Dir(resolved) // a new file: its directory
	}
	ours, err := os.Stat(s.Root.HostPath(probe))
	if err != nil {
		return "", err
	}
	for _, cand := range []string{resolved, s.Root.HostPath(resolved)} {
		c := cand
		if probe != resolved {
			c = path.Dir(cand)
		}
		if st, err := statInRootOf(s.Listener.PID, c); err == nil && os.SameFile(st, ours) {
			return cand, nil
		}
	}
	return "", fmt.Errorf("sshd %d does not see %s where the agent edits it: it runs in another file system (its root or mount namespace differs); point --root at the daemon's root", s.Listener.PID, p)
}

// HasHostKey reports whether one of the host key files the configuration
// names exists (else sshd is checked with an ephemeral key).
func (s *SSHD) HasHostKey() bool {
	for _, k := range s.HostKeys {
		if st, err := s.Root.Stat(k); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// SameCheck reports whether sshd -t on the files as they stand is the same
// command for s as for o: no daemon runs for either, and they share the
// root, the main file, the binary and whether an ephemeral host key stands
// in for missing ones.
func (s *SSHD) SameCheck(o *SSHD) bool {
	return s.Listener == nil && o.Listener == nil && s.Root == o.Root && s.Config == o.Config &&
		s.Binary == o.Binary && s.HasHostKey() == o.HasHostKey()
}

// daemonArgs drops the options that would send sshd's messages away from
// its stderr (-E log file) or keep it in the foreground.
func daemonArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-E" && i+1 < len(args):
			i++
		case strings.HasPrefix(a, "-E"), a == "-D", a == "-d", a == "-e":
		default:
			out = append(out, a)
		}
	}
	return out
}

// ephemeralHostKey gives sshd -t a host key when none of the files the
// configuration names exists (first boot, an image being built): sshd
// refuses to check a configuration without one. The key is made in
// memory and written only in the view's private tmpfs.
func (s *SSHD) ephemeralHostKey(v *view) error {
	if s.HasHostKey() {
		return nil
	}
	key, err := ed25519HostKey("sshconverge-ephemeral")
	if err != nil {
		return fmt.Errorf("making an ephemeral host key: %w", err)
	}
	v.spec.Files = append(v.spec.Files, viewFile{Data: key, Name: hostKeyName})
	v.hostKey = true
	s.Log.Warn().Strs("hostkeys", s.HostKeys).Msg("no host key exists: the configuration is checked with an ephemeral key; sshd cannot start until host keys exist (ssh-keygen -A)")
	return nil
}

// viewCmd returns the command that runs v's argv in the view, and the
// function that starts it there (viewSpec.start).
func (s *SSHD) viewCmd(ctx context.Context, v *view) (cmd *exec.Cmd, start func() error, err error) {
	var ns *os.File
	if v.daemon {
		if s.mntNS == nil {
			// Never the agent's own namespace in its place: the answer
			// would be about other files.
			return nil, nil, errors.New("asking the running sshd: its mount namespace is not held open")
		}
		ns = s.mntNS
	}
	cmd = command(ctx, v.spec.Argv[0], v.spec.Argv[1:]...)
	return cmd, func() error { return v.spec.start(ns, cmd) }, nil
}

// versionRE finds the version ssh -V (or sshd -V) prints.
var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`OpenSSH_(\d+\.\d+(?:p\d+)?)`) })

// Version returns the version of the OpenSSH that reads the configuration,
// as its ssh -V says (e.g. "9.2p1", "10.0p2"), run where sshd runs: in the
// running daemon's mount namespace, chrooted into a root with its own
// OpenSSH, or on the host. Without an ssh there, sshd -V answers (8.4 has
// no -V, but prints the version first in its usage; Debian 12's sshd -V
// drops the portable suffix).
func (s *SSHD) Version(ctx context.Context) (string, error) {
	var out []byte
	for _, bin := range []string{"/usr/bin/ssh", ""} {
		b, err := s.runVersion(ctx, bin)
		if err == nil && versionRE().Match(b) {
			out = b
			break
		}
		out = b
	}
	m := versionRE().FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("neither ssh -V nor sshd -V says a version: %s", strings.TrimSpace(string(out)))
	}
	return string(m[1]), nil
}

// runVersion runs bin -V (sshd's binary when bin is "") where the
// configuration's sshd runs, and returns what it printed.
func (s *SSHD) runVersion(ctx context.Context, bin string) ([]byte, error) {
	v, err := s.view()
	if err != nil {
		return nil, err
	}
	if bin == "" {
		bin = v.spec.Argv[0]
	}
	if !v.daemon && v.spec.Chroot == "" {
		if !isFile(bin) && bin == "/usr/bin/ssh" {
			bin = "/bin/ssh"
		}
		return command(ctx, bin, "-V").CombinedOutput() // it reads no configuration
	}
	v.spec.Argv, v.spec.Binds = []string{bin, "-V"}, nil
	if err := v.chooseScratch(); err != nil {
		return nil, err
	}
	cmd, start, err := s.viewCmd(ctx, v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer // 8.4's sshd exits 1 after its usage
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := start(); err != nil {
		return nil, err
	}
	err = cmd.Wait()
	return out.Bytes(), err
}

// RootSSHD returns the sshd a root has (its own binary, or binary), with
// no running daemon: for asking its version before the configuration is
// read.
func RootSSHD(root *files.Root, binary string) *SSHD {
	return &SSHD{SSHDOptions: SSHDOptions{Root: root, Binary: binary, Tools: DefaultTools()}}
}

// runView executes sshd in the view and returns its standard output.
func (s *SSHD) runView(ctx context.Context, v *view) (string, error) {
	cmd, start, err := s.viewCmd(ctx, v)
	if err != nil {
		return "", err
	}
	out, err := outputFrom(cmd, start)
	switch {
	case err == nil:
		return out, nil
	case cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 255:
		return out, &RejectedError{Msg: err.Error()}
	}
	return out, fmt.Errorf("could not run sshd: %w", err)
}

// RejectedError is sshd refusing a configuration (it exits 255); Msg is
// its own message.
type RejectedError struct{ Msg string }

// Error returns sshd's message.
func (e *RejectedError) Error() string { return e.Msg }

var privsepRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`Missing privilege separation directory: (/\S+)`) })

// missingPrivsep reports whether sshd refused to run for want of its
// privilege separation directory, and which.
func missingPrivsep(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	m := privsepRE().FindStringSubmatch(err.Error())
	if m == nil {
		return "", false
	}
	return m[1], true
}

// trustedExecutable checks that a binary the agent runs as root is owned
// by root and writable by no one else.
func trustedExecutable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("sshd binary: %w", err)
	}
	if err := rootOnly(st); err != nil {
		return fmt.Errorf("sshd binary %s %v; refusing to run it as root", p, err)
	}
	if st.Mode().Perm()&0o111 == 0 {
		return errors.New("sshd binary " + p + " is not executable")
	}
	return nil
}
