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

failed=()
for t in "${targets[@]}"; do
	pkg=${t%%:*} name=${t##*:}
	progress "fuzz $name ($pkg) for $fuzztime"
	# -fuzzminimizetime bounds the minimisation of new inputs, which
	# otherwise stalls the workers for up to a minute each time.
	if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" \
		-fuzzminimizetime 10s -parallel "$parallel" 2>&1 | grep --line-buffered -v '^fuzz: elapsed: .* (0/sec)'; then
		failed+=("$name")
		echo "$name found a failing input; it is in $pkg/testdata/fuzz/$name/ (commit it with the fix)" >&2
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzzing failed: ${failed[*]}" >&2
	exit 1
fi
progress "fuzzing passed: ${#targets[@]} targets, $fuzztime each"
