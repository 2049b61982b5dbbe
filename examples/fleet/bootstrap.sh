#!/usr/bin/env bash
# bootstrap.sh installs sshconverge on the hosts of an inventory over ssh,
# audits and converges each host, and prints one table. See docs/fleet.md.
#
#   bootstrap.sh -i INVENTORY -d DESIRED.yaml [-b AGENT_BINARY] [-j PARALLEL]
#                [--check-only] [--install timer|cron|none] [-o RESULTS_DIR]
#                [-F SSH_CONFIG] [-t PER_HOST_TIMEOUT] [--reload MODE]
#
# INVENTORY has one host a line, "HOST [port=N] [user=U] [root=DIR]
# [pidfile=PATH]"; "#" starts a comment. root=DIR makes DIR the host's
# filesystem root: the agent runs with --root DIR, and the binary, the
# desired file and the timer or cron entry go under DIR.
#
# For each host, up to PARALLEL at a time and each within PER_HOST_TIMEOUT,
# it copies the agent (only when the host's copy has another sha256) and
# the desired file, runs "sshconverge --check --format json", then (unless
# --check-only) applies, then installs the timer or cron entry. Each host's
# JSON reports and logs go to RESULTS_DIR/HOST/. Host keys are always
# checked (StrictHostKeyChecking yes, BatchMode yes): add the hosts to
# known_hosts first.
#
# Exit status: 0 every host is ok (or changed), 1 a host failed or the
# arguments are wrong, 2 (--check-only) no host failed and one drifted.
set -euo pipefail

# Where the Debian package and docs/install.md put things, so that the
# package's units and cron entry (examples/systemd, examples/cron) run this
# agent as they are, and a later package install takes over the binary.
readonly BIN_PATH=/usr/bin/sshconverge
readonly DESIRED_PATH=/etc/sshconverge/desired.yaml
readonly UNIT_DIR=/etc/systemd/system
readonly TMPFILES_PATH=/etc/tmpfiles.d/sshconverge.conf
readonly CRON_PATH=/etc/cron.d/sshconverge

