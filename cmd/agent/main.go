// Command agent keeps a machine's OpenSSH configuration where its owners
// want it; installed, it is called sshconverge. See README.md for its
// commands; the work is done in Run.
package main

import (
	"context"
	"os"
)

func main() {
	// SIGINT and SIGTERM end the run through its context: the lock is
	// released and nothing is left half-written. They are caught from the
	// first step that needs it (see interrupts).
	ctx, stop := withInterrupts(context.Background())
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
