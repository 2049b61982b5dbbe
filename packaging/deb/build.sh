#!/usr/bin/env bash
# Builds the Debian package of sshconverge with dpkg-deb alone (no
# debhelper, no source package):
#   packaging/deb/build.sh VERSION OUTDIR
# writes OUTDIR/sshconverge_VERSION_ARCH.deb and prints its path.
#
# The package holds the static binary (/usr/bin/sshconverge, stamped with
# VERSION, the commit and the commit's date), the systemd units (installed,
# not enabled) and the tmpfiles.d entry that creates the service's lock,
# the man page, the example desired states and cron entry, the copyright
# file and changelog.Debian.gz. Its postinst only creates that lock file.
#
# VERSION: the release, starting with a digit (a leading "v" is dropped):
# 1.2.0, 1.2.0~rc1. The binary reports it; the package's version adds the
# Debian revision -1 (1.2.0-1) unless VERSION has one already (1.2.0-2).
# Environment: GOARCH (default: the Go toolchain's), DEB_MAINTAINER,
# SOURCE_DATE_EPOCH (default: the commit's time; every timestamp in the
# package comes from it, so one commit builds the same bytes twice).
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 VERSION OUTDIR" >&2
	exit 2
fi
version=${1#v}
outdir=$2
if ! [[ $version =~ ^[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?$ ]]; then
	echo "$0: version $version: want a release such as 1.2.0, 1.2.0~rc1 or 1.2.0-2" >&2
	exit 2
fi
upstream=${version%-*}
if [ "$upstream" = "$version" ]; then
	version=$version-1
fi

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
maintainer=${DEB_MAINTAINER:-sshconverge developers <dev@sshconverge.invalid>}

goarch=${GOARCH:-$(go env GOARCH)}
case $goarch in
amd64 | arm64 | riscv64 | s390x) arch=$goarch ;;
386) arch=i386 ;;
arm) arch=armhf && export GOARM=${GOARM:-7} ;;
ppc64le) arch=ppc64el ;;
*)
	echo "$0: GOARCH $goarch: no Debian architecture known for it" >&2
	exit 2
	;;
esac

commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]; then
	commit=$commit-dirty
fi
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH=$epoch
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/sshconverge
doc=$pkg/usr/share/doc/sshconverge
umask 022
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/lib/systemd/system" "$pkg/usr/lib/tmpfiles.d" \
	"$pkg/usr/share/man/man8" "$pkg/usr/share/lintian/overrides" \
	"$doc/examples/cron.d"

# The binary: the same command as the Dockerfile's build stage.
(
	cd "$repo"
	CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath \
		-ldflags "-s -w -X main.version=$upstream -X main.commit=$commit -X main.date=$date" \
		-o "$pkg/usr/bin/sshconverge" ./cmd/agent
)

install -m 0644 "$repo/examples/systemd/sshconverge.service" "$repo/examples/systemd/sshconverge.timer" \
	"$pkg/usr/lib/systemd/system/"
install -m 0644 "$repo/examples/systemd/sshconverge.tmpfiles" "$pkg/usr/lib/tmpfiles.d/sshconverge.conf"

man_date=$(date -u -d "@$epoch" +%Y-%m-%d)
sed -e "s/@DATE@/$man_date/" -e "s/@VERSION@/$upstream/" "$here/sshconverge.8" |
	gzip -9n >"$pkg/usr/share/man/man8/sshconverge.8.gz"

# Documentation and examples. The demo tree lets a new user try the agent
# at once (see the man page's FILES).
install -m 0644 "$repo/examples/"*.yaml "$doc/examples/"
install -m 0644 "$repo/examples/cron/sshconverge" "$doc/examples/cron.d/sshconverge"
cp -R "$repo/examples/demo-root" "$doc/examples/demo-root"
find "$doc/examples/demo-root" -name .gitkeep -delete
gzip -9n <"$repo/docs/install.md" >"$doc/install.md.gz"

{
	echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
	echo "Upstream-Name: sshconverge"
	echo "Upstream-Contact: $maintainer"
	echo
	echo "Files: *"
	echo "Copyright: $(date -u -d "@$epoch" +%Y) the sshconverge developers"
	if [ -f "$repo/LICENSE" ]; then
		echo "License: see-below"
		sed -e 's/^$/./' -e 's/^/ /' "$repo/LICENSE"
	else
		echo "License: none-declared"
		echo " The source tree has no LICENSE file: no license has been declared."
	fi
} >"$doc/copyright"

{
	echo "sshconverge ($version) unstable; urgency=medium"
	echo
	echo "  * sshconverge $upstream, built from"
	echo "    commit $commit."
	echo
	echo " -- $maintainer  $(date -u -R -d "@$epoch")"
} | gzip -9n >"$doc/changelog.Debian.gz"

install -m 0644 "$here/lintian-overrides" "$pkg/usr/share/lintian/overrides/sshconverge"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$pkg/DEBIAN/"

installed_size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<EOF
Package: sshconverge
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Recommends: openssh-server
Suggests: prometheus-node-exporter
Section: admin
Priority: optional
Description: converge the OpenSSH configuration to a desired state
 sshconverge reads the desired sshd and ssh settings from a YAML file,
 finds the line that decides each value as OpenSSH reads its files (first
 value wins, drop-ins, Match and Host blocks), and edits it in place. Every
 change is written atomically, validated with sshd -t, undone when sshd
 rejects it, and followed by a reload of sshd. A check mode reports drift
 without changing anything.
 .
 The package installs a sandboxed systemd service and timer, which are not
 enabled, a man page, and examples.
EOF

(cd "$pkg" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/md5sums"
find "$pkg" -exec touch --no-dereference -d "@$epoch" {} +

mkdir -p "$outdir"
deb=$outdir/sshconverge_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
