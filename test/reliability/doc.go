// Package reliability holds the tests of issue 9's reliability promises:
// crashes (SIGKILL and SIGTERM at random points of an apply), a full or
// read-only file system, concurrent runs, an impostor sshd, symlinked
// state/run/backup directories, untrusted desired files and PATH, and
// hostile input. It has no code of its own; see the _test.go files and
// docs/reliability.md.
//
// The tests build the agent once (go build ./cmd/agent) and run it as a
// subprocess against temporary trees, the way cron or systemd run it. They
// need root (mount namespaces, bind and tmpfs mounts, setpriv), util-linux
// and OpenSSH; without them they skip, or fail when CI=true. They never
// touch the machine's /etc/ssh or its sshd: every mount is made inside a
// private mount namespace, and every sshd they start listens on 127.0.0.1
// from its own tree and is stopped by its pid.
//
// SSHCONVERGE_RELIABILITY=long runs the long versions (ten times the crash
// iterations); SSHCONVERGE_CRASH_ITERATIONS=N sets the SIGKILL iterations
// (the SIGTERM and real-sshd loops scale with it); SSHCONVERGE_CRASH_SEED
// replays a crash run; SSHCONVERGE_AGENT=BINARY tests that binary instead
// of building ./cmd/agent.
package reliability