SELF=${BS_SELF:-$(readlink -f -- "${BASH_SOURCE[0]}")}
HERE=${SELF%/*}
PROG=bootstrap.sh

usage() {
	cat <<'EOF'
usage: bootstrap.sh -i INVENTORY -d DESIRED.yaml [options]
  -i INVENTORY       one host a line: HOST [port=N] [user=U] [root=DIR] [pidfile=PATH]
  -d DESIRED.yaml    the desired state every host gets
  -b AGENT_BINARY    the agent to install (default: build it from this checkout)
  -j PARALLEL        hosts at a time (default 8)
  --check-only       audit only: never apply, never install a schedule
  --install KIND     timer, cron or none (default none): run the agent on a schedule
  -o RESULTS_DIR     where each host's reports go (default ./sshconverge-results)
  -F SSH_CONFIG      passed to every ssh and scp
  -t TIMEOUT         per host, in seconds or with a unit s/m/h (default 300)
  --reload MODE      passed to the agent's apply (auto, systemd, service, signal, none)
  -h, --help         this text
exit status: 0 all ok or changed, 1 a host failed, 2 (--check-only) drift
EOF
}

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 1
}

# shquote prints its arguments as one POSIX shell command line, each
# argument single-quoted.
shquote() {
	local a out=() q="'\\''"
	for a in "$@"; do
		out+=("'${a//\'/$q}'")
	done
	printf '%s' "${out[*]}"
}

# The helpers below set a variable (printf -v) instead of printing: the
# workers run them often, and a fork is not free on a busy controller.

# oneline VAR TEXT sets VAR to TEXT as one short table cell: tabs and line
# ends as spaces, runs of spaces squeezed, at most 200 characters.
oneline() {
	local s=${2//[$'\t\r\n']/ }
	while [[ $s == *'  '* ]]; do s=${s//'  '/ }; done
	s=${s# }
	s=${s% }
	printf -v "$1" '%s' "${s:0:200}"
}

# json_field VAR FILE KEY sets VAR to the first number or plain string
# value of "KEY" in the agent's JSON report FILE (empty when absent). The
# keys read here (summary's ok, changed, conflict; openssh_version) occur
# nowhere else with such a value.
json_field() {
	local doc='' re="\"$3\": *(\"([^\"\\\\]*)\"|([0-9]+))"
	IFS= read -r -d '' doc 2>/dev/null <"$2" || true
	if [[ $doc =~ $re ]]; then
		printf -v "$1" '%s' "${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
	else
		printf -v "$1" '%s' ''
	fi
}

# elf_arch FILE prints the machine (as uname -m says it) an ELF executable
# is for, or nothing.
elf_arch() {
	local magic machine
	magic=$(od -An -tx1 -N4 -- "$1" 2>/dev/null | tr -d ' \n') || return 0
	[ "$magic" = 7f454c46 ] || return 0
	machine=$(od -An -tx1 -j18 -N2 -- "$1" | tr -d ' \n')
	case $machine in
	3e00) echo x86_64 ;;
	b700) echo aarch64 ;;
	0300) echo i686 ;;
	2800) echo armv7l ;;
	f300) echo riscv64 ;;
	1500) echo ppc64le ;;
	1600) echo s390x ;;
	esac
}

valid_host() { [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$ || $1 =~ ^[0-9A-Fa-f]*:[0-9A-Fa-f:.]+$ ]]; }
valid_user() { [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_.-]{0,31}$ ]]; }
valid_port() { [[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && ((10#$1 <= 65535)); }
# valid_path: absolute, clean, of plain characters (it goes into remote
# commands, quoted, and into unit files).
valid_path() { [[ $1 =~ ^(/[A-Za-z0-9._+@=,-]+)+$ && ! $1 =~ /\.\.?(/|$) ]]; }

# ---- the per-host worker ----------------------------------------------------
# It runs as "bootstrap.sh __host RECORD" (started by xargs) and, inside
# timeout(1), as "bootstrap.sh __work RECORD". RECORD is "HOST PORT USER
# ROOT PIDFILE", tab-separated, "-" for an empty field. The options come in
# the environment (BS_*), set by the main program.

# ssh_run SCRIPT ARG...: runs the POSIX sh SCRIPT on the host, with the
# ARGs as $1…; the values never become shell code.
ssh_run() {
	local script=$1
	shift
	# shellcheck disable=SC2029 # quoted here, run there: that is the point
	ssh "${SSH_OPTS[@]}" "$HOST" "$(shquote sh -c "$script" sh "$@")"
}

# as_root, prepended to every remote script, runs a command as root
# (through sudo -n for another user).
# shellcheck disable=SC2016 # a script for the host, expanded there
readonly AS_ROOT='as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n -- "$@"; fi; }'

# The probe prints the kernel and machine; the sha256 of the installed
# agent ("package" when the Debian package owns it, which is then left
# alone) and desired file ("none" when missing); a staging directory it
# makes when something must be copied ("-" otherwise); and the installed
# agent's version when it is the one wanted (or the package's). $1 root
# (may be empty), $2 binary path, $3 desired path, $4 and $5 the sha256
# wanted for them, $6 1 when schedule files will be copied, $7 the binary's
# path on the host as dpkg knows it.
# shellcheck disable=SC2016 # a script for the host, expanded there
readonly PROBE_SCRIPT='set -e
if [ -n "$1" ] && [ ! -d "$1" ]; then echo "root $1 is not a directory on the host" >&2; exit 3; fi
uname -sm
sum_of() { if [ -f "$1" ]; then sha256sum -- "$1" | cut -d" " -f1; else echo none; fi; }
b=$(sum_of "$2")
if [ "$b" != none ] && command -v dpkg-query >/dev/null 2>&1 &&
	dpkg-query --admindir="$1/var/lib/dpkg" -S "$7" >/dev/null 2>&1; then
	b=package
fi
d=$(sum_of "$3")
echo "$b"
echo "$d"
if { [ "$b" != "$4" ] && [ "$b" != package ]; } || [ "$d" != "$5" ] || [ "$6" = 1 ]; then
	mktemp -d "${TMPDIR:-/tmp}/sshconverge.XXXXXXXX"
else
	echo -
fi
if [ "$b" = "$4" ] || [ "$b" = package ]; then "$2" version 2>&1 | head -n 1; else echo none; fi'

# $1 stage, $2 binary path, $3 desired path; installs what was staged.
# shellcheck disable=SC2016 # a script for the host, expanded there
readonly INSTALL_SCRIPT=$AS_ROOT'
set -e
umask 022
as_root mkdir -p -- "${2%/*}" "${3%/*}"
if [ -f "$1/sshconverge" ]; then
	as_root install -m 0755 -- "$1/sshconverge" "$2.new"
	as_root mv -f -- "$2.new" "$2"
fi
if [ -f "$1/desired.yaml" ]; then
	as_root install -m 0644 -- "$1/desired.yaml" "$3.new"
	as_root mv -f -- "$3.new" "$3"
fi
as_root "$2" version'

# $@ the agent's command line.
readonly AGENT_SCRIPT=$AS_ROOT'
as_root "$@"'

# $1 stage, $2 kind (timer or cron), $3 root (may be empty), $4 the unit
# directory, $5 the tmpfiles.d entry, $6 the cron file. The timer is
# installed as docs/install.md does it by hand.
# shellcheck disable=SC2016 # a script for the host, expanded there
readonly SCHEDULE_SCRIPT=$AS_ROOT'
set -e
umask 022
case $2 in
timer)
	for u in sshconverge.service sshconverge.timer; do
		as_root install -D -m 0644 -- "$1/$u" "$3$4/$u"
	done
	as_root install -D -m 0644 -- "$1/sshconverge.tmpfiles" "$3$5"
	if [ -n "$3" ]; then
		# what systemctl enable does: timers.target wants the timer
		as_root mkdir -p -- "$3$4/timers.target.wants"
		as_root ln -sfn -- "$4/sshconverge.timer" "$3$4/timers.target.wants/sshconverge.timer"
	elif [ -d /run/systemd/system ]; then
		as_root systemd-tmpfiles --create sshconverge.conf
		as_root systemctl daemon-reload
		as_root systemctl enable --now sshconverge.timer
	else
		echo "systemd does not run on this host; install with --install cron" >&2
		exit 1
	fi
	echo "installed the sshconverge timer under ${3:-/}"
	;;
cron)
	as_root install -D -m 0644 -- "$1/sshconverge.cron" "$3$6"
	echo "installed $3$6"
	;;
esac'

# shellcheck disable=SC2016 # a script for the host, expanded there
readonly CLEANUP_SCRIPT='case $1 in */sshconverge.*) rm -rf -- "$1" ;; esac'

