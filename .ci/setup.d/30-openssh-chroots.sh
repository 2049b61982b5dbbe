#!/usr/bin/env bash
# Builds minimal Debian chroots holding the OpenSSH versions the fleet runs,
# for the tests that ask real sshd -T / ssh -G of every version
# (pkg/files/opensshtest: Installs, NewFor). The host's own OpenSSH (9.2p1 on
# Debian 12) is the fifth version; on another host a bookworm chroot is
# added.
#
#   suite             OpenSSH
#   bullseye          8.4p1
#   trixie            10.0p1 (ssh -V may say 10.0p2)
#   trixie-backports  10.3p1 (openssh-* pinned to the backports)
#   sid               10.6p1
#
# Each chroot is built by mmdebstrap (variant essential plus openssh-server
# and openssh-client) from the Debian mirror this machine uses, packed as a
# tar --zstd under $SSHCONVERGE_CHROOT_CACHE/chroots/ keyed by the suite and
# the openssh-server package version, and unpacked under
# $SSHCONVERGE_CHROOTS/<suite>/ with its versions in <suite>/sshconverge-openssh.
# $SSHCONVERGE_CHROOTS/index lists "suite version path" lines (version as
# `ssh -V` prints it, without "OpenSSH_").
#
# A run asks the archive for the current package version of each suite (apt
# lists kept under the cache; at most once a day, or every
# $SSHCONVERGE_CHROOTS_RECHECK_MINUTES), then reuses the unpacked chroot or the
# tarball of that version, and builds the missing ones in parallel. It fails (non-zero) when any chroot cannot be
# built. Needs root on Debian; installs mmdebstrap and zstd when missing.
#
# Environment: SSHCONVERGE_CHROOTS (default /var/lib/sshconverge-test/chroots),
# SSHCONVERGE_CHROOT_CACHE (default /var/cache/sshconverge-test),
# SSHCONVERGE_SUITES (default "bullseye trixie trixie-backports sid"),
# SSHCONVERGE_MIRROR (default: the first Debian URI in the apt sources),
# SSHCONVERGE_CHROOTS_RECHECK_MINUTES (default 1440; 0 asks the archive always).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh disable=SC1091
. "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "$0: needs root (chroots are built with mmdebstrap --mode=root)" >&2
	exit 1
fi

state=${SSHCONVERGE_CHROOTS:-/var/lib/sshconverge-test/chroots}
cache=${SSHCONVERGE_CHROOT_CACHE:-/var/cache/sshconverge-test}
default_suites="bullseye trixie trixie-backports sid"
if ! grep -qs '^VERSION_CODENAME=bookworm$' /etc/os-release; then
	default_suites="bullseye bookworm trixie trixie-backports sid"
fi
read -r -a suites <<<"${SSHCONVERGE_SUITES:-$default_suites}"
recheck=${SSHCONVERGE_CHROOTS_RECHECK_MINUTES:-1440}

need=()
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v flock >/dev/null 2>&1 || need+=(util-linux)
command -v chroot >/dev/null 2>&1 || need+=(coreutils)
apt_install "${need[@]}"

