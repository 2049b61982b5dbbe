#!/usr/bin/env bash
# Installs what the fleet tests (test/fleet) need, when missing: iproute2
# (ip netns, veth, bridge) for the namespace hosts, shellcheck for
# examples/fleet/bootstrap.sh, ansible-core (bookworm's 2.14) for the role in
# examples/ansible, and the coreutils/findutils/openssh pieces that
# bootstrap.sh runs. Run as root on Debian/Ubuntu; elsewhere it says what to
# install.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v ansible-playbook >/dev/null 2>&1 || need+=(ansible-core)
command -v timeout >/dev/null 2>&1 || need+=(coreutils)
command -v xargs >/dev/null 2>&1 || need+=(findutils)
command -v scp >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/lib/openssh/sftp-server ] || need+=(openssh-sftp-server)
apt_install "${need[@]}"
