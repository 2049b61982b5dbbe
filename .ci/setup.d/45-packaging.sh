#!/usr/bin/env bash
# Installs what test/packaging needs, when missing: systemd-analyze
# (systemd; installed as a package only: on a machine whose PID 1 is not
# systemd nothing starts, and apt_install keeps package scripts from
# starting services anyway), lintian, man (man-db: systemd-analyze verify
# opens the units' man: pages), file, shellcheck, setpriv (util-linux),
# mount and git. dpkg-deb comes with dpkg, which every Debian has.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

need=()
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v file >/dev/null 2>&1 || need+=(file)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v mount >/dev/null 2>&1 || need+=(mount)
command -v git >/dev/null 2>&1 || need+=(git)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
apt_install "${need[@]}"
