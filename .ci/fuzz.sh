#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZTIME, default 20s each)
# and fails on the first crasher. go test writes a failing input to the
# package's testdata/fuzz/<Target>/; commit it with the fix, and it stays
# in the seed corpus that every plain `go test` runs.
#
#   .ci/fuzz.sh                      # each target for 20s
#   FUZZTIME=5m .ci/fuzz.sh          # longer
#   FUZZ_PARALLEL=4 .ci/fuzz.sh      # more workers (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

fuzztime=${FUZZTIME:-20s}
parallel=${FUZZ_PARALLEL:-2}
# package:target, one per fuzz target of the module.
targets=(
	./pkg/files:FuzzRoundTrip
	./pkg/files:FuzzLoad
	./pkg/desired:FuzzDesiredParse
)

# A target missing here would never be fuzzed: list them all.
found=$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' pkg cmd | sed 's/^func //' | sort)
listed=$(printf '%s\n' "${targets[@]}" | sed 's/.*://' | sort)
if [ "$found" != "$listed" ]; then
	echo "fuzz targets in the code and in .ci/fuzz.sh differ:" >&2
	diff <(echo "$listed") <(echo "$found") >&2 || true
	exit 1
fi

# fuzz_one PKG NAME: fuzz one target; 0 when it passed, 1 when it failed,
# 2 when it stopped on Go's own race at the -fuzztime deadline
# (go.dev/issue/75804, unfixed in Go 1.26: under CPU contention the
# coordinator reports "context deadline exceeded" as a failure, and writes
# no failing input). A failing input always counts: go test writes it to
# PKG/testdata/fuzz/NAME/ before it stops.
fuzz_one() {
	local pkg=$1 name=$2 corpus=$1/testdata/fuzz/$2 log before
	log=$(mktemp)
	before=$(ls "$corpus" 2>/dev/null || true)
	# -fuzzminimizetime bounds the minimisation of new inputs, which
	# otherwise stalls the workers for up to a minute each time.
	if go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" \
		-fuzzminimizetime 10s -parallel "$parallel" 2>&1 | tee "$log" | grep --line-buffered -v '^fuzz: elapsed: .* (0/sec)'; then
		rm -f "$log"
		return 0
	fi
	local status=1
	if [ "$(ls "$corpus" 2>/dev/null || true)" = "$before" ] && grep -q '^    context deadline exceeded$' "$log"; then
		status=2
	fi
	rm -f "$log"
	return $status
}

failed=()
for t in "${targets[@]}"; do
	pkg=${t%%:*} name=${t##*:}
	progress "fuzz $name ($pkg) for $fuzztime"
	rc=0
	fuzz_one "$pkg" "$name" || rc=$?
	if [ $rc = 2 ]; then
		echo "$name: no failing input, but Go's fuzz coordinator hit its deadline race (go.dev/issue/75804); fuzzing it once more" >&2
		rc=0
		fuzz_one "$pkg" "$name" || rc=$?
	fi
	if [ $rc != 0 ]; then
		failed+=("$name")
		echo "$name failed; a failing input is in $pkg/testdata/fuzz/$name/ (commit it with the fix), else see the output above" >&2
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzzing failed: ${failed[*]}" >&2
	exit 1
fi
progress "fuzzing passed: ${#targets[@]} targets, $fuzztime each"