# mirror prints the Debian archive URI this machine's apt uses.
mirror() {
	if [ -n "${SSHCONVERGE_MIRROR:-}" ]; then
		echo "$SSHCONVERGE_MIRROR"
		return
	fi
	local uri=
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		# The first stanza whose URIs is not the security archive.
		uri=$(awk 'tolower($1) == "uris:" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
	fi
	echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=$(mirror)

mkdir -p "$state" "$cache/chroots" "$cache/apt" "$cache/logs"
exec 9>"$state/.lock"
if ! flock -n 9; then
	progress "openssh chroots: waiting for another run to finish"
	flock 9
fi

# sources prints the sources.list lines of a suite (a backports suite also
# needs its base suite).
sources() {
	local suite=$1 base=${1%-backports}
	echo "deb $MIRROR $base main"
	if [ "$base" != "$suite" ]; then
		echo "deb $MIRROR $suite main"
	fi
}

# preferences prints the apt pin that takes OpenSSH from a backports suite
# (backports are NotAutomatic: priority 100 otherwise); nothing otherwise.
preferences() {
	local suite=$1
	case $suite in
	*-backports) printf 'Package: openssh-*\nPin: release n=%s\nPin-Priority: 990\n' "$suite" ;;
	esac
}

# candidate prints the openssh-server version the archive offers for a suite,
# with apt state of its own under $cache/apt/<suite> (the host's apt
# configuration, lists and preferences are not used).
candidate() {
	local suite=$1 dir=$cache/apt/$1
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/empty"
	[ -e "$dir/status" ] || : >"$dir/status"
	sources "$suite" >"$dir/sources.list"
	preferences "$suite" >"$dir/preferences"
	cat >"$dir/apt.conf" <<EOF
Dir::Etc::Parts "$dir/empty";
Dir::Etc::Main "$dir/empty/none";
Dir::Etc::SourceList "$dir/sources.list";
Dir::Etc::SourceParts "$dir/empty";
Dir::Etc::Preferences "$dir/preferences";
Dir::Etc::PreferencesParts "$dir/empty";
Dir::State "$dir";
Dir::State::Lists "$dir/lists";
Dir::State::Status "$dir/status";
Dir::Cache "$dir/cache";
Acquire::Check-Valid-Until "false";
Acquire::Languages "none";
EOF
	APT_CONFIG=$dir/apt.conf apt-get -qq update >&2
	APT_CONFIG=$dir/apt.conf apt-cache policy openssh-server | awk '$1 == "Candidate:" { print $2 }'
	# apt's binary caches (100 MB a suite) are not worth keeping for a
	# question asked once a day.
	rm -f "$dir"/cache/*.bin
}

# ssh_version prints the OpenSSH version of the chroot at $1 as ssh -V says it
# ("OpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL ..." -> "8.4p1").
ssh_version() {
	chroot "$1" ssh -V 2>&1 | sed -n 's/^OpenSSH_\([^ ,]*\).*/\1/p'
}

# build makes the chroot of a suite at $2 (which must not exist) and checks
# that it holds openssh-server version $3.
build() {
	local suite=$1 root=$2 want=$3 base=${1%-backports} log=$cache/logs/$1.log
	local hook=()
	if [ -s "$cache/apt/$suite/preferences" ]; then
		# shellcheck disable=SC2016 # $1 is the hook's argument, the chroot
		hook+=(--setup-hook="$(printf 'mkdir -p "$1/etc/apt/preferences.d" && cp %q "$1/etc/apt/preferences.d/sshconverge-openssh"' "$cache/apt/$suite/preferences")")
	fi
	local mirrors=()
	mapfile -t mirrors < <(sources "$suite")
	if ! mmdebstrap --mode=root --variant=essential \
		--include=openssh-server,openssh-client \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--aptopt='Acquire::Languages "none"' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		"${hook[@]}" \
		"$base" "$root" "${mirrors[@]}" >"$log" 2>&1; then
		echo "$suite: mmdebstrap failed; the end of $log:" >&2
		tail -n 30 "$log" >&2
		return 1
	fi
	local got client
	# shellcheck disable=SC2016 # ${Version} is dpkg-query's
	got=$(chroot "$root" dpkg-query -W -f='${Version}' openssh-server)
	if [ "$got" != "$want" ]; then
		echo "$suite: installed openssh-server $got, want $want (see $log)" >&2
		return 1
	fi
	# shellcheck disable=SC2016
	client=$(chroot "$root" dpkg-query -W -f='${Version}' openssh-client)
	if [ "$client" != "$want" ]; then
		echo "$suite: installed openssh-client $client, want $want (see $log)" >&2
		return 1
	fi
	if ! ls "$root"/etc/ssh/ssh_host_*_key >/dev/null 2>&1; then
		echo "$suite: no host keys in $root/etc/ssh after the install" >&2
		return 1
	fi
}

# one_suite brings the chroot of one suite up to date. It prints a progress
# line saying what it did.
one_suite() {
	local suite=$1 start=$SECONDS
	local root=$state/$suite verfile=$state/$suite/sshconverge-openssh
	local have=
	if [ -r "$verfile" ]; then
		have=$(awk '$1 == "openssh-server" { print $2 }' "$verfile")
	fi
	# The archive is asked at most once a day: it is a frozen snapshot, and
	# asking takes seconds (the whole InRelease and apt's cache rebuild).
	local checked=$cache/apt/$suite/candidate want='' asked=''
	if [ -n "$have" ] && [ "$recheck" -gt 0 ] && [ -s "$checked" ] &&
		[ -z "$(find "$checked" -mmin "+$recheck" 2>/dev/null)" ]; then
		want=$(cat "$checked")
	elif want=$(candidate "$suite") && [ -n "$want" ]; then
		echo "$want" >"$checked"
		asked=", archive asked"
	elif [ -n "$have" ]; then
		progress "$suite: WARNING: cannot ask the archive for openssh-server; keeping $have"
		want=$have
	else
		echo "$suite: the archive at $MIRROR has no openssh-server for $suite" >&2
		return 1
	fi
	local tarball=$cache/chroots/${suite}_${want//:/%3a}.tar.zst how
	if [ "$have" = "$want" ] && [ -x "$root/usr/sbin/sshd" ]; then
		how=cached
	else
		local tmp
		tmp=$(mktemp -d "$state/.new-$suite.XXXXXX")
		chmod 0755 "$tmp" # apt downloads as _apt
		if [ -s "$tarball" ]; then
			how="unpacked from $tarball"
			mkdir "$tmp/root"
			tar --zstd --numeric-owner -xpf "$tarball" -C "$tmp/root"
		else
			how=built
			if ! build "$suite" "$tmp/root" "$want"; then
				rm -rf --one-file-system "$tmp"
				return 1
			fi
			# sshd -t / -T refuse to run without the privilege separation
			# directory, which only the service's start creates.
			mkdir -p "$tmp/root/run/sshd"
			{
				echo "suite $suite"
				echo "openssh-server $want"
				echo "ssh-V $(chroot "$tmp/root" ssh -V 2>&1)"
			} >"$tmp/root/sshconverge-openssh"
			tar --zstd --numeric-owner -cf "$tarball.tmp" -C "$tmp/root" .
			mv "$tarball.tmp" "$tarball"
			# Older versions of this suite are of no use any more.
			find "$cache/chroots" -maxdepth 1 -name "${suite}_*.tar.zst" ! -path "$tarball" -delete
		fi
		mkdir -p "$tmp/root/run/sshd" && chmod 0755 "$tmp/root/run/sshd"
		if [ -e "$root" ]; then
			mv "$root" "$tmp/old"
		fi
		mv "$tmp/root" "$root"
		rm -rf --one-file-system "$tmp"
	fi
	local v
	v=$(ssh_version "$root")
	if [ -z "$v" ]; then
		echo "$suite: ssh -V does not run in $root" >&2
		return 1
	fi
	progress "$suite: $how$asked, openssh-server $want (OpenSSH $v), $((SECONDS - start)) s"
}

start=$SECONDS
progress "openssh chroots: ${suites[*]} from $MIRROR into $state"
pids=()
for s in "${suites[@]}"; do
	one_suite "$s" &
	pids+=($!)
done
failed=()
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || failed+=("${suites[$i]}")
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "openssh chroots: FAILED: ${failed[*]} (logs in $cache/logs)" >&2
	exit 1
fi

index=$state/index
{
	for s in "${suites[@]}"; do
		echo "$s $(ssh_version "$state/$s") $state/$s"
	done
} >"$index.tmp"
mv "$index.tmp" "$index"
progress "openssh chroots: ready in $((SECONDS - start)) s; $index:"
sed 's/^/    /' "$index" >&2
