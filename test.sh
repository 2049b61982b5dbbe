#!/usr/bin/env bash
# Runs every check of the project: gofmt, go vet, and the whole test suite
# under the race detector, including the differential tests against real
# OpenSSH. On a fresh Debian/Ubuntu machine, run as root, it first installs
# what the tests need (openssh-server, openssh-client, util-linux, gcc).
set -euo pipefail
cd "$(dirname "$0")"

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev) # the race detector needs cgo
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: installing ${need[*]}" >&2
		# Keep the package scripts from starting a system sshd.
		policy=/usr/sbin/policy-rc.d
		made_policy=
		if [ ! -e "$policy" ]; then
			printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
		fi
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
		[ -z "$made_policy" ] || rm -f "$policy"
	else
		echo "test.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
	fi
fi

# sshd -t / -T refuse to run without their privilege-separation directory,
# which only the service's start creates.
if [ "$(id -u)" -eq 0 ]; then
	mkdir -p /run/sshd
fi

unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go test -race -count=1 -skip '^TestDifferential' "$@" ./...
# The differential tests against real sshd -T / ssh -G, verbose so that the
# log shows how many trees and values they compared.
go test -race -count=1 -v -run '^TestDifferential' "$@" ./pkg/files ./pkg/reconcile | grep -Ev '^=== (RUN|PAUSE|CONT)'
