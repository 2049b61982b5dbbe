#!/usr/bin/env bash
# Installs what test/packaging needs, when missing, and builds the Debian 12
# tree its systemd test boots.
#
# Packages: systemd-analyze (systemd; installed as a package only: on a
# machine whose PID 1 is not systemd nothing starts, and apt_install keeps
# package scripts from starting services anyway), systemd-nspawn
# (systemd-container), lintian, man (man-db: systemd-analyze verify opens
# the units' man: pages), file, shellcheck, setpriv (util-linux), mount,
# git, mmdebstrap and zstd. dpkg-deb comes with dpkg, which every Debian has.
#
# The tree: Debian 12 (minbase) with systemd and openssh-server, built by
# mmdebstrap from the Debian mirror this machine's apt uses, kept as
# $SSHCONVERGE_CHROOT_CACHE/systemd-bookworm.tar.zst and unpacked at
# $SSHCONVERGE_SYSTEMD_ROOT (default /var/lib/sshconverge-test/systemd-bookworm).
# An existing tree or tarball is reused; delete them to refresh. Needs root;
# without root this part is skipped (the test then skips, or fails under
# CI=true).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

need=()
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v file >/dev/null 2>&1 || need+=(file)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v mount >/dev/null 2>&1 || need+=(mount)
command -v git >/dev/null 2>&1 || need+=(git)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
apt_install "${need[@]}"

[ "$(id -u)" -eq 0 ] || exit 0

root=${SSHCONVERGE_SYSTEMD_ROOT:-/var/lib/sshconverge-test/systemd-bookworm}
cache=${SSHCONVERGE_CHROOT_CACHE:-/var/cache/sshconverge-test}
tarball=$cache/systemd-bookworm.tar.zst
if [ -x "$root/usr/lib/systemd/systemd" ]; then
	exit 0
fi

# mirror prints the first Debian archive URI of this machine's apt sources
# (not the security archive), or deb.debian.org.
mirror() {
	local uri=
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		uri=$(awk 'tolower($1) == "uris:" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
	fi
	echo "${uri:-http://deb.debian.org/debian}"
}

mkdir -p "$cache" "$(dirname "$root")"
if [ ! -s "$tarball" ]; then
	progress "building a Debian 12 tree with systemd and openssh-server (mmdebstrap)"
	log=$cache/systemd-bookworm.log
	if ! mmdebstrap --mode=root --variant=minbase --include=systemd,systemd-sysv,openssh-server \
		bookworm "$tarball.tmp.tar.zst" "$(mirror)" >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		rm -f "$tarball.tmp.tar.zst"
		exit 1
	fi
	mv "$tarball.tmp.tar.zst" "$tarball"
fi
progress "unpacking $tarball at $root"
rm -rf "$root.tmp"
mkdir -p "$root.tmp"
tar --zstd -xf "$tarball" -C "$root.tmp"
mv "$root.tmp" "$root"
