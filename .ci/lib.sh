# Shared helpers for test.sh and .ci/setup.d/*.sh (sourced, not run).

# progress prints a timestamped progress line on stderr.
progress() { printf '==> %s %s\n' "$(date +%T)" "$*" >&2; }

# apt_install installs the named Debian packages (duplicates allowed), as
# root, without letting package scripts start services; with no names it
# does nothing. Elsewhere it fails, saying what to install.
apt_install() {
	[ $# -gt 0 ] || return 0
	local pkgs
	pkgs=$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "missing packages: $pkgs; install them (apt-get install $pkgs) or run as root on Debian" >&2
		return 1
	fi
	progress "installing $pkgs"
	local policy=/usr/sbin/policy-rc.d made_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	if [ -z "${APT_UPDATED:-}" ]; then
		apt-get update -qq
		export APT_UPDATED=1
	fi
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
	[ -z "$made_policy" ] || rm -f "$policy"
}
