#!/usr/bin/env bash
# Installs the Debian packages the tests need, when missing: OpenSSH's
# server and client (the oracle), util-linux (unshare, nsenter), gcc (the
# race detector needs cgo), patch (applies the reports' diffs). Run as root
# on Debian/Ubuntu; elsewhere it says what to install.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/bin/ssh ] || need+=(openssh-client)
[ -x /usr/bin/ssh-keygen ] || need+=(openssh-client)
[ -x /usr/bin/unshare ] || need+=(util-linux)
[ -x /usr/bin/nsenter ] || need+=(util-linux)
[ -x /usr/bin/patch ] || need+=(patch)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
apt_install "${need[@]}"

# sshd -t / -T refuse to run without their privilege-separation directory,
# which only the service's start creates.
if [ "$(id -u)" -eq 0 ]; then
	mkdir -p /run/sshd
fi
