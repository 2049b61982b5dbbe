#!/usr/bin/env bash
# The benchmark of issue 12: what an agent run costs, side by side with
# Ansible and OpenSSH itself, on inputs of growing size. Run as root.
#
#   bench/run.sh [--quick] [--out DIR] [--rev REV] [--only SECTIONS] [--keep] [--no-install]
#   bench/run.sh report DIR        rewrite DIR/results.md and DIR/plot.svg from DIR/results.csv
#   bench/run.sh gobench [ARGS]    the Go microbenchmarks (bench/gobench.sh ARGS)
#
# It installs what is missing (apt: hyperfine, jq, time, openssh-client,
# openssh-server, util-linux, gnuplot-nox, ansible-core), builds the agent
# as a static binary, generates the inputs (bench/gen), and measures, each
# with hyperfine's median and GNU time's peak resident set ("Maximum resident
# set size" of time -v):
#
#   floor      a static Go hello-world
#   keepalive  examples/keepalive.yaml on examples/demo-root, audit and apply,
#              against ansible-playbook doing the same job (bench/ansible),
#              on a fresh copy of the tree for every run; then whether each
#              tool's edit takes effect (sshd -T, ssh -G, agent show)
#   hosts      ssh_config with 100 … 100,000 Host blocks: agent --check, ssh -G
#   keys       the largest ssh_config of hosts, 1 … 16 keys set in one block:
#              what each further desired key costs a plan
#   bigfile    ssh_config of 1 MB and 50 MB: agent --check, ssh -G
#   dropins    1 … 10,000 sshd drop-ins: agent --check, sshd -T, sshd -t
#
# OpenSSH only ever reads a benchmark tree: bench/ns.sh binds the tree's
# etc/ssh over /etc/ssh inside a private mount namespace, and sshd gets an
# ephemeral host key with -h. The machine's own /etc/ssh is never touched.
#
# Options:
#   --quick          small sizes and few runs (a smoke run, about a minute)
#   --out DIR        results directory (default bench/results/latest): results.csv,
#                    results.md, plot.svg, finding.md, machine.md
#   --rev REV        build the agent from git revision REV instead of the work tree
#   --only LIST      comma-separated sections (floor,keepalive,hosts,keys,bigfile,dropins)
#   --keep           keep the work directory (inputs, trees, binaries)
#   --no-install     never install packages; fail when one is missing
#
# Progress goes to stderr; the table is printed at the end. Nothing here
# asserts a performance target: the Targets table only reports.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=../.ci/lib.sh disable=SC1091
. "$repo/.ci/lib.sh"
[ -d /usr/local/go/bin ] && PATH=$PATH:/usr/local/go/bin
# C.UTF-8: byte order for sort, and the UTF-8 that Ansible insists on.
export LC_ALL=C.UTF-8

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() {
	echo "bench/run.sh: $*" >&2
	exit 1
}

# ---------------------------------------------------------------- report --

# fmt_s SECONDS: "4.2 ms" or "1.16 s"; empty stays empty.
awk_fmt='
function fs(s) { if (s == "") return ""; if (s < 0.001) return sprintf("%.0f µs", s * 1e6);
	if (s < 0.1) return sprintf("%.1f ms", s * 1e3); if (s < 1) return sprintf("%.0f ms", s * 1e3);
	return sprintf("%.2f s", s) }
function fm(kb) { if (kb == "") return ""; kb = kb * 1024 / 1e6; if (kb < 10) return sprintf("%.1f MB", kb);
	if (kb >= 1000) return sprintf("%.2f GB", kb / 1e3); return sprintf("%.0f MB", kb) }
function fb(b) { if (b == "") return ""; if (b < 1e3) return b " B"; if (b < 1e6) return sprintf("%.1f kB", b / 1e3);
	return sprintf("%.1f MB", b / 1e6) }
function fn(n,  s, out) { if (n == "") return ""; s = sprintf("%d", n); out = "";
	while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) } return s out }
function fx(r) { if (r == "") return ""; if (r >= 10) return sprintf("%.0f×", r); return sprintf("%.1f×", r) }
'