# log appends a line to the host's bootstrap.log.
log() { printf '%(%T)T %s\n' -1 "$*" >>"$OUT/bootstrap.log"; }

# finish writes the host's status line and ends the worker.
# $1 status, $2 error.
finish() {
	local err=${2:-}
	[ -z "$err" ] || log "error: $err"
	if [ -n "${STAGE:-}" ]; then
		ssh_run "$CLEANUP_SCRIPT" "$STAGE" >/dev/null 2>&1 || true
	fi
	# Close the shared connection this worker opened.
	ssh "${SSH_OPTS[@]}" -O exit "$HOST" >/dev/null 2>&1 || true
	oneline err "${err:--}"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$HOST" "${OPENSSH:--}" "$1" "${DRIFTED:--}" "${CHANGED:--}" \
		"${err:--}" >"$OUT/status"
	exit 0
}

# last_error prints the last line of FILE that says something: ssh's own
# "debug" lines, blank lines, and what ssh -v says of every connection
# (a shared connection's master may write its closing figures last) are
# skipped.
last_error() {
	grep -v -e '^debug[0-9]*:' -e '^[[:space:]]*$' -e '^OpenSSH_' -e '^Authenticated to ' \
		-e '^Transferred: ' -e '^Bytes per second: ' -- "$1" 2>/dev/null | tail -n 1 || true
}

