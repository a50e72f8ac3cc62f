#!/usr/bin/env bash
# bench.sh - make bench: the benchmark suite against the sandbox with 25 ms of latency
# per request, through the SDK's execution path and through PostgreSQL; writes
# BENCHMARKS.md and prints it. BENCH_COUNT runs of each scenario (default 3).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
export PATH=/usr/local/go/bin:$PATH
count=${BENCH_COUNT:-3}
out=build/bench
mkdir -p "$out"

echo "==> benchmarks through the SDK's execution path ($count runs each)" >&2
go test -run '^$' -bench . -benchtime 1x -count "$count" -timeout 60m ./tokens | tee "$out/sdk.txt" >&2

echo "==> benchmarks through PostgreSQL ($count runs each)" >&2
scripts/build-fdw.sh # incremental: never measure a stale extension
E2E_SANDBOX_ARGS="-vercel-tokens 10000 -query-server-users 1000 -latency 25ms" E2E_PG_LOG_LEVEL=WARN \
	scripts/e2e.sh -run '^$' -bench Postgres -benchtime 1x -count "$count" | tee "$out/postgres.txt" >&2

go run ./internal/tools/benchreport -o BENCHMARKS.md "$out/sdk.txt" "$out/postgres.txt"
