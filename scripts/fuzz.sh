#!/usr/bin/env bash
# Runs every fuzz target of the module, one after another, for a while each.
#
#   scripts/fuzz.sh [duration]      duration per target, as go test -fuzztime takes it
#                                   (default 1m; "3s", "10000x"); make fuzz passes FUZZTIME
#
# Targets are found with `go test -list '^Fuzz' ./...`. The corpus each run grows stays
# in the Go build cache ($(go env GOCACHE)/fuzz), out of the repository. A failing input
# is written to <package>/testdata/fuzz/<target>/: keep it, it becomes a regression test
# that plain `go test` runs. Set FUZZMINIMIZETIME (default 10s) to bound how long a new
# input is minimized; GO to use another go binary.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-1m}
GO=${GO:-go}
minimize=${FUZZMINIMIZETIME:-10s}

listing=$("$GO" test -list '^Fuzz' ./...) || {
	echo "$listing"
	echo "fuzz: listing the fuzz targets failed" >&2
	exit 1
}

# go test -list prints a package's target names, then "ok  <package>  <time>".
targets=()
names=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) names+=("$line") ;;
	ok*)
		pkg=$(awk '{print $2}' <<<"$line")
		for name in ${names[@]+"${names[@]}"}; do
			targets+=("$pkg $name")
		done
		names=()
		;;
	esac
done <<<"$listing"

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

echo "fuzz: ${#targets[@]} targets, $duration each"
failed=()
for target in "${targets[@]}"; do
	read -r pkg name <<<"$target"
	echo "=== $name ($pkg)"
	start=$SECONDS
	if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$duration" -fuzzminimizetime "$minimize" "$pkg"; then
		echo "--- $name passed ($((SECONDS - start))s)"
	else
		echo "--- $name FAILED ($((SECONDS - start))s)"
		failed+=("$name ($pkg)")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed"