# step_failed ends the host's work as failed in STEP, which exited RC and
# wrote its errors to LOG: the last thing LOG says, and the exit status
# (all there is when the step said nothing).
step_failed() {
	local why
	why=$(last_error "$3")
	finish failed "$1: exit $2${why:+: $why}"
}

work() {
	local rec=$1 port user root pidfile
	IFS=$'\t' read -r HOST port user root pidfile <<<"$rec"
	[ "$port" != - ] || port=
	[ "$user" != - ] || user=
	[ "$root" != - ] || root=
	[ "$pidfile" != - ] || pidfile=
	OUT=$BS_RESULTS/$HOST
	rm -rf -- "$OUT"
	mkdir -p -- "$OUT"
	OPENSSH='' DRIFTED='' CHANGED='' STAGE=''

	# One shared connection per inventory line, named after the host as the
	# inventory gives it: ssh's %C hashes the address an alias resolves to,
	# so two names of one machine (a HostKeyAlias, another root=) would
	# share a connection, skip the host key check through it, and close
	# it under each other's feet.
	local ctl_id
	ctl_id=$(printf '%s' "$HOST" | sha256sum)
	SSH_OPTS=()
	local common=(-o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=15
		-o ServerAliveInterval=15 -o ServerAliveCountMax=4
		-o ControlMaster=auto -o "ControlPath=$BS_CTL/${ctl_id:0:24}" -o ControlPersist=60)
	[ -z "$BS_SSH_CONFIG" ] || common=(-F "$BS_SSH_CONFIG" "${common[@]}")
	SSH_OPTS=("${common[@]}")
	local scp_opts=(-q "${common[@]}")
	[ -z "$port" ] || { SSH_OPTS+=(-p "$port"); scp_opts+=(-P "$port"); }
	[ -z "$user" ] || { SSH_OPTS+=(-l "$user"); scp_opts+=(-o "User=$user"); }
	local rhost=$HOST
	[[ $HOST != *:* ]] || rhost="[$HOST]"

	local bin=$root$BIN_PATH desired=$root$DESIRED_PATH
	# 1. Probe; the first connection (-v to a log) also yields the banner.
	local sched=0 probe rc=0
	if [ "$BS_CHECK_ONLY" = 0 ] && [ "$BS_INSTALL" != none ]; then sched=1; fi
	local cmd
	cmd=$(shquote sh -c "$PROBE_SCRIPT" sh "$root" "$bin" "$desired" "$BS_BIN_SHA" "$BS_DESIRED_SHA" "$sched" "$BIN_PATH")
	probe=$(ssh -v -E "$OUT/ssh.log" "${SSH_OPTS[@]}" "$HOST" "$cmd" 2>"$OUT/probe.err") || rc=$?
	if [ "$rc" -eq 255 ] && ! grep -q -e 'Host key verification failed' -e 'Connection refused' -- "$OUT/ssh.log"; then
		# ssh itself failed (not the probe), for a reason that may pass:
		# once more, on a connection of its own.
		log "ssh failed ($(last_error "$OUT/ssh.log")); trying once more"
		rc=0
		probe=$(ssh -v -E "$OUT/ssh.log" "${SSH_OPTS[@]}" -o ControlMaster=no -o ControlPath=none "$HOST" "$cmd" 2>"$OUT/probe.err") || rc=$?
	fi
	OPENSSH=$(grep -m 1 -o 'remote software version [^ ,]*' -- "$OUT/ssh.log") || true
	OPENSSH=${OPENSSH##* }
	if [ "$rc" -ne 0 ]; then
		local why
		why=$(last_error "$OUT/probe.err")
		[ -n "$why" ] || why=$(last_error "$OUT/ssh.log")
		finish failed "${why:-ssh exited $rc}${why:+ (exit $rc)}"
	fi
	local sys='' rhash='' dhash='' stage='' version=''
	{ read -r sys && read -r rhash && read -r dhash && read -r stage && read -r version; } <<<"$probe" || true
	if [ -z "$version" ] || { [ "$stage" != - ] && [[ ! $stage =~ ^/[A-Za-z0-9._/-]*/sshconverge\.[A-Za-z0-9]+$ ]]; }; then
		finish failed "the probe printed something unexpected: $probe"
	fi
	[ "$stage" = - ] || STAGE=$stage
	log "connected: $sys, ${OPENSSH:-unknown OpenSSH}"
	if [ "$sys" != "Linux $BS_ARCH" ]; then
		finish failed "the host is $sys; the agent was built for Linux $BS_ARCH"
	fi

	# 2. Copy what differs, through the staging directory.
	local send=()
	if [ "$rhash" = "$BS_BIN_SHA" ]; then
		log "agent unchanged ($rhash)"
	elif [ "$rhash" = package ]; then
		log "agent from the Debian package: left as it is"
	else
		send+=("$BS_STAGE/sshconverge")
		log "copying the agent ($BS_BIN_SHA, host has $rhash)"
	fi
	if [ "$dhash" = "$BS_DESIRED_SHA" ]; then
		log "desired state unchanged"
	else
		send+=("$BS_STAGE/desired.yaml")
	fi
	if [ "$sched" = 1 ]; then
		case $BS_INSTALL in
		timer) send+=("$BS_STAGE/sshconverge.service" "$BS_STAGE/sshconverge.timer" "$BS_STAGE/sshconverge.tmpfiles") ;;
		cron) send+=("$BS_STAGE/sshconverge.cron") ;;
		esac
	fi
	if [ ${#send[@]} -gt 0 ]; then
		[ -n "$STAGE" ] || finish failed "the probe made no staging directory"
		scp "${scp_opts[@]}" -- "${send[@]}" "$rhost:$STAGE/" 2>"$OUT/scp.log" || step_failed scp $? "$OUT/scp.log"
		ssh_run "$INSTALL_SCRIPT" "$STAGE" "$bin" "$desired" >"$OUT/version.txt" 2>"$OUT/install.log" ||
			step_failed install $? "$OUT/install.log"
	else
		printf '%s\n' "$version" >"$OUT/version.txt"
	fi
	IFS= read -r version <"$OUT/version.txt" || true
	log "agent: $version"

	# 3. Audit.
	local args=(--format json)
	[ -z "$root" ] || args+=(--root "$root")
	rc=0
	ssh_run "$AGENT_SCRIPT" "$bin" --check "${args[@]}" "$desired" >"$OUT/check.json" 2>"$OUT/check.log" || rc=$?
	local v
	json_field v "$OUT/check.json" openssh_version
	case $v in '' | unknown) ;; *) OPENSSH=$v ;; esac
	case $rc in
	0 | 2)
		local c k
		json_field c "$OUT/check.json" changed
		json_field k "$OUT/check.json" conflict
		DRIFTED=$((${c:-0} + ${k:-0}))
		log "check: exit $rc, $DRIFTED keys drifted"
		;;
	*) step_failed check "$rc" "$OUT/check.log" ;;
	esac
	local check_rc=$rc
	if [ "$BS_CHECK_ONLY" = 1 ]; then
		if [ "$check_rc" -eq 0 ]; then finish ok; fi
		finish drift
	fi

	# 4. Apply.
	local apply_args=(--detailed-exitcode "${args[@]}")
	[ -z "$BS_RELOAD" ] || apply_args+=(--reload "$BS_RELOAD")
	[ -z "$pidfile" ] || apply_args+=(--sshd-pidfile "$pidfile")
	rc=0
	ssh_run "$AGENT_SCRIPT" "$bin" "${apply_args[@]}" "$desired" >"$OUT/apply.json" 2>"$OUT/apply.log" || rc=$?
	json_field CHANGED "$OUT/apply.json" changed
	log "apply: exit $rc, ${CHANGED:-?} keys changed"
	local status
	case $rc in
	0) if [ "$check_rc" -eq 0 ]; then status=ok; else status=changed; fi ;;
	2) status=changed ;;
	*) step_failed apply "$rc" "$OUT/apply.log" ;;
	esac

	# 5. Schedule.
	if [ "$BS_INSTALL" != none ]; then
		ssh_run "$SCHEDULE_SCRIPT" "$STAGE" "$BS_INSTALL" "$root" "$UNIT_DIR" "$TMPFILES_PATH" "$CRON_PATH" >>"$OUT/bootstrap.log" 2>"$OUT/schedule.log" ||
			step_failed "install $BS_INSTALL" $? "$OUT/schedule.log"
	fi
	finish "$status"
}