# report DIR: results.md and plot.svg from results.csv (and finding.md,
# machine.md when they are there). Columns: 1 section, 2 case, 3 tool,
# 4 blocks, 5 files, 6 lines, 7 bytes, 8 input_sha256, 9 exit, 10 median_s,
# 11 mean_s, 12 stddev_s, 13 min_s, 14 max_s, 15 runs, 16 rss_kb, 17 load1,
# 18 user_s, 19 system_s (hyperfine's means; CPU = user + system).
report() {
	local dir=$1 csv=$1/results.csv
	[ -s "$csv" ] || die "$csv: no results"
	{
		echo "# sshconverge benchmark results"
		echo
		[ ! -s "$dir/machine.md" ] || cat "$dir/machine.md"
		awk -F, "$awk_fmt"'
		NR == 1 { next }
		{
			k = $1 SUBSEP $2 SUBSEP $3; med[k] = $10; rss[k] = $16; ex[k] = $9; runs[k] = $15; cpu[k] = ($18 == "" ? "" : $18 + $19)
			c = $1 SUBSEP $2; blocks[c] = $4; files[c] = $5; lines[c] = $6; bytes[c] = $7
			if (!(c in seen)) { seen[c] = 1; order[$1] = order[$1] (order[$1] == "" ? "" : "|") $2 }
		}
		function cases(s, arr) { return split(order[s], arr, "|") }
		END {
			if ("floor" in order) {
				print "## Floor\n"
				print "| what | median | CPU | peak RSS | runs |"
				print "|---|---:|---:|---:|---:|"
				a = "floor" SUBSEP "hello" SUBSEP "go hello-world"
				if (a in med) printf "| static Go hello-world (`CGO_ENABLED=0`, `-s -w`) | %s | %s | %s | %s |\n", fs(med[a]), fs(cpu[a]), fm(rss[a]), runs[a]
				print ""
			}
			if ("keepalive" in order) {
				print "## Keepalive on the Debian demo tree: agent against Ansible\n"
				print "`examples/keepalive.yaml` on `examples/demo-root` (" fn(files["keepalive", "check"]) " files, " fn(lines["keepalive", "check"]) " lines, plus an ephemeral host key), on a fresh copy of the tree before every run."
				print "The agent applies with `--reload none` and validates with `sshd -t`; the playbook (`bench/ansible/keepalive.yml`) gathers no facts, validates nothing and reloads nothing."
				print "Peak RSS is that of the largest single process (Ansible forks a worker and a Python interpreter per task).\n"
				print "| job | agent median | agent CPU | agent peak RSS | agent exit | ansible-playbook median | ansible-playbook CPU | ansible-playbook peak RSS | runs | time ratio | CPU ratio | memory ratio |"
				print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
				split("check recheck recheck-debian recheck-daemon apply reapply-daemon", jobs, " ")
				ag["check"] = "agent --check"; an["check"] = "ansible-playbook --check"
				ag["recheck"] = "agent --check"; an["recheck"] = "ansible-playbook --check"; bj["recheck"] = "check"
				ag["recheck-debian"] = "agent --check"; an["recheck-debian"] = "ansible-playbook --check"; bj["recheck-debian"] = "check"
				ag["recheck-daemon"] = "agent --check"; an["recheck-daemon"] = "ansible-playbook --check"; bj["recheck-daemon"] = "check"
				ag["apply"] = "agent"; an["apply"] = "ansible-playbook"
				ag["reapply-daemon"] = "agent"; an["reapply-daemon"] = "ansible-playbook"; bj["reapply-daemon"] = "apply"
				name["check"] = "audit (`--check`)"; name["recheck"] = "audit again, same files (the cron case)"; name["apply"] = "apply"
				name["recheck-debian"] = "the cron case on a Debian host (dpkg status of 1,500 packages)"
				name["recheck-daemon"] = "the cron case with sshd running, converged (exit 0)"
				name["reapply-daemon"] = "the timer'"'"'s run with sshd running, converged: apply, nothing to change (exit 0)"
				for (j = 1; j <= 6; j++) {
					c = jobs[j]; a = "keepalive" SUBSEP c SUBSEP ag[c]; b = "keepalive" SUBSEP ((c in bj) ? bj[c] : c) SUBSEP an[c]
					if (!(a in med)) continue
					tr = (med[a] > 0 && med[b] != "") ? fx(med[b] / med[a]) : ""
					mr = (rss[a] > 0 && rss[b] != "") ? fx(rss[b] / rss[a]) : ""
					cr = (cpu[a] > 0 && cpu[b] != "") ? fx(cpu[b] / cpu[a]) : ""
					printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name[c], fs(med[a]), fs(cpu[a]), fm(rss[a]), ex[a], fs(med[b]), fs(cpu[b]), fm(rss[b]), runs[a] "+" runs[b], tr, cr, mr
				}
				if (("keepalive" SUBSEP "recheck" SUBSEP "agent --check") in med) print "\nThe cron case audits a host whose files did not change since the last audit: sshd accepted them then, with the same binary and host keys, and the agent remembers that verdict in its state directory (`/var/lib/sshconverge/accepted`), so it does not start sshd again. Its row compares with the same Ansible audit. On a Debian host the agent also reads dpkg'"'"'s status file (which packages own which files) on every run: the next row lays a generated one of 750 kB over the tree (`bench/gen -kind dpkg`). With sshd running (the row after it: a daemon on the tree in namespaces of its own, the tree converged once), the audit takes which values the daemon uses (`sshd -T` in its own view) and whether it accepts its files (`sshd -t`) from the state directory, where the audit before left them under keys that name its files as read in its root, its binary, arguments and host keys (`daemon-values`, `accepted`). The last row is what a fleet'"'"'s timer runs there: the converging run itself, which takes the lock, finds nothing to change and asks the daemon the same; it compares with the playbook'"'"'s run on a fresh tree."
				print ""
			}
			if ("hosts" in order || "bigfile" in order) {
				print "## ssh_config growth: agent --check against ssh -G\n"
				print "Debian'"'"'s ssh_config with Host blocks of 2–4 keywords before its `Host *` (`bench/gen -kind hosts|bytes`). The desired file sets ServerAliveInterval and ServerAliveCountMax in the second-to-last block, so the agent plans 2 inserts (exit 2 = drift); `ssh -G` is asked about that block'"'"'s host.\n"
				print "| input | Host blocks | lines | bytes | agent median | agent CPU | agent peak RSS | RSS per input byte | agent exit | ssh -G median | ssh -G CPU | ssh -G peak RSS | agent / ssh -G |"
				print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
				split("hosts bigfile", ss, " ")
				for (si = 1; si <= 2; si++) {
					s = ss[si]; n = cases(s, cs)
					for (i = 1; i <= n; i++) {
						c = cs[i]; a = s SUBSEP c SUBSEP "agent --check"; o = s SUBSEP c SUBSEP "ssh -G"
						per = (rss[a] != "" && bytes[s, c] > 0) ? sprintf("%.1f", rss[a] * 1024 / bytes[s, c]) : ""
						rr = (med[a] > 0 && med[o] > 0) ? fx(med[a] / med[o]) : ""
						printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", (s == "hosts" ? fn(c) " Host blocks" : c " ssh_config"), fn(blocks[s, c]), fn(lines[s, c]), fb(bytes[s, c]), fs(med[a]), fs(cpu[a]), fm(rss[a]), per, ex[a], fs(med[o]), fs(cpu[o]), fm(rss[o]), rr
					}
				}
				print ""
			}
			if ("keys" in order) {
				print "## Keys per plan\n"
				n = cases("keys", cs); a = "keys" SUBSEP cs[1] SUBSEP "agent --check"
				print "The largest ssh_config of the growth series (" fn(blocks["keys", cs[1]]) " Host blocks); the desired file sets 1 to 16 keys that its second-to-last block lacks, so the agent plans that many inserts (exit 2 = drift). A plan sets the keys of one scope together and evaluates the configuration once for all of them.\n"
				print "| keys | agent median | agent CPU | agent peak RSS | agent exit |"
				print "|---:|---:|---:|---:|---:|"
				for (i = 1; i <= n; i++) {
					c = cs[i]; a = "keys" SUBSEP c SUBSEP "agent --check"
					printf "| %s | %s | %s | %s | %s |\n", c, fs(med[a]), fs(cpu[a]), fm(rss[a]), ex[a]
				}
				a = "keys" SUBSEP cs[1] SUBSEP "agent --check"; b = "keys" SUBSEP cs[n] SUBSEP "agent --check"
				if (n > 1 && med[a] != "" && med[b] != "") printf "\nEach further key: %+.1f ms of median, %+.1f ms of CPU (%s keys against %s).\n", (med[b] - med[a]) * 1e3 / (cs[n] - cs[1]), (cpu[b] - cpu[a]) * 1e3 / (cs[n] - cs[1]), cs[n], cs[1]
				print ""
			}
			if ("dropins" in order) {
				print "## sshd drop-in growth: agent --check against sshd -T\n"
				print "Debian'"'"'s sshd_config (its first directive includes sshd_config.d/*.conf) and N drop-ins of 2–3 keywords, every tenth ending in a Match User block (`bench/gen -kind dropins`). The desired file changes a keyword set in the first drop-in and one set only in the last (exit 2 = drift). `sshd -t` is the configuration test, run once.\n"
				print "| drop-ins | files | lines | bytes | agent median | agent CPU | agent peak RSS | agent exit | sshd -T median | sshd -T CPU | sshd -T peak RSS | sshd -t exit | agent / sshd -T |"
				print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
				n = cases("dropins", cs)
				for (i = 1; i <= n; i++) {
					c = cs[i]; a = "dropins" SUBSEP c SUBSEP "agent --check"; o = "dropins" SUBSEP c SUBSEP "sshd -T"; t = "dropins" SUBSEP c SUBSEP "sshd -t"
					rr = (med[a] > 0 && med[o] > 0) ? fx(med[a] / med[o]) : ""
					printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", fn(c), fn(files["dropins", c]), fn(lines["dropins", c]), fb(bytes["dropins", c]), fs(med[a]), fs(cpu[a]), fm(rss[a]), ex[a], fs(med[o]), fs(cpu[o]), fm(rss[o]), ex[t], rr
				}
				print ""
			}
			# The targets of issue 12: reported here, never asserted.
			print "## Targets of issue 12\n"
			print "| target | now | met |"
			print "|---|---|:-:|"
			a = "keepalive" SUBSEP "check" SUBSEP "agent --check"; b = "keepalive" SUBSEP "check" SUBSEP "ansible-playbook --check"
			if (med[a] > 0 && med[b] != "") { r = med[b] / med[a]; printf "| keepalive `--check` ≥ 500× faster than `ansible-playbook --check` | %s (%s against %s) | %s |\n", fx(r), fs(med[a]), fs(med[b]), (r >= 500 ? "yes" : "no") }
			a = "keepalive" SUBSEP "recheck" SUBSEP "agent --check"
			if (med[a] > 0 && med[b] != "") { r = med[b] / med[a]; printf "| the same, audit of unchanged files (the cron case) | %s (%s against %s) | %s |\n", fx(r), fs(med[a]), fs(med[b]), (r >= 500 ? "yes" : "no") }
			a = "keepalive" SUBSEP "recheck-debian" SUBSEP "agent --check"
			if (med[a] > 0 && med[b] != "") { r = med[b] / med[a]; printf "| the same on a Debian host (dpkg status of 1,500 packages) | %s (%s against %s) | %s |\n", fx(r), fs(med[a]), fs(med[b]), (r >= 500 ? "yes" : "no") }
			a = "keepalive" SUBSEP "recheck-daemon" SUBSEP "agent --check"
			if (med[a] > 0 && med[b] != "") { r = med[b] / med[a]; printf "| the same with sshd running, converged | %s (%s against %s) | %s |\n", fx(r), fs(med[a]), fs(med[b]), (r >= 500 ? "yes" : "no") }
			a = "hosts" SUBSEP "100000" SUBSEP "agent --check"; o = "hosts" SUBSEP "100000" SUBSEP "ssh -G"
			if (med[a] != "" && med[o] > 0) { r = med[a] / med[o]; printf "| 100,000 Host blocks: within 2× of `ssh -G` | %s (%s against %s) | %s |\n", fx(r), fs(med[a]), fs(med[o]), (r <= 2 && ex[a] != 1 ? "yes" : "no") }
			if (rss[a] != "") printf "| 100,000 Host blocks: < 100 MB | %s | %s |\n", fm(rss[a]), (rss[a] * 1024 < 100e6 ? "yes" : "no")
			a = "bigfile" SUBSEP "50 MB" SUBSEP "agent --check"
			if (med[a] != "") {
				printf "| 50 MB ssh_config: < 5 s | %s (exit %s) | %s |\n", fs(med[a]), ex[a], (med[a] < 5 && ex[a] != 1 ? "yes" : "no")
				p = rss[a] * 1024 / bytes["bigfile", "50 MB"]; printf "| 50 MB ssh_config: ≤ 10 bytes of memory per input byte | %.1f (%s) | %s |\n", p, fm(rss[a]), (p <= 10 ? "yes" : "no")
			}
			a = "dropins" SUBSEP "5000" SUBSEP "agent --check"
			if (med[a] != "") printf "| 5,000 drop-ins: < 0.2 s | %s (exit %s) | %s |\n", fs(med[a]), ex[a], (med[a] < 0.2 && ex[a] != 1 ? "yes" : "no")
			a = "dropins" SUBSEP "5000" SUBSEP "agent --check again"
			if (med[a] != "") printf "| the same, audit of unchanged files (the cron case) | %s (exit %s) | %s |\n", fs(med[a]), ex[a], (med[a] < 0.2 && ex[a] != 1 ? "yes" : "no")
			a = "dropins" SUBSEP "10000" SUBSEP "agent --check"; t = "dropins" SUBSEP "10000" SUBSEP "sshd -t"
			if (ex[a] != "") printf "| 10,000 drop-ins: works where `sshd -t` does | agent exit %s, `sshd -t` exit %s | %s |\n", ex[a], ex[t], (ex[a] != 1 || ex[t] != 0 ? "yes" : "no")
			print ""
		}' "$csv"
		if [ -s "$dir/errors.md" ]; then
			echo "## Errors"
			echo
			echo "| input | tool | exit | first line of stderr |"
			echo "|---|---|---:|---|"
			cat "$dir/errors.md"
			echo
		fi
		[ ! -s "$dir/finding.md" ] || cat "$dir/finding.md"
		echo "## Plot"
		echo
		echo "![median time and peak memory against input size, log-log](plot.svg)"
		echo
		echo "Median: hyperfine's median wall time. CPU: user + system time, hyperfine's mean over the same runs (less sensitive than wall time to other load on the machine). Peak RSS: GNU time's maximum resident set size (median of 3 runs, 1 run when a run takes over a second)."
		echo
		echo "Raw figures: [results.csv](results.csv) (times in seconds, peak RSS in KiB, load1 when the row was measured)."
	} >"$dir/results.md"
	plot "$dir"
}

# plot DIR: DIR/plot.svg, log-log, median wall time, CPU time and peak RSS
# against input bytes, from results.csv.
plot() {
	local dir=$1 data
	command -v gnuplot >/dev/null 2>&1 || {
		echo "bench/run.sh: no gnuplot; skipping the plot" >&2
		return 0
	}
	data=$(mktemp -d)
	# One file per line of the plot, sorted by input bytes: bytes, median (s),
	# peak RSS (KiB), CPU (s).
	awk -F, -v d="$data" 'NR > 1 && $10 != "" && $7 != "" {
		f = ""
		if (($1 == "hosts" || $1 == "bigfile") && $3 == "agent --check") f = "agent-ssh"
		if (($1 == "hosts" || $1 == "bigfile") && $3 == "ssh -G") f = "sshg"
		if ($1 == "dropins" && $3 == "agent --check") f = ($9 == 1 ? "agent-dropins-failed" : "agent-dropins")
		if ($1 == "dropins" && $3 == "sshd -T") f = "sshdT"
		if (f != "") print $7, $10, $16, $18 + $19 > (d "/" f ".raw")
	}
	NR > 1 && $1 == "floor" && $2 == "hello" && $10 != "" { printf "%g %g %g\n", $10 * 1000, $16 * 1024 / 1e6, ($18 + $19) * 1000 > (d "/hello") }' "$dir/results.csv"
	if ! compgen -G "$data/*.raw" >/dev/null; then
		echo "bench/run.sh: no growth series measured; no plot" >&2
		rm -rf "$data"
		return 0
	fi
	local f hello_t=NaN hello_m=NaN hello_c=NaN
	for f in agent-ssh sshg agent-dropins agent-dropins-failed sshdT; do
		if [ -s "$data/$f.raw" ]; then sort -n "$data/$f.raw" >"$data/$f.dat"; else echo "NaN NaN NaN NaN" >"$data/$f.dat"; fi
	done
	[ ! -s "$data/hello" ] || read -r hello_t hello_m hello_c <"$data/hello"
	gnuplot -e "data='$data'; out='$dir/plot.svg'; hello_t=$hello_t; hello_m=$hello_m; hello_c=$hello_c" "$here/plot.gp"
	rm -rf "$data"
}

case ${1:-} in
gobench)
	shift
	exec "$here/gobench.sh" "$@"
	;;
report)
	[ $# -eq 2 ] || die "usage: bench/run.sh report DIR"
	report "$2"
	exit 0
	;;
-h | --help)
	usage
	exit 0
	;;
esac

# --------------------------------------------------------------- options --

invocation="bench/run.sh${*:+ $*}"
quick=0 keep=0 install=1 rev='' only='floor,keepalive,hosts,keys,bigfile,dropins'
out=$repo/bench/results/latest
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--keep) keep=1 ;;
	--no-install) install=0 ;;
	--out) out=${2:?--out needs a directory} && shift ;;
	--rev) rev=${2:?--rev needs a revision} && shift ;;
	--only) only=${2:?--only needs a list} && shift ;;
	*)
		usage >&2
		exit 2
		;;
	esac
	shift
done
want() { [[ ",$only," == *",$1,"* ]]; }
for s in ${only//,/ }; do
	case $s in floor | keepalive | hosts | keys | bigfile | dropins) ;; *) die "unknown section $s" ;; esac
done

if ((quick)); then
	host_sizes=(100 1000)
	byte_sizes=(1000000)
	dropin_sizes=(1 10 100)
else
	host_sizes=(100 1000 10000 100000)
	byte_sizes=(1000000 50000000)
	dropin_sizes=(1 10 100 1000 5000 10000)
fi

[ "$(id -u)" -eq 0 ] || die "run as root: OpenSSH's figures need unshare -m and bind mounts"

# ----------------------------------------------------------------- tools --

need=()
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
command -v jq >/dev/null 2>&1 || need+=(jq)
[ -x /usr/bin/time ] || need+=(time)
[ -x /usr/bin/ssh ] && [ -x /usr/bin/ssh-keygen ] || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v gnuplot >/dev/null 2>&1 || need+=(gnuplot-nox)
if want keepalive; then
	command -v ansible-playbook >/dev/null 2>&1 || need+=(ansible-core)
fi
command -v go >/dev/null 2>&1 || die "no go on PATH (nor in /usr/local/go/bin)"
if [ ${#need[@]} -gt 0 ]; then
	((install)) || die "missing packages: ${need[*]} (run without --no-install, as root on Debian)"
	apt_install "${need[@]}"
fi
# sshd -T refuses to run without its privilege separation directory.
mkdir -p /run/sshd

work=$(mktemp -d "${TMPDIR:-/tmp}/sshconverge-bench.XXXXXX")
daemon_pid=''
cleanup() {
	stop_daemon
	if ((keep)); then echo "bench/run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p "$out" "$work/inputs" "$work/trees" "$work/empty"
out=$(cd "$out" && pwd)
rm -f "$out/results.csv" "$out/results.md" "$out/plot.svg" "$out/finding.md" "$out/machine.md" "$out/errors.md"
home=$(getent passwd "$(id -u)" | cut -d: -f6)
csv=$out/results.csv
echo "section,case,tool,blocks,files,lines,bytes,input_sha256,exit,median_s,mean_s,stddev_s,min_s,max_s,runs,rss_kb,load1,user_s,system_s" >"$csv"

# ----------------------------------------------------------------- build --

src=$repo
if [ -n "$rev" ]; then
	progress "exporting the agent's source at $rev"
	mkdir -p "$work/src"
	git -C "$repo" archive "$rev" | tar -x -C "$work/src"
	src=$work/src
fi
progress "building the agent (static: CGO_ENABLED=0 -trimpath -ldflags='-s -w'), the hello-world and bench/gen"
(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/agent" ./cmd/agent)
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/hello" ./bench/hello)
(cd "$repo" && go build -o "$work/gen" ./bench/gen)
ssh-keygen -q -t ed25519 -N '' -C sshconverge-bench -f "$work/hostkey"

if [ -n "$rev" ]; then
	agent_src="git revision $(git -C "$repo" rev-parse --short "$rev")"
else
	agent_src="work tree at $(git -C "$repo" rev-parse --short HEAD)"
	if [ -n "$(git -C "$repo" status --porcelain -- cmd pkg go.mod go.sum 2>/dev/null)" ]; then
		agent_src="$agent_src, with uncommitted changes in cmd/ pkg/ go.mod"
	fi
fi
# psi: the share of time some task waited for a CPU (Linux PSI), or "n/a".
psi() {
	awk '/^some/ {split($3, a, "="); printf "%s %% of the last minute some task waited for a CPU (PSI)", a[2]; found = 1} END {if (!found) print "n/a"}' /proc/pressure/cpu 2>/dev/null || echo n/a
}
{
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
	echo "| mode | $( ((quick)) && echo quick || echo full) (\`$invocation\`) |"
	echo "| agent | $agent_src; static binary of $(du -k "$work/agent" | cut -f1) KiB |"
	echo "| CPU | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores |"
	echo "| memory | $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) |"
	echo "| kernel | $(uname -sr) |"
	# shellcheck disable=SC1091
	echo "| OS | $(. /etc/os-release && echo "$PRETTY_NAME") |"
	echo "| Go | $(go version | cut -d' ' -f3-) |"
	echo "| OpenSSH | $(ssh -V 2>&1) |"
	echo "| hyperfine | $(hyperfine --version | cut -d' ' -f2) |"
	if want keepalive; then echo "| Ansible | $(ansible-playbook --version | head -1 | tr -d '[]'), $(/usr/bin/python3 --version) |"; fi
	echo "| load at start | $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) |"
	echo "| CPU pressure at start | $(psi) |"
} >"$out/machine.tmp"

# --------------------------------------------------------------- measure --

# q WORD…: the words quoted for hyperfine --shell=none (and for bash).
q() {
	local s
	s=$(printf '%q ' "$@")
	printf '%s' "${s% }"
}

# tree_meta ROOT: "files,lines,bytes,sha" of the configuration files under
# ROOT/etc/ssh (host keys and dot files left out); sha covers names and
# contents, so equal inputs show equal hashes across runs and machines.
tree_meta() {
	local files lines bytes sha
	files=$(cd "$1" && find etc/ssh -type f ! -name 'ssh_host_*' ! -name '.*' -print0 | sort -z | tr '\0' '\n')
	lines=$(cd "$1" && printf '%s\n' "$files" | tr '\n' '\0' | xargs -0 cat | wc -l)
	bytes=$(cd "$1" && printf '%s\n' "$files" | tr '\n' '\0' | xargs -0 cat | wc -c)
	sha=$(cd "$1" && printf '%s\n' "$files" | tr '\n' '\0' | xargs -0 sha256sum | sha256sum | cut -c1-16)
	printf '%s,%s,%s,%s' "$(printf '%s\n' "$files" | wc -l)" "$lines" "$bytes" "$sha"
}

# ns TREE CMD…: CMD with TREE/etc/ssh as /etc/ssh, in a private namespace.
ns() {
	local tree=$1
	shift
	sh "$here/ns.sh" "$tree" "$work/empty" "$home" "$@"
}

# start_daemon TREE: sshd -D on TREE's configuration, as a host's sshd
# runs: in a private mount namespace with TREE/etc/ssh over /etc/ssh and
# TREE/run over /run (checked to be private before anything is bound, as
# ns.sh does), and a network namespace of its own, so it listens on no
# address of the machine. Sets daemon_pid from its pid file.
start_daemon() {
	local tree=$1 outer i
	outer=$(readlink /proc/self/ns/mnt)
	mkdir -p "$tree/run/sshd"
	# shellcheck disable=SC2016 # the inner script expands its own arguments
	setsid unshare -m -n --propagation private /bin/sh -euc '
		[ "$(readlink /proc/self/ns/mnt)" != "$1" ] || { echo "not in a private mount namespace" >&2; exit 97; }
		mount --bind "$2/etc/ssh" /etc/ssh
		mount --bind "$2/run" /run
		exec /usr/sbin/sshd -D -E "$2/sshd.log"
	' start_daemon "$outer" "$tree" </dev/null >/dev/null 2>"$tree/start.err" &
	for ((i = 0; i < 100; i++)); do
		[ -s "$tree/run/sshd.pid" ] && daemon_pid=$(cat "$tree/run/sshd.pid") && return 0
		sleep 0.05
	done
	die "sshd did not start on $tree: $(cat "$tree/start.err" "$tree/sshd.log" 2>/dev/null)"
}

# state_dir ROOT: gives ROOT the agent's state directory, empty.
state_dir() { mkdir -p "$1/var/lib" && mkdir -m 700 "$1/var/lib/sshconverge"; }

# first_audit ROOT DESIRED: gives ROOT the agent's state directory and
# audits it (exit 2: drift), so that the state holds what a run
# remembers for the next: the cron-case rows measure the audits after it.
first_audit() {
	state_dir "$1"
	# sshd's verdict on files changed less than a clock tick before the
	# check is not remembered (a fresh copy's are): a second audit, on
	# files that have settled, remembers it.
	local i
	for i in 1 2; do
		"$work/agent" --check --root "$1" "$2" >/dev/null 2>&1 || true
		[ ! -s "$1/var/lib/sshconverge/accepted" ] || break
	done
}

# stop_daemon: stops the sshd start_daemon started, by its pid.
stop_daemon() {
	[ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
	daemon_pid=''
}

# nsa TREE: the same prefix as words, in the array NSA, for measure.
nsa() { NSA=(sh "$here/ns.sh" "$1" "$work/empty" "$home"); }

PREP='' RUNS=''

# measure SECTION CASE TOOL META [--ns] -- CMD…: appends one row to the CSV;
# META is "blocks,files,lines,bytes,sha".
# First CMD runs under GNU time (exit status, peak RSS; 3 times, median RSS,
# when it is quick), which also warms the page cache; then hyperfine times
# it (-N: no shell). With --ns, CMD is "${NSA[@]}" followed by an OpenSSH
# command, and both GNU time and hyperfine run inside the namespace, so the
# figures are OpenSSH's own. PREP, when set, is a
# command (hyperfine syntax) run before every run; RUNS, when set, fixes the
# number of timed runs. Only the agent's --check may exit non-zero (2 is
# drift, 1 an error: both are results); any other tool failing stops the run.
measure() {
	local section=$1 case=$2 tool=$3 meta=$4 nsmode=0
	shift 4
	if [ "$1" = --ns ]; then nsmode=1 && shift; fi
	[ "$1" = -- ] && shift
	local i rc rc0='' rssruns=3 rsss=() r w wall_ms=0
	for ((i = 0; i < rssruns; i++)); do
		[ -z "$PREP" ] || bash -c "$PREP"
		rm -f "$work/rss"
		rc=0
		if ((nsmode)); then
			BENCH_RSS_OUT=$work/rss "$@" </dev/null >"$work/stdout" 2>"$work/stderr" || rc=$?
		else
			/usr/bin/time -q -f '%M %e' -o "$work/rss" "$@" </dev/null >"$work/stdout" 2>"$work/stderr" || rc=$?
		fi
		[ -s "$work/rss" ] || die "$section $case $tool: no figures (exit $rc): $(tail -3 "$work/stderr")"
		read -r r w <"$work/rss"
		rsss+=("$r")
		if [ -z "$rc0" ]; then
			rc0=$rc
			wall_ms=$(awk -v w="$w" 'BEGIN {printf "%d", w * 1000}')
			((wall_ms < 1000)) || rssruns=1
		fi
	done
	local rss
	rss=$(printf '%s\n' "${rsss[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
	if ((rc0 != 0)) && [[ $tool != "agent --check"* ]]; then
		die "$section $case: $tool exits $rc0: $(head -c 500 "$work/stderr")"
	fi
	if ((rc0 == 1 || rc0 > 2)); then
		echo "    $tool exits $rc0: $(head -c 300 "$work/stderr" | tr '\n' ' ')" >&2
		local msg
		msg=$(head -1 "$work/stderr" | sed "s|$work/||g" | cut -c1-300 | tr "|\`" "/'")
		echo "| $section $case | $tool | $rc0 | \`$msg\` |" >>"$out/errors.md"
	fi

	local hf=(hyperfine -N --style none --export-json "$work/hf.json" --command-name "$tool")
	((rc0 == 0)) || hf+=(-i)
	if [ -n "$RUNS" ]; then
		hf+=(--runs "$RUNS")
		((wall_ms >= 1000)) || hf+=(--warmup 1)
	elif ((wall_ms >= 1000)); then
		hf+=(--runs $((quick ? 2 : 3)))
	elif ((wall_ms >= 100)); then
		hf+=(--runs $((quick ? 3 : 5)) --warmup 1)
	else
		hf+=(--warmup 3 --min-runs $((quick ? 5 : 20)) --max-runs $((quick ? 10 : 200)))
	fi
	[ -z "$PREP" ] || hf+=(--prepare "$PREP")
	local prefix=()
	if ((nsmode)); then
		# hyperfine itself runs in the namespace: the figures are OpenSSH's
		# alone, without the cost of making a namespace for every run.
		prefix=("${@:1:5}")
		shift 5
	fi
	hf+=("$(q "$@")")
	"${prefix[@]}" "${hf[@]}" 2> >(grep -v -e 'Ignoring non-zero exit code' -e '^[[:space:]]*$' >&2)
	local stats cpu
	stats=$(jq -r '.results[0] | [.median, .mean, .stddev, .min, .max, (.times | length)] | map(tostring) | join(",")' "$work/hf.json")
	cpu=$(jq -r '.results[0] | [.user, .system] | map(tostring) | join(",")' "$work/hf.json")
	local load row
	load=$(cut -d' ' -f1 /proc/loadavg)
	row="$section,$case,$tool,$meta,$rc0,$stats,$rss,$load,$cpu"
	echo "$row" >>"$csv"
	progress "$(awk -F, "$awk_fmt"' {printf "%s %s, %s: median %s, CPU %s, peak RSS %s, exit %s (%s runs, load %s)", $1, $2, $3, fs($10), fs($18 + $19), fm($16), $9, $15, $17}' <<<"$row")"
}

# record SECTION CASE TOOL META EXIT: a row with an exit status only.
record() {
	echo "$1,$2,$3,$4,$5,,,,,,,,$(cut -d' ' -f1 /proc/loadavg),," >>"$csv"
	progress "$1 $2, $3: exit $5"
}

# fresh DST SRC as a hyperfine --prepare command.
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
fresh() { q bash -c 'rm -rf "$1" && cp -a "$2" "$1"' fresh "$1" "$2"; }

# ------------------------------------------------------------------ floor --

section_floor() {
	progress "floor: a static Go hello-world"
	measure floor hello "go hello-world" ",,,," -- "$work/hello"
}

# -------------------------------------------------------------- keepalive --

ansible_env() {
	export ANSIBLE_CONFIG=$here/ansible/ansible.cfg ANSIBLE_HOME=$work/ansible-home
	export ANSIBLE_LOCAL_TEMP=$work/ansible-tmp ANSIBLE_REMOTE_TEMP=$work/ansible-tmp ANSIBLE_NOCOLOR=1
}

section_keepalive() {
	ansible_env
	local src=$work/inputs/keepalive t=$work/trees/keepalive desired=$repo/examples/keepalive.yaml
	local play=$here/ansible/keepalive.yml inv=$here/ansible/inventory.ini meta
	cp -a "$repo/examples/demo-root" "$src"
	cp "$work/hostkey" "$src/etc/ssh/ssh_host_ed25519_key"
	cp "$work/hostkey.pub" "$src/etc/ssh/ssh_host_ed25519_key.pub"
	meta=",$(tree_meta "$src")"
	PREP=$(fresh "$t" "$src")
	RUNS=$( ((quick)) && echo 2 || echo 10)
	progress "keepalive: audit and apply of examples/keepalive.yaml, agent against ansible-playbook ($RUNS runs each, fresh tree every run)"
	measure keepalive check "agent --check" "$meta" -- "$work/agent" --check --root "$t" "$desired"
	measure keepalive check "ansible-playbook --check" "$meta" -- ansible-playbook -i "$inv" --check -e "root=$t" "$play"
	# The cron case: the audit before this one saw the same files and left
	# sshd's verdict in the state directory (reconcile.Accepted). An agent
	# that keeps no such record (--rev of an older one) gets no row.
	# The earlier audit ran on the same root path as the measured ones (the
	# remembered key names how sshd is run, the tree's place included).
	local seeded=$work/inputs/keepalive-seeded
	bash -c "$(fresh "$t" "$src")"
	first_audit "$t" "$desired"
	cp -a "$t" "$seeded"
	if [ -s "$seeded/var/lib/sshconverge/accepted" ]; then
		# The cron-case rows take 10–40 ms: 100 runs each, for medians
		# that a noisy VM moves less.
		local runs=$RUNS
		RUNS=$( ((quick)) && echo 2 || echo 100)
		PREP=$(fresh "$t" "$seeded")
		measure keepalive recheck "agent --check" "$meta" -- "$work/agent" --check --root "$t" "$desired"
		# The same on a Debian host: dpkg's status file of 1,500 packages
		# (bench/gen -kind dpkg, 750 kB), which the agent reads on every
		# run to learn which files packages own (openssh-client has
		# ssh_config, so the ssh side's edit goes to a drop-in).
		local debian=$work/inputs/keepalive-debian
		"$work/gen" -kind dpkg -n 1500 -out "$work/inputs/dpkg" >/dev/null
		bash -c "$(fresh "$t" "$src")"
		cp -a "$work/inputs/dpkg/root/var" "$t/"
		first_audit "$t" "$desired"
		cp -a "$t" "$debian"
		PREP=$(fresh "$t" "$debian")
		measure keepalive recheck-debian "agent --check" "$meta" -- "$work/agent" --check --root "$t" "$desired"
		# The cron case of a host whose sshd runs, converged once (apply
		# and reload): the audit asks the daemon, in its own view, which
		# values it uses (sshd -T) and whether it accepts its files
		# (sshd -t) only when its files (read in its root), binary,
		# arguments or host keys changed since the last audit, which
		# remembered both. Exit 0: nothing to do.
		local live=$work/trees/keepalive-daemon
		bash -c "$(fresh "$live" "$src")"
		state_dir "$live"
		start_daemon "$live"
		"$work/agent" --reload signal --root "$live" "$desired" >"$work/daemon-apply.out" 2>&1 || die "agent apply on the running daemon's tree failed: $(tail -3 "$work/daemon-apply.out")"
		"$work/agent" --check --root "$live" "$desired" >/dev/null 2>&1 || true # the audit before
		PREP=''
		measure keepalive recheck-daemon "agent --check" "$meta" -- "$work/agent" --check --root "$live" "$desired"
		# What the timer runs on that host: the convergence itself, with
		# nothing to change (no write, no reload).
		measure keepalive reapply-daemon "agent" "$meta" -- "$work/agent" --root "$live" "$desired"
		stop_daemon
		PREP=$(fresh "$t" "$src") RUNS=$runs
	else
		progress "keepalive: this agent remembers no verdict of sshd; no repeated-audit row"
	fi
	measure keepalive apply "agent" "$meta" -- "$work/agent" --reload none --root "$t" "$desired"
	measure keepalive apply "ansible-playbook" "$meta" -- ansible-playbook -i "$inv" -e "root=$t" "$play"
	PREP='' RUNS=''

	progress "keepalive: does each tool's edit take effect? (sshd -T, ssh -G and agent show on each result)"
	local ta=$work/trees/after-agent tb=$work/trees/after-ansible
	cp -a "$src" "$ta"
	cp -a "$src" "$tb"
	"$work/agent" --reload none --root "$ta" "$desired" >/dev/null 2>&1 || die "agent apply failed on $ta"
	ansible-playbook -i "$inv" -e "root=$tb" "$play" >"$work/ansible.out" 2>&1 || die "ansible-playbook failed: $(tail -5 "$work/ansible.out")"
	local ansible_recap
	ansible_recap=$(grep -E '^localhost +:' "$work/ansible.out" | tr -s ' ' | cut -d: -f2- | sed 's/^ //; s/ $//')
	local tree side kw
	for tree in "$ta" "$tb"; do
		ns "$tree" /usr/sbin/sshd -T -h "$work/hostkey" </dev/null >"$tree.sshdT" 2>&1 || true
		ns "$tree" ssh -G examplehost </dev/null >"$tree.sshG" 2>&1 || true
	done
	# eff FILE KEYWORD: the value OpenSSH prints for KEYWORD.
	eff() { awk -v k="$2" '$1 == k {sub(/^[^ ]+ /, ""); print; exit}' "$1"; }
	local origin check_rc=0 check_line
	origin=$("$work/agent" show --root "$tb" sshd 2>/dev/null | awk '$1 == "ClientAliveInterval" {sub(/.*# /, ""); print; exit}')
	"$work/agent" --check --root "$tb" "$desired" >"$work/check-ansible.out" 2>&1 || check_rc=$?
	check_line=$(grep -m1 'ClientAliveInterval' "$work/check-ansible.out" || true)
	local ans_cai
	ans_cai=$(eff "$tb.sshdT" clientaliveinterval)
	{
		echo "## Does the edit take effect?"
		echo
		echo "Each tool applied the keepalive job once to its own fresh copy of the demo tree; then OpenSSH was asked what it uses (\`sshd -T\` with an ephemeral host key, \`ssh -G examplehost\`, each in a private mount namespace with the tree's etc/ssh as /etc/ssh)."
		echo
		echo "| setting | desired | after the agent | after ansible-playbook |"
		echo "|---|---|---|---|"
		while read -r side kw want; do
			local f=sshdT
			[ "$side" = sshd ] || f=sshG
			local va vb
			va=$(eff "$ta.$f" "$kw")
			vb=$(eff "$tb.$f" "$kw")
			echo "| $side $kw | $want | $va$([ "$va" = "$want" ] || echo " **(wrong)**") | $vb$([ "$vb" = "$want" ] || echo " **(wrong)**") |"
		done <<-'EOF'
			sshd clientaliveinterval 300
			sshd clientalivecountmax 2
			ssh hostname examplehost.com
			ssh serveraliveinterval 180
			ssh serveralivecountmax 2
		EOF
		echo
		if [ "$ans_cai" != 300 ]; then
			echo "**Finding:** \`ansible-playbook\` reported \`$ansible_recap\` and exited 0, yet sshd still uses \`ClientAliveInterval $ans_cai\`:"
			echo "the \`lineinfile\` edit (regexp \`^#?ClientAliveInterval\`) replaced the commented default in \`sshd_config\`,"
			echo "but \`${origin:-?}\` sets the keyword first (sshd_config includes sshd_config.d/*.conf on its first line, and the first value wins)."
			echo "\`agent show\` on Ansible's result names that line, and \`agent --check\` on it exits $check_rc: \`${check_line}\`."
		else
			echo "Ansible's edit took effect here: sshd uses ClientAliveInterval 300 after the playbook."
		fi
		echo
	} >"$out/finding.md"
	progress "keepalive: after ansible-playbook sshd uses ClientAliveInterval $ans_cai (${origin:-?}); after the agent $(eff "$ta.sshdT" clientaliveinterval)"
}

# ---------------------------------------------------- ssh_config growth --

# client_case SECTION CASE DIR: agent --check and ssh -G on a generated input.
client_case() {
	local section=$1 case=$2 d=$3 target meta
	target=$(sed -n 's/^target=//p' "$d/meta.env")
	meta="$(sed -n 's/^blocks=//p' "$d/meta.env"),$(tree_meta "$d/root")"
	measure "$section" "$case" "agent --check" "$meta" -- "$work/agent" --check --root "$d/root" "$d/desired.yaml"
	nsa "$d/root"
	measure "$section" "$case" "ssh -G" "$meta" --ns -- "${NSA[@]}" ssh -G "$target"
}

section_hosts() {
	local n d
	for n in "${host_sizes[@]}"; do
		d=$work/inputs/hosts-$n
		progress "hosts: generating an ssh_config with $n Host blocks"
		"$work/gen" -kind hosts -n "$n" -out "$d" >/dev/null
		client_case hosts "$n" "$d"
		((keep)) || rm -rf "$d"
	done
}

# planKeys are ssh keywords that no block of bench/gen's ssh_config sets,
# with values that are not their defaults (ServerAliveInterval and
# ServerAliveCountMax first: the hosts section's two).
planKeys=(ServerAliveInterval:180 ServerAliveCountMax:2 ConnectTimeout:9 ForwardAgent:yes
	Compression:yes StrictHostKeyChecking:accept-new TCPKeepAlive:no LogLevel:VERBOSE
	ConnectionAttempts:3 ForwardX11:yes IdentitiesOnly:yes PasswordAuthentication:no
	VisualHostKey:yes AddKeysToAgent:yes CheckHostIP:yes HashKnownHosts:no)

section_keys() {
	local n=${host_sizes[-1]} d k kv meta
	d=$work/inputs/keys
	progress "keys: generating an ssh_config with $n Host blocks"
	"$work/gen" -kind hosts -n "$n" -out "$d" >/dev/null
	meta="$n,$(tree_meta "$d/root")"
	for k in 1 2 4 8 16; do
		# desired.yaml up to the target block's settings, then k keys.
		{
			sed -n '1,/^      settings:$/p' "$d/desired.yaml"
			for kv in "${planKeys[@]:0:k}"; do echo "        ${kv%%:*}: \"${kv#*:}\""; done
		} >"$d/desired-$k.yaml"
		measure keys "$k" "agent --check" "$meta" -- "$work/agent" --check --root "$d/root" "$d/desired-$k.yaml"
	done
	((keep)) || rm -rf "$d"
}

section_bigfile() {
	local n d label
	for n in "${byte_sizes[@]}"; do
		label="$((n / 1000000)) MB"
		d=$work/inputs/bytes-$n
		progress "bigfile: generating a $label ssh_config"
		"$work/gen" -kind bytes -n "$n" -out "$d" >/dev/null
		client_case bigfile "$label" "$d"
		((keep)) || rm -rf "$d"
	done
}

# ------------------------------------------------------- drop-in growth --

section_dropins() {
	local n d meta rc
	for n in "${dropin_sizes[@]}"; do
		d=$work/inputs/dropins-$n
		progress "dropins: generating $n sshd drop-ins"
		"$work/gen" -kind dropins -n "$n" -out "$d" >/dev/null
		meta="$n,$(tree_meta "$d/root")"
		measure dropins "$n" "agent --check" "$meta" -- "$work/agent" --check --root "$d/root" "$d/desired.yaml"
		if [ "$n" = 5000 ]; then
			# The cron case: a state directory, and an audit before this one.
			first_audit "$d/root" "$d/desired.yaml"
			if [ -s "$d/root/var/lib/sshconverge/accepted" ]; then
				measure dropins "$n" "agent --check again" "$meta" -- "$work/agent" --check --root "$d/root" "$d/desired.yaml"
			fi
			rm -rf "$d/root/var"
		fi
		nsa "$d/root"
		measure dropins "$n" "sshd -T" "$meta" --ns -- "${NSA[@]}" /usr/sbin/sshd -T -h "$work/hostkey"
		rc=0
		ns "$d/root" /usr/sbin/sshd -t -h "$work/hostkey" </dev/null >/dev/null 2>"$work/stderr" || rc=$?
		record dropins "$n" "sshd -t" "$meta" "$rc"
		((keep)) || rm -rf "$d"
	done
}

# ------------------------------------------------------------------- run --

start=$SECONDS
for s in floor keepalive hosts keys bigfile dropins; do
	if want "$s"; then "section_$s"; fi
done
{
	cat "$out/machine.tmp"
	echo "| load at end | $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) |"
	echo "| CPU pressure at end | $(psi) |"
	echo "| duration | $((SECONDS - start)) s |"
	echo
} >"$out/machine.md"
rm -f "$out/machine.tmp"
report "$out"
progress "done in $((SECONDS - start)) s: $out/results.md, results.csv, plot.svg"
cat "$out/results.md"
