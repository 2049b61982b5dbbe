#!/bin/sh
# Runs CMD with TREE/etc/ssh seen as /etc/ssh, as pkg/files/opensshtest does,
# so that OpenSSH reads a benchmark tree and never the machine's own
# configuration:
#
#   sh bench/ns.sh TREE EMPTY HOME CMD...
#
# The script makes its own private mount namespace (unshare -m, private
# propagation) and binds only inside it; before binding, the inner shell
# checks that its mount namespace differs from the caller's, so a bind can
# never reach the machine's /etc/ssh. EMPTY is an empty directory bound over
# HOME/.ssh when there is one, so that ssh -G reads no user configuration
# (ssh takes HOME from the password database, so the caller passes that
# one); HOME itself stays visible, so a work directory under it still is. With BENCH_RSS_OUT=FILE in the environment, CMD
# runs under GNU time and its peak resident set (KiB) and wall time (s) go
# to FILE: OpenSSH's own figures, without this script's. Needs root.
set -eu
[ $# -ge 4 ] || { echo "usage: ns.sh TREE EMPTY HOME CMD..." >&2; exit 2; }
outer=$(readlink /proc/self/ns/mnt)
[ -n "$outer" ] || { echo "ns.sh: cannot read /proc/self/ns/mnt" >&2; exit 97; }
# shellcheck disable=SC2016 # the inner script expands its own arguments
exec unshare -m --propagation private /bin/sh -euc '
outer=$1 tree=$2 empty=$3 home=$4
shift 4
inner=$(readlink /proc/self/ns/mnt)
if [ -z "$inner" ] || [ "$inner" = "$outer" ]; then
	echo "ns.sh: not in a private mount namespace; refusing to bind over /etc/ssh" >&2
	exit 97
fi
mount --bind "$tree/etc/ssh" /etc/ssh
if [ -n "$home" ] && [ -d "$home/.ssh" ]; then
	mount --bind "$empty" "$home/.ssh"
fi
if [ -e "$home/.ssh/config" ]; then
	echo "ns.sh: $home/.ssh/config is still visible" >&2
	exit 98
fi
if [ -n "${BENCH_RSS_OUT:-}" ]; then
	exec /usr/bin/time -q -f "%M %e" -o "$BENCH_RSS_OUT" "$@"
fi
exec "$@"
' ns.sh "$outer" "$@"
