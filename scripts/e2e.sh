#!/usr/bin/env bash
# e2e.sh - SQL tests through a real PostgreSQL: installs the extension built by
# scripts/build-fdw.sh, starts a throwaway cluster (as the postgres user, on a free
# loopback port) and the sandbox upstreams (a separate process), then runs the Go
# tests in e2e/ against them. Everything is stopped and removed afterwards, also on
# failure. Extra arguments go to `go test` (e.g. -run Doc).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
export PATH=/usr/local/go/bin:$PATH

work=$(mktemp -d /tmp/tokens-e2e.XXXXXX)
chmod 755 "$work"
sandbox_pid=""
cluster="$work/pg"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $sandbox_pid ]]; then
		kill "$sandbox_pid" 2>/dev/null || true
		wait "$sandbox_pid" 2>/dev/null || true
	fi
	if ((rc != 0)) && [[ -f $cluster/server.log ]]; then
		echo "--- last lines of the PostgreSQL server log ($cluster/server.log) ---" >&2
		tail -n 40 "$cluster/server.log" >&2 || true
	fi
	scripts/pg-cluster.sh stop "$cluster" >/dev/null 2>&1 || true
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		if ! (: >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "e2e: no free port found" >&2
	return 1
}

[[ -s build/postgres/steampipe_postgres_tokens.so ]] || scripts/build-fdw.sh
scripts/pg-cluster.sh install build/postgres

echo "==> starting the sandbox upstreams" >&2
go build -o "$work/tokens-sandbox" ./cmd/tokens-sandbox
# E2E_SANDBOX_ARGS sizes the sandbox (make bench: 10,000 tokens and 25 ms of latency).
read -r -a sandbox_args <<<"${E2E_SANDBOX_ARGS:--vercel-tokens 250 -query-server-users 8 -clerk-users 6}"
"$work/tokens-sandbox" -listen 127.0.0.1:0 "${sandbox_args[@]}" \
	-config-out "$work/sandbox.hcl" -ready-file "$work/sandbox.addr" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 100); do
	[[ -s $work/sandbox.addr ]] && break
	kill -0 "$sandbox_pid" 2>/dev/null || { cat "$work/sandbox.log" >&2; exit 1; }
	sleep 0.1
done
[[ -s $work/sandbox.addr ]] || { echo "e2e: the sandbox did not start" >&2; exit 1; }
addr=$(cat "$work/sandbox.addr")

port=$(free_port)
# E2E_PG_LOG_LEVEL: the plugin's log level in PostgreSQL; at DEBUG the log is scanned for secrets.
log_level=${E2E_PG_LOG_LEVEL:-DEBUG}
echo "==> starting PostgreSQL on 127.0.0.1:$port (plugin logs at $log_level, query cache off)" >&2
scripts/pg-cluster.sh start "$cluster" "$port" STEAMPIPE_LOG_LEVEL="$log_level"

echo "==> SQL tests" >&2
TOKENS_E2E_DSN="postgres://postgres@127.0.0.1:$port/postgres" \
	TOKENS_E2E_SANDBOX="http://$addr" \
	TOKENS_E2E_CONFIG="$work/sandbox.hcl" \
	TOKENS_E2E_SERVER_LOG="$cluster/server.log" \
	TOKENS_E2E_LOG_LEVEL="$log_level" \
	go test -tags e2e -count=1 -v "$@" ./e2e/