# host runs work under timeout(1) and writes the status line itself when
# the worker was killed.
host() {
	local rec=$1 h pid rc=0
	h=${rec%%$'\t'*}
	timeout -k 10 "$BS_TIMEOUT" "$BASH" "$SELF" __work "$rec" &
	pid=$!
	trap 'kill -TERM "$pid" 2>/dev/null' INT TERM
	wait "$pid" || rc=$?
	trap - INT TERM
	wait "$pid" 2>/dev/null || true
	if [ ! -s "$BS_RESULTS/$h/status" ]; then
		local why="the worker exited $rc"
		case $rc in 124 | 137) why="timed out after $BS_TIMEOUT" ;; esac
		mkdir -p -- "$BS_RESULTS/$h"
		printf '%s\t-\tfailed\t-\t-\t%s\n' "$h" "$why" >"$BS_RESULTS/$h/status"
	fi
	return 0
}

case ${1:-} in
__host)
	host "$2"
	exit 0
	;;
__work)
	work "$2" # it ends through finish
	;;
esac

# ---- the main program -------------------------------------------------------

inventory='' desired='' binary='' jobs=8 check_only=0 install=none results=./sshconverge-results
ssh_config='' per_host=300 reload=''
while [ $# -gt 0 ]; do
	case $1 in
	-i | -d | -b | -j | -o | -F | -t | --install | --reload)
		[ $# -ge 2 ] || die "$1 needs a value (see --help)"
		case $1 in
		-i) inventory=$2 ;;
		-d) desired=$2 ;;
		-b) binary=$2 ;;
		-j) jobs=$2 ;;
		-o) results=$2 ;;
		-F) ssh_config=$2 ;;
		-t) per_host=$2 ;;
		--install) install=$2 ;;
		--reload) reload=$2 ;;
		esac
		shift 2
		;;
	--check-only) check_only=1 && shift ;;
	-h | --help) usage && exit 0 ;;
	*) usage >&2 && die "unknown argument '$1'" ;;
	esac
