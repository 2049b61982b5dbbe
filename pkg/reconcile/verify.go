package reconcile

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sshconverge/agent/pkg/files"
)

// Verified says how a change's value was confirmed.
type Verified uint8

// The confirmations.
const (
	// Unverified: not checked (a conflict, an absent key, a value sshd
	// does not print).
	Unverified Verified = iota // unverified
	// ByFiles: the configuration files say so; no daemon runs to ask.
	ByFiles // files
	// ByDaemon: the running sshd, asked in its own view, agrees.
	ByDaemon // daemon
	// Mismatch: the running sshd uses another value; see Change.Daemon.
	Mismatch // mismatch
)

// MarshalText returns unverified, files, daemon or mismatch.
func (v Verified) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// VerifyDaemon asks the running sshd, in its own view (its binary, its
// arguments, its mount namespace), for the value of desired sshd keys,
// with -C for the connections each Match scope stands for, and marks each
// change ByDaemon or Mismatch (saying why): the keys the files have in
// sync, and, once applied, the changed ones too. With no daemon running,
// sshd keys are marked ByFiles. ssh keys are always ByFiles.
func VerifyDaemon(ctx context.Context, p *Plan, s *SSHD, applied bool) error {
	dumps := map[files.Scope]files.Dump{}
	cat := p.Version.Catalogue(files.Server)
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Absent || c.Status != InSync && (!applied || c.Status != Changed) {
			continue
		}
		if c.Side == Client || s == nil || s.Listener == nil {
			c.Verified = ByFiles
			continue
		}
		dump, ok := dumps[c.Scope]
		if !ok {
			var err error
			if dump, err = s.dump(ctx, cat, c.Scope); err != nil {
				return fmt.Errorf("asking sshd %d for its configuration: %w", s.Listener.PID, err)
			}
			dumps[c.Scope] = dump
		}
		c.verify(dump, s, cat)
	}
	return nil
}

// verify compares the change's desired value with the daemon's.
func (c *Change) verify(dump files.Dump, s *SSHD, cat *files.Catalogue) {
	k, err := cat.Find(c.Keyword)
	if err != nil {
		return
	}
	ok, comparable := dump.Has(files.Server, k, c.Desired)
	switch {
	case !comparable:
		c.Verified = Unverified
	case ok:
		c.Verified = ByDaemon
	default:
		c.Verified, c.Daemon = Mismatch, dump[strings.ToLower(k.Name)]
		c.Status = Mismatched
		c.Reason = fmt.Sprintf("the running sshd (pid %d) uses %s: %s", s.Listener.PID, strings.Join(c.Daemon, ", "), s.explain(k, cat))
	}
}

// dump runs sshd -T (with -C for a Match scope) in the daemon's view.
func (s *SSHD) dump(ctx context.Context, cat *files.Catalogue, scope files.Scope) (files.Dump, error) {
	conn, err := cat.ProbeConn(scope)
	if err != nil {
		return nil, err
	}
	args := []string{"-T"}
	if spec := connSpec(conn); spec != "" {
		args = append(args, "-C", spec)
	}
	var acct *viewAccount
	if len(conn.Groups) > 0 {
		// sshd looks the user's groups up: in its view, the probe's user
		// is made a member of them.
		acct = &viewAccount{User: conn.User, Groups: conn.Groups}
	}
	out, err := s.runAs(ctx, nil, acct, args...)
	if err != nil && strings.Contains(err.Error(), "'lport' not in connection test specification") {
		// A Match LocalPort block makes sshd -T want the local port.
		conn.LPort = 22
		out, err = s.runAs(ctx, nil, acct, "-T", "-C", connSpec(conn))
	}
	return files.ParseDump(out), err
}

// connSpec is sshd -C's argument for conn ("" for the zero Conn).
func connSpec(c files.Conn) string {
	var parts []string
	for _, kv := range [][2]string{{"user", c.User}, {"host", c.Host}, {"addr", c.Addr}, {"laddr", c.LAddr}, {"rdomain", c.RDomain}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if c.LPort != 0 {
		parts = append(parts, "lport="+strconv.Itoa(c.LPort))
	}
	return strings.Join(parts, ",")
}

// explain says why the daemon's value of k is not the files' value: an
// -o option on its command line, or another configuration file.
func (s *SSHD) explain(k *files.Keyword, cat *files.Catalogue) string {
	if opt, ok := s.commandLineOption(k, cat); ok {
		return fmt.Sprintf("its command line overrides the files with %s (change how sshd is started)", opt)
	}
	if f := s.Listener.ConfigFile(); !s.readsOurs(f) {
		return fmt.Sprintf("it reads %s, not the configuration under --root %s", f, s.Root.Dir())
	}
	return fmt.Sprintf("it reads other files than the agent edited: an Include in its configuration names files it sees elsewhere than under --root %s", s.Root.Dir())
}

// commandLineOption finds an -o option setting k among the daemon's
// arguments.
func (s *SSHD) commandLineOption(k *files.Keyword, cat *files.Catalogue) (string, bool) {
	args := s.Listener.Args
	for i := 0; i < len(args); i++ {
		opt, ok := strings.CutPrefix(args[i], "-o")
		if !ok {
			continue
		}
		if opt == "" && i+1 < len(args) {
			i++
			opt = args[i]
		}
		name, _, _ := strings.Cut(strings.TrimSpace(opt), "=")
		name, _, _ = strings.Cut(name, " ")
		if kk, ok := cat.Lookup(name); ok && kk == k {
			return "-o " + opt, true
		}
	}
	return "", false
}

// readsOurs reports whether f, the daemon's configuration file in its
// own view, is the configuration file under the root.
func (s *SSHD) readsOurs(f string) bool {
	ours, err := s.Root.Stat(s.Config)
	if err != nil {
		return false
	}
	theirs, err := os.Stat(fmt.Sprintf("/proc/%d/root%s", s.Listener.PID, f))
	return err == nil && os.SameFile(ours, theirs)
}
