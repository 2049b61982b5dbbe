#!/usr/bin/env bash
# Runs the Go microbenchmarks of pkg/files (parsing, loading and evaluating
# files of 1k, 10k and 100k lines) and prints ns/line and allocations.
# Extra arguments go to go test, e.g. bench/gobench.sh -count 6 > new.txt,
# then benchstat old.txt new.txt. (bench/run.sh gobench … does the same.)
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./pkg/files -run '^$' -bench 'Parse|Load|Effective' -benchmem "$@"
