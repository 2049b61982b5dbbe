#!/usr/bin/env bash
# Installs golangci-lint (the version .golangci.yml is written for) into
# /usr/local/bin when it is missing or another version, building it with
# the machine's Go from the module proxy.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

want=2.15.0
if command -v golangci-lint >/dev/null 2>&1 && golangci-lint --version 2>/dev/null | grep -q "version $want "; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "golangci-lint $want is missing: go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$want" >&2
	exit 1
fi
progress "building golangci-lint $want"
GOBIN=/usr/local/bin go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$want"
