#!/usr/bin/env bash
# Runs every check of the project: the setup scripts in .ci/setup.d (which
# install what the tests need on a fresh Debian 12 machine when run as
# root), gofmt, go vet, golangci-lint and the whole test suite under the
# race detector, including the differential tests against real OpenSSH.
# Extra arguments go to every go test command.
set -euo pipefail
cd "$(dirname "$0")"
. .ci/lib.sh
start=$SECONDS

for s in .ci/setup.d/*.sh; do
	progress "setup: $s"
	bash "$s"
done

progress "gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
progress "go vet"
go vet ./...
progress "golangci-lint"
golangci-lint run ./...
progress "go test -race (every package)"
go test -race -count=1 -timeout 40m -skip '^TestDifferential' "$@" ./...
# The differential tests against real sshd -T / ssh -G, verbose so that the
# log shows how many trees and values they compared.
progress "differential tests against real OpenSSH"
go test -race -count=1 -timeout 40m -v -run '^TestDifferential' "$@" ./pkg/files ./pkg/reconcile | grep --line-buffered -Ev '^=== (RUN|PAUSE|CONT)'
progress "fuzzing (each target for ${FUZZTIME:-20s})"
.ci/fuzz.sh
progress "all checks passed in $((SECONDS - start)) s"
