package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
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

// VerifyOptions are how VerifyDaemon asks.
type VerifyOptions struct {
	// Applied says the plan was applied: its changed keys are asked
	// about too, not only those the files had in sync.
	Applied bool
	// Memo, when not nil, remembers the daemon's answers for the next
	// run, under a key that names everything they depend on (dumpKey).
	Memo *Memo
}

// VerifyDaemon asks the running sshd, in its own view (its binary, its
// arguments, its mount namespace), for the value of desired sshd keys,
// with -C for the connections each Match scope stands for, and marks each
// change ByDaemon or Mismatch (saying why): the keys the files have in
// sync, and, once applied, the changed ones too. With no daemon running,
// sshd keys are marked ByFiles. ssh keys are always ByFiles.
func VerifyDaemon(ctx context.Context, p *Plan, s *SSHD, o VerifyOptions) error {
	var asked []*Change
	var scopes []files.Scope
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Absent || c.Status != InSync && (!o.Applied || c.Status != Changed) {
			continue
		}
		if c.Side == Client || s == nil || s.Listener == nil {
			c.Verified = ByFiles
			continue
		}
		asked = append(asked, c)
		if !slices.Contains(scopes, c.Scope) {
			scopes = append(scopes, c.Scope)
		}
	}
	if len(asked) == 0 {
		return nil
	}
	cat := p.Version.Catalogue(files.Server)
	dumps, err := s.dumps(ctx, cat, scopes, o.Memo)
	if err != nil {
		return fmt.Errorf("asking sshd %d for its configuration: %w", s.Listener.PID, err)
	}
	for _, c := range asked {
		c.verify(dumps[slices.Index(scopes, c.Scope)], s, cat)
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

// probe is one question to the daemon: sshd -T with -C for conn, and,
// for a Match Group scope, conn's user made a member of its groups in the
// view's account files.
type probe struct {
	conn files.Conn
	acct *viewAccount
}

// dumps returns the daemon's values for each scope: what it answered an
// earlier run under the same key (dumpKey), when memo holds that, or else
// its answer now (remembered in memo when its files, read before and
// after asking, did not change meanwhile).
func (s *SSHD) dumps(ctx context.Context, cat *files.Catalogue, scopes []files.Scope, memo *Memo) ([]files.Dump, error) {
	probes := make([]probe, len(scopes))
	for i, sc := range scopes {
		conn, err := cat.ProbeConn(sc)
		if err != nil {
			return nil, err
		}
		probes[i].conn = conn
		if len(conn.Groups) > 0 {
			// sshd looks the user's groups up: in its view, the probe's
			// user is made a member of them.
			probes[i].acct = &viewAccount{User: conn.User, Groups: conn.Groups}
		}
	}
	key := ""
	if memo != nil {
		var err error
		if key, err = s.dumpKey(probes, false); err != nil {
			s.Log.Debug().Err(err).Msg("the daemon's values cannot be remembered")
		}
		if outs, ok := rememberedDumps(memo, key, len(probes)); ok {
			s.Log.Debug().Msg("the daemon's files, binary and host keys are those an earlier run asked it about: its values not asked again")
			return parseDumps(outs), nil
		}
	}
	outs := make([]string, len(probes))
	for i, p := range probes {
		var err error
		if outs[i], err = s.dump(ctx, p); err != nil {
			return nil, err
		}
	}
	if key != "" {
		if again, err := s.dumpKey(probes, true); err != nil || again != key {
			s.Log.Debug().Err(err).Msg("the daemon's files changed while it was asked: its values are not remembered")
		} else if b, err := json.Marshal(outs); err == nil {
			if err := memo.Put(key, string(b)); err != nil {
				s.Log.Debug().Err(err).Msg("the daemon's values are not remembered")
			}
		}
	}
	return parseDumps(outs), nil
}

// rememberedDumps returns the n sshd -T outputs memo holds under key.
func rememberedDumps(memo *Memo, key string, n int) ([]string, bool) {
	v, ok := memo.Get(key)
	if !ok {
		return nil, false
	}
	var outs []string
	if err := json.Unmarshal([]byte(v), &outs); err != nil || len(outs) != n {
		return nil, false
	}
	return outs, true
}

// parseDumps parses each sshd -T output.
func parseDumps(outs []string) []files.Dump {
	dumps := make([]files.Dump, len(outs))
	for i, out := range outs {
		dumps[i] = files.ParseDump(out)
	}
	return dumps
}

// dump runs sshd -T (with -C for a Match scope) in the daemon's view and
// returns its output.
func (s *SSHD) dump(ctx context.Context, p probe) (string, error) {
	args := []string{"-T"}
	if spec := connSpec(p.conn); spec != "" {
		args = append(args, "-C", spec)
	}
	out, err := s.runAs(ctx, nil, p.acct, args...)
	if err != nil && strings.Contains(err.Error(), "'lport' not in connection test specification") {
		// A Match LocalPort block makes sshd -T want the local port.
		conn := p.conn
		conn.LPort = 22
		out, err = s.runAs(ctx, nil, p.acct, "-T", "-C", connSpec(conn))
	}
	return out, err
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
	theirs, err := statInRootOf(s.Listener.PID, f)
	return err == nil && os.SameFile(ours, theirs)
}