done
[ -n "$inventory" ] || { usage >&2; die "name the inventory with -i"; }
[ -n "$desired" ] || { usage >&2; die "name the desired-state file with -d"; }
if [ ! -f "$inventory" ] || [ ! -r "$inventory" ]; then die "inventory $inventory: not a readable file"; fi
if [ ! -f "$desired" ] || [ ! -r "$desired" ]; then die "desired state $desired: not a readable file"; fi
[[ $jobs =~ ^[1-9][0-9]{0,3}$ ]] || die "-j $jobs: want a number of hosts, 1 to 9999"
[[ $per_host =~ ^[1-9][0-9]*[smh]?$ ]] || die "-t $per_host: want a duration such as 300, 90s or 5m"
case $install in timer | cron | none) ;; *) die "--install $install: want timer, cron or none" ;; esac
case $reload in '' | auto | systemd | service | signal | none) ;; *) die "--reload $reload: want auto, systemd, service, signal or none" ;; esac
[ -z "$ssh_config" ] || [ -f "$ssh_config" ] || die "-F $ssh_config: no such file"
[ -z "$ssh_config" ] || ssh_config=$(readlink -f -- "$ssh_config")
for tool in ssh scp timeout xargs sha256sum; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing on this machine"
done

# The inventory: every problem is reported, as FILE:LINE: message, and
# nothing is contacted unless it is all well formed.
declare -A seen=()
records=() errors=() n=0
while IFS= read -r line || [ -n "$line" ]; do
	n=$((n + 1))
	line=${line%%#*}
	read -r -a fields <<<"$line" || true
	[ ${#fields[@]} -gt 0 ] || continue
	h=${fields[0]} port=- user=- root=- pidfile=- bad=
	if ! valid_host "$h"; then
		errors+=("$inventory:$n: '$h' is not a host name or address")
		continue
	fi
	declare -A keys=()
	for f in "${fields[@]:1}"; do
		k=${f%%=*} v=${f#*=}
		if [[ $f != *=* ]]; then
			errors+=("$inventory:$n: '$f': want key=value (port, user, root, pidfile)") bad=1
			continue
		fi
		if [ -n "${keys[$k]:-}" ]; then
			errors+=("$inventory:$n: $k given twice") bad=1
			continue
		fi
		keys[$k]=1
		msg=
		case $k in
		port) if valid_port "$v"; then port=$v; else msg="want 1 to 65535"; fi ;;
		user) if valid_user "$v"; then user=$v; else msg="not a user name"; fi ;;
		root) if valid_path "$v"; then root=$v; else msg="want a clean absolute path of plain characters"; fi ;;
		pidfile) if valid_path "$v"; then pidfile=$v; else msg="want a clean absolute path of plain characters"; fi ;;
		*) msg="unknown key (want port, user, root or pidfile)" ;;
		esac
		[ -z "$msg" ] || errors+=("$inventory:$n: $f: $msg") bad=1
	done
	unset keys
	if [ -n "${seen[$h]:-}" ]; then
		errors+=("$inventory:$n: $h is already listed on line ${seen[$h]}")
		continue
	fi
	seen[$h]=$n
	[ -n "$bad" ] || records+=("$h"$'\t'"$port"$'\t'"$user"$'\t'"$root"$'\t'"$pidfile")
