#!/usr/bin/env bash
# Runs the parsing and evaluation benchmarks (files of 1k, 10k and 100k
# lines) and prints ns/line and allocations. Extra arguments go to go test,
# e.g. bench/run.sh -count 6 > new.txt, then benchstat old.txt new.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./pkg/files -run '^$' -bench 'Parse|Load|Effective' -benchmem "$@"
