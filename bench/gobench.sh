#!/usr/bin/env bash
# Runs the Go microbenchmarks: pkg/files (parsing, loading, evaluating for
# sshd and for ssh, and rendering an edited file, on files of 1k, 10k and
# 100k lines; ns/line) and pkg/reconcile (the plan, its diff and the
# apply's own writes on 100 to 100,000 Host blocks and 10 to 5,000
# drop-ins, ns per block or drop-in; 1 to 16 keys into one block; the
# keepalive plan on a Debian host, dpkg's status file included), with
# allocations.
# Extra arguments go to go test, e.g. bench/gobench.sh -count 6 > new.txt,
# then benchstat old.txt new.txt. (bench/run.sh gobench … does the same.)
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./pkg/files -run '^$' -bench 'Parse|Load|Effective|Render' -benchmem "$@"
go test ./pkg/reconcile -run '^$' -bench 'Plan|Diff|Apply' -benchmem "$@"