done <"$inventory"
if [ ${#errors[@]} -gt 0 ]; then
	printf '%s\n' "${errors[@]}" >&2
	exit 1
fi
[ ${#records[@]} -gt 0 ] || die "$inventory lists no host"

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/sshconverge-bootstrap.XXXXXX")
ctl=$(mktemp -d /tmp/scb.XXXXXX) # short: it holds the ssh control sockets
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local sock
	for sock in "$ctl"/*; do
		if [ -S "$sock" ]; then
			ssh -F /dev/null -o "ControlPath=$sock" -O exit localhost >/dev/null 2>&1 || true
		fi
	done
	rm -rf -- "$work_dir" "$ctl"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The agent: the one given, or a static build of this checkout, stamped.
stage=$work_dir/stage
mkdir -p -- "$stage"
if [ -n "$binary" ]; then
	if [ ! -f "$binary" ] || [ ! -r "$binary" ]; then die "-b $binary: not a readable file"; fi
	cp -- "$binary" "$stage/sshconverge"
else
	src=$(readlink -f -- "$HERE/../..")
	if [ ! -f "$src/go.mod" ] || [ ! -d "$src/cmd/agent" ]; then
		die "no -b given and $src is not the sshconverge source tree"
	fi
	command -v go >/dev/null 2>&1 || die "no -b given and go is missing: build the agent or install Go"
	version=$(git -C "$src" describe --tags --always --dirty 2>/dev/null || echo devel)
	commit=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)
	# The commit's date, not now: the same source gives the same binary,
	# and hosts that already have it are skipped.
	date=$(TZ=UTC git -C "$src" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
	printf '%s: building the agent %s (%s)\n' "$PROG" "$version" "${commit:0:12}" >&2
	(cd "$src" && CGO_ENABLED=0 GOOS=linux go build -trimpath \
		-ldflags "-X 'main.version=$version' -X 'main.commit=$commit' -X 'main.date=$date'" \
		-o "$stage/sshconverge" ./cmd/agent) || die "building the agent failed"
fi
chmod 0755 "$stage/sshconverge"
arch=$(elf_arch "$stage/sshconverge")
[ -n "$arch" ] || die "the agent $stage/sshconverge is not a Linux executable this script knows"
cp -- "$desired" "$stage/desired.yaml"

# A desired file that this machine's copy of the agent rejects would fail
# on every host: say so once (skipped when the agent cannot run here).
vrc=0
"$stage/sshconverge" validate "$desired" >/dev/null 2>"$work_dir/validate.log" || vrc=$?
if [ "$vrc" -eq 1 ]; then
	cat -- "$work_dir/validate.log" >&2
	die "the desired state is not valid; no host was contacted"
fi

# The schedule files are the package's (examples/systemd, examples/cron).
schedule_file() {
	[ -f "$1" ] || die "--install $install: $1 is missing"
	cp -- "$1" "$2"
}
if [ "$check_only" = 0 ]; then
	case $install in
	timer)
		for f in sshconverge.service sshconverge.timer sshconverge.tmpfiles; do
			schedule_file "$HERE/../systemd/$f" "$stage/$f"
		done
		;;
	cron) schedule_file "$HERE/../cron/sshconverge" "$stage/sshconverge.cron" ;;
	esac
fi

mkdir -p -- "$results"
results=$(readlink -f -- "$results")
BS_BIN_SHA=$(sha256sum -- "$stage/sshconverge" | cut -d' ' -f1)
BS_DESIRED_SHA=$(sha256sum -- "$stage/desired.yaml" | cut -d' ' -f1)
export BS_RESULTS=$results BS_CTL=$ctl BS_STAGE=$stage BS_SSH_CONFIG=$ssh_config BS_TIMEOUT=$per_host
export BS_SELF=$SELF BS_CHECK_ONLY=$check_only BS_INSTALL=$install BS_RELOAD=$reload BS_ARCH=$arch
export BS_BIN_SHA BS_DESIRED_SHA

start=$SECONDS
printf '%s\n' "${records[@]}" | xargs -d '\n' -n 1 -P "$jobs" -- "$BASH" "$SELF" __host ||
	die "a worker failed to start (xargs exit $?)"
elapsed=$((SECONDS - start))

# The table, also kept as RESULTS_DIR/summary.tsv.
rows=()
printf 'HOST\tOPENSSH\tSTATUS\tDRIFTED\tCHANGED\tERROR\n' >"$results/summary.tsv"
for rec in "${records[@]}"; do
	h=${rec%%$'\t'*}
	row=$(head -n 1 -- "$results/$h/status" 2>/dev/null || printf '%s\t-\tfailed\t-\t-\tno status was written' "$h")
	rows+=("$row")
	printf '%s\n' "$row" >>"$results/summary.tsv"
done
declare -A count=([ok]=0 [changed]=0 [drift]=0 [failed]=0)
w=(4 7 6 7 7)
for row in "${rows[@]}"; do
	IFS=$'\t' read -r -a c <<<"$row"
	for i in 0 1 2 3 4; do
		[ ${#c[i]} -le "${w[i]}" ] || w[i]=${#c[i]}
	done
	count[${c[2]}]=$((${count[${c[2]}]:-0} + 1))
done
fmt="%-${w[0]}s  %-${w[1]}s  %-${w[2]}s  %${w[3]}s  %${w[4]}s  %s\n"
# shellcheck disable=SC2059 # the format is built from numbers only
{
	printf "$fmt" HOST OPENSSH STATUS DRIFTED CHANGED ERROR
	for row in "${rows[@]}"; do
		IFS=$'\t' read -r -a c <<<"$row"
		printf "$fmt" "${c[@]}"
	done
}
printf '%d hosts in %d s: ok=%d changed=%d drift=%d failed=%d; reports in %s\n' \
	"${#rows[@]}" "$elapsed" "${count[ok]}" "${count[changed]}" "${count[drift]}" "${count[failed]}" "$results"
if [ "${count[failed]}" -gt 0 ]; then
	exit 1
fi
if [ "${count[drift]}" -gt 0 ]; then
	exit 2
fi
exit 0
