#!/usr/bin/env bash
# Run every native Go fuzz target in the module for DURATION each, one
# target at a time, and print a summary (target, status, last exec count).
#
#   bench/fuzz.sh [DURATION]        DURATION as for -fuzztime (default 5m)
#
# Environment: FUZZ_PARALLEL (workers per target, default 1: the test
# machines are small and shared), FUZZ_PKGS (packages to search, default
# ./...). Targets are found with `go test -list '^Fuzz'`. A failing target
# leaves its crasher under <pkg>/testdata/fuzz/<Target>/; keep it as a seed
# once fixed. Exit status: non-zero if any target failed or a package's
# tests did not build.
set -uo pipefail

dur=${1:-5m}
parallel=${FUZZ_PARALLEL:-1}
cd "$(dirname "$0")/.." || exit 2
logdir=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
summary=()
fail=0

# shellcheck disable=SC2086
pkgs=$(go list ${FUZZ_PKGS:-./...}) || exit 2
for pkg in $pkgs; do
	if ! list=$(go test -list '^Fuzz' "$pkg" 2>&1); then
		echo "fuzz.sh: cannot list tests of $pkg:" >&2
		echo "$list" >&2
		summary+=("$pkg (build) FAIL")
		fail=1
		continue
	fi
	for t in $(grep '^Fuzz' <<<"$list"); do
		log="$logdir/$(tr '/' '_' <<<"$pkg").$t.log"
		echo "== $pkg $t for $dur (-parallel $parallel)"
		start=$(date +%s)
		if go test -run '^$' -fuzz "^${t}\$" -fuzztime "$dur" -parallel "$parallel" "$pkg" 2>&1 | tee "$log"; then
			status=ok
		else
			status=FAIL
			fail=1
		fi
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
		summary+=("$pkg $t $status wall=$(($(date +%s) - start))s execs=${execs:-?}")
	done
done

echo
echo "== fuzz summary (logs in $logdir)"
printf '%s\n' "${summary[@]}"
exit $fail
