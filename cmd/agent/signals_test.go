package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestInterruptsCaughtWhenNeeded: SIGINT and SIGTERM are caught from the
// first step that needs it: not by an audit of an unchanged host, which
// takes no lock, writes nothing and starts nothing; by an audit that asks
// sshd or writes its metrics, and by an apply. Once caught, SIGTERM
// cancels the run's context instead of killing the process.
func TestInterruptsCaughtWhenNeeded(t *testing.T) {
	needTools(t, "/usr/sbin/sshd", "/usr/bin/ssh-keygen")
	root := t.TempDir()
	must(t, os.CopyFS(root, os.DirFS("../../examples/demo-root")))
	must(t, os.MkdirAll(filepath.Join(root, "var/lib/sshconverge"), 0o700))
	desired := "../../examples/keepalive.yaml"
	settle() // for the first audit's verdict to be remembered

	// run runs the agent with a context of its own and says whether the
	// run caught the signals (the probe consumes the context).
	run := func(wantCode int, args ...string) (caught bool, ctx context.Context) {
		t.Helper()
		ctx, stop := withInterrupts(context.Background())
		t.Cleanup(stop)
		var out, errb bytes.Buffer
		if code := Run(ctx, append(args, "--root", root, desired), &out, &errb); code != wantCode {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, wantCode, out.String(), errb.String())
		}
		i := ctx.Value(interruptsKey{}).(*interrupts)
		caught = true
		i.once.Do(func() { caught = false; close(i.ready) })
		return caught, ctx
	}

	if caught, _ := run(exitDrift, "--check"); !caught {
		t.Error("the first audit asked sshd (sshd -V, sshd -t) without catching SIGTERM")
	}
	if caught, _ := run(exitDrift, "--check"); caught {
		t.Error("an audit of an unchanged host caught the signals: it needs not, and it costs a thread")
	}
	if caught, _ := run(exitDrift, "--check", "--metrics-file", "/var/lib/sshconverge/metrics.prom"); !caught {
		t.Error("an audit that writes its metrics did not catch SIGTERM first")
	}
	caught, ctx := run(exitOK, "--reload", "none")
	if !caught {
		t.Fatal("an apply did not catch SIGTERM before it took the lock")
	}
	// The apply's context is still catching (stop runs at cleanup): a
	// SIGTERM now cancels it.
	must(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not cancel the run's context")
	}
}
