package main

import (
	"bytes"
	"context"
	"io"
	"time"

	"github.com/sshconverge/agent/pkg/desired"
	"github.com/sshconverge/agent/pkg/reconcile"
)

// earlyCheck is sshd -t on the files as they stand, started before the
// agent reads them, for an audit that will ask it whatever they hold: no
// verdict of sshd is remembered (no state directory, or no record in it)
// and no daemon runs. sshd then reads the files while the agent plans, on
// another core. Its verdict is taken only when the audit, once planned,
// would run the very same command (SSHD.SameCheck); otherwise sshd is
// stopped and asked again as usual.
type earlyCheck struct {
	sshd    *reconcile.SSHD
	started time.Time    // before sshd started reading
	hostKey bool         // a host key of the files' own existed when it started
	log     bytes.Buffer // what the check logged, written out if it is used
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
}

// startEarlyCheck starts the early check of an audit when it applies,
// before the OpenSSH release is known: src, the desired state, is read
// for the release the model assumes only to learn whether it has an sshd
// side, and where that side's main file is.
func (c *converge) startEarlyCheck(ctx context.Context, src []byte) {
	if !c.args.check || reconcile.OpenMemo(c.fs, c.args.stateDir, "accepted").Held() {
		return
	}
	st, err := desired.Parse(c.args.desired, src)
	if err != nil || st.Server == nil {
		return // read for the host's release, it may differ
	}
	pidFile, hostKeys := reconcile.DaemonDefaults()
	if c.args.pidFile != "" {
		pidFile = c.args.pidFile
	}
	e := &earlyCheck{done: make(chan struct{})}
	s, err := reconcile.FindSSHD(reconcile.SSHDOptions{Root: c.root, Config: reconcile.MainFile(c.root, st.Server), PidFile: pidFile,
		Mode: reconcile.ReloadNone, Binary: c.args.sshd, HostKeys: hostKeys, Log: c.log.Output(&e.log)})
	if err != nil {
		return // the audit finds out, and says, once it has read the files
	}
	if s.Listener != nil {
		s.Close() // a daemon is asked in its own view
		return
	}
	catchInterrupts(ctx)
	c.log.Debug().Msg("no verdict of sshd is remembered: sshd -t started on the files as they stand while they are read")
	ctx, e.cancel = context.WithCancel(ctx)
	e.sshd, e.hostKey, e.started = s, s.HasHostKey(), time.Now()
	go func() {
		defer close(e.done)
		e.err = s.Validate(ctx, nil)
	}()
	c.early = e
}

// verdict returns the early check's verdict when s would run the same
// command (used), after writing what it logged to logw; used is false
// when sshd must be asked again. A host key that appeared since the check
// started (ssh-keygen -A on first boot) makes it another command.
func (e *earlyCheck) verdict(s *reconcile.SSHD, logw io.Writer) (used bool, err error) {
	if e == nil || !e.sshd.SameCheck(s) || e.sshd.HasHostKey() != e.hostKey {
		return false, nil
	}
	<-e.done
	for line := range bytes.Lines(e.log.Bytes()) {
		_, _ = logw.Write(line) // one event a write, as a console writer wants; a lost line is no error
	}
	return true, e.err
}

// clockTick bounds how far a file's change time, which the kernel takes
// from a clock updated once a tick, may lag the change itself.
const clockTick = 20 * time.Millisecond

// readBefore reports whether files whose newest change time is changed
// (Plan.ServerFilesChanged) stood as they are since before the early check
// started: only then did sshd read what the agent read, and may its
// verdict be remembered under their digest. A file changed meanwhile may
// have been read before the change by sshd and after it by the agent, and
// then stand, rejected but remembered as accepted.
func (e *earlyCheck) readBefore(changed time.Time) bool {
	return changed.Before(e.started.Add(-clockTick))
}

// stop stops the early check, if it still runs, and waits for it.
func (e *earlyCheck) stop() {
	if e == nil {
		return
	}
	e.cancel()
	<-e.done
	e.sshd.Close()
}
