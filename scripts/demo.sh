#!/usr/bin/env bash
# demo.sh - try the plugin without Steampipe: the standalone PostgreSQL extension in a
# local cluster that stays running, fed by the sandbox upstreams or by your credentials.
#
# Usage:
#   scripts/demo.sh [start]   (what `make demo` runs after building the extension)
#       Installs the extension (scripts/pg-cluster.sh install), starts a PostgreSQL 15
#       cluster in /tmp/tokens-demo/pg on 127.0.0.1:54329 (another free port if that one
#       is taken), creates the foreign server `tokens`, imports the tables into schema
#       `tokens`, runs some documented queries and prints how to open a psql prompt.
#       A demo already running is stopped first, so running it again starts afresh.
#   scripts/demo.sh stop
#       Stops the sandbox and the cluster and removes /tmp/tokens-demo.
#
# Upstreams:
#   If any of these is set in the environment, only your real credentials are used:
#     VERCEL_API_TOKEN [VERCEL_BASE_URL]   QUERY_SERVER_URL + QUERY_SERVER_TOKEN
#     CLERK_SECRET_KEY [CLERK_API_URL]
#   Otherwise the sandbox (cmd/tokens-sandbox, fake data and fake credentials) runs in
#   the background. Only with the sandbox does the demo mint a sign-in link
#   (sign_in_tokens); with a real Clerk key, creating sign-in tokens stays off.
#
# Secrets: credentials are never printed nor put on a command line; the SQL that carries
# them is a mode-0600 file run with `psql -f` and deleted at once. They are then stored in
# the cluster's catalog (the foreign server's options). The cluster trusts nobody: every
# connection needs the password of user postgres, made at random for each demo and kept
# only in DEMO_DIR/password and DEMO_DIR/pgpass (mode 0600: you and root), so other users
# of this machine can neither read the credentials nor act as superuser. Connect with
#   PGPASSFILE=/tmp/tokens-demo/pgpass scripts/pg-cluster.sh psql PORT
# The sandbox mode uses the password too (its credentials are fake, but a superuser
# login is also a shell as the postgres user: COPY ... TO PROGRAM). Stop the demo when done.
set -euo pipefail

DEMO_DIR=/tmp/tokens-demo
PREFERRED_PORT=54329
PG_BINDIR=/usr/lib/postgresql/${PG_MAJOR:-15}/bin
EXT=steampipe_postgres_tokens
MARKER=.tokens-demo # marks a directory made by this script: stop only removes such a dir

caller_pwd=$PWD
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
export PATH=/usr/local/go/bin:$PATH
umask 077 # every file written here is private; the dirs that must be shared are chmod-ed
# this script says which password file each pg-cluster.sh call uses (PGPASSWORD would win)
unset PG_CLUSTER_PASSWORD_FILE PGPASSWORD PGPASSFILE

# How to name this repo's scripts in messages: relative when run from the repo root.
if [[ $caller_pwd == "$repo" ]]; then here=""; else here="$repo/"; fi

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'demo: warning: %s\n' "$*" >&2; }

STEP="starting"
HINT=""
step() { # step NAME HINT: what runs now, and what to do if it fails
	STEP=$1
	HINT=$2
}
die() {
	printf '\ndemo: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

# ---------------------------------------------------------------- helpers

as_root() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

port_answers() { (: >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
	local p
	if ! port_answers "$PREFERRED_PORT"; then
		echo "$PREFERRED_PORT"
		return 0
	fi
	for p in $(shuf -i 20000-60000 -n 50); do
		if ! port_answers "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# The demo dir is a fixed name in the world-writable /tmp: use it only if it is a real
# directory of ours (not a symlink planted by someone else).
check_demo_dir() {
	[[ -e $DEMO_DIR || -L $DEMO_DIR ]] || return 0
	HINT="" # the message says what to do
	[[ -d $DEMO_DIR && ! -L $DEMO_DIR ]] || die "$DEMO_DIR exists and is not a plain directory (a symlink?): remove it and run again"
	[[ -O $DEMO_DIR ]] ||
		die "$DEMO_DIR belongs to another user ($(stat -c %U "$DEMO_DIR")): run '${here}scripts/demo.sh stop' as that user"
	[[ -f $DEMO_DIR/$MARKER || -z $(ls -A "$DEMO_DIR") ]] ||
		die "$DEMO_DIR was not made by demo.sh: remove it yourself and run again"
}

sandbox_alive() { # pid: is it our sandbox binary (not a recycled pid)?
	local exe
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	[[ ${exe% (deleted)} == "$DEMO_DIR/tokens-sandbox" ]]
}

# Stop whatever a demo left in DEMO_DIR (complete or half started) and remove the dir.
stop_demo() {
	check_demo_dir
	[[ -d $DEMO_DIR ]] || return 0
	local pid i
	pid=$(cat "$DEMO_DIR/sandbox.pid" 2>/dev/null || true)
	if [[ $pid =~ ^[0-9]+$ ]] && sandbox_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			sandbox_alive "$pid" || break
			sleep 0.1
		done
		if sandbox_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	if [[ -e $DEMO_DIR/pg ]]; then
		scripts/pg-cluster.sh stop "$DEMO_DIR/pg" >>"$DEMO_DIR/demo.log" 2>&1 ||
			die "could not stop the cluster in $DEMO_DIR/pg (see $DEMO_DIR/demo.log)"
	fi
	rm -rf -- "$DEMO_DIR"
}

hcl_string() { # quote $1 as an HCL string literal (builtins only: the value is a secret)
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\r'/\\r}
	s=${s//$'\t'/\\t}
	# shellcheck disable=SC2016 # literal ${ and %{, escaped as HCL template syntax
	s=${s//'${'/'$${'}
	s=${s//'%{'/'%%{'}
	printf '"%s"' "$s"
}

sql_string() { printf "'%s'" "${1//\'/\'\'}"; } # standard_conforming_strings is on

envset() { [[ -n ${!1:-} && -n ${!1//[[:space:]]/} ]]; } # set and not blank

# ---------------------------------------------------------------- failure handling

done_ok=0
owned=0 # set once this run has taken DEMO_DIR over: from then on a failure cleans it up
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if ((rc != 0 && done_ok == 0)); then
		if ((rc == 130)); then
			printf '\ndemo: interrupted while %s.\n' "$STEP" >&2
		else
			printf '\ndemo: FAILED while %s.\n' "$STEP" >&2
			[[ -z $HINT ]] || printf 'demo: what to do: %s\n' "$HINT" >&2
		fi
		if ((owned)); then
			((rc == 130)) || {
				if [[ -s $DEMO_DIR/demo.log ]]; then
					printf -- '--- last lines of the step log (%s) ---\n' "$DEMO_DIR/demo.log"
					tail -n 15 "$DEMO_DIR/demo.log"
				fi
				if [[ -s $DEMO_DIR/sandbox.log && $STEP == *sandbox* ]]; then
					printf -- '--- sandbox log ---\n'
					tail -n 15 "$DEMO_DIR/sandbox.log"
				fi
				if as_root test -s "$DEMO_DIR/pg/server.log" 2>/dev/null; then
					printf -- '--- last lines of the PostgreSQL server log ---\n'
					as_root tail -n 15 "$DEMO_DIR/pg/server.log"
				fi
			} >&2 || true
			(stop_demo) >/dev/null 2>&1 || true
			if [[ -e $DEMO_DIR ]]; then
				printf 'demo: could not clean up %s: run %sscripts/demo.sh stop\n' "$DEMO_DIR" "$here" >&2
			else
				printf 'demo: stopped what this run had started; nothing is left running.\n' >&2
			fi
		else
			printf 'demo: nothing was started or stopped.\n' >&2
		fi
	fi
	exit "$rc"
}

# One demo.sh at a time: the lock is this script file itself (no extra file in /tmp).
# Long-lived children (the sandbox, PostgreSQL) get fd 9 closed so they do not hold it.
take_lock() {
	exec 9<"${BASH_SOURCE[0]}"
	if ! flock -n 9; then
		say "another scripts/demo.sh is running: waiting for it (up to 5 minutes)"
		flock -w 300 9 || die "another scripts/demo.sh still holds the lock after 5 minutes"
	fi
}

# ---------------------------------------------------------------- stop

cmd_stop() {
	take_lock
	if [[ ! -e $DEMO_DIR && ! -L $DEMO_DIR ]]; then
		say "no demo is running ($DEMO_DIR does not exist): nothing to stop"
		return 0
	fi
	stop_demo
	say "stopped the demo (sandbox and PostgreSQL) and removed $DEMO_DIR"
}

# ---------------------------------------------------------------- start

cmd_start() {
	local t0=$SECONDS
	take_lock
	trap on_exit EXIT
	trap 'exit 130' INT TERM

	# -- which upstreams
	step "checking the credentials in the environment" \
		"set both QUERY_SERVER_URL and QUERY_SERVER_TOKEN, or neither"
	local mode=sandbox real=() v
	for v in VERCEL_API_TOKEN QUERY_SERVER_URL QUERY_SERVER_TOKEN CLERK_SECRET_KEY; do
		if envset "$v"; then mode=real; fi
	done
	if [[ $mode == real ]]; then
		if envset QUERY_SERVER_URL && ! envset QUERY_SERVER_TOKEN; then
			die "QUERY_SERVER_URL is set but QUERY_SERVER_TOKEN (an admin user token of that server) is not"
		fi
		if envset QUERY_SERVER_TOKEN && ! envset QUERY_SERVER_URL; then
			die "QUERY_SERVER_TOKEN is set but QUERY_SERVER_URL (the server's address) is not"
		fi
		envset VERCEL_API_TOKEN && real+=("Vercel")
		envset QUERY_SERVER_URL && real+=("Query Server")
		envset CLERK_SECRET_KEY && real+=("Clerk")
	fi
	if envset VERCEL_BASE_URL && ! envset VERCEL_API_TOKEN; then
		warn "VERCEL_BASE_URL is set without VERCEL_API_TOKEN: ignored"
	fi
	if envset CLERK_API_URL && ! envset CLERK_SECRET_KEY; then
		warn "CLERK_API_URL is set without CLERK_SECRET_KEY: ignored"
	fi
	if [[ $mode == real ]]; then
		local joined
		joined=$(printf '%s, ' "${real[@]}")
		say "using YOUR credentials from the environment (${joined%, }); no sandbox"
		envset CLERK_SECRET_KEY &&
			note "Clerk: the demo will not mint a sign-in link with a real key (creating stays off)"
	else
		say "no credentials in the environment: using the sandbox upstreams (fake data, fake credentials)"
		note "(set VERCEL_API_TOKEN, QUERY_SERVER_URL + QUERY_SERVER_TOKEN or CLERK_SECRET_KEY to use yours)"
	fi

	# -- prerequisites, before touching anything
	step "checking the prerequisites" ""
	if [[ $(id -u) -ne 0 ]] && ! sudo -n true 2>/dev/null; then
		HINT="run it as root, or give this user passwordless sudo (the extension is installed into PostgreSQL's directories and the cluster runs as the postgres user)"
		die "need root: not root and 'sudo -n' does not work"
	fi
	if [[ ! -x $PG_BINDIR/psql || ! -x $PG_BINDIR/initdb ]]; then
		HINT="install PostgreSQL 15 (apt-get install postgresql-15)"
		die "PostgreSQL 15 not found in $PG_BINDIR"
	fi
	if [[ $mode == sandbox ]] && ! command -v go >/dev/null; then
		HINT="install Go 1.26 into /usr/local/go, or set real credentials to run without the sandbox"
		die "go not found"
	fi
	local f
	for f in "$EXT.so" "$EXT.control" "$EXT--1.0.sql"; do
		if [[ ! -s build/postgres/$f ]]; then
			HINT="run 'make demo' (it builds first), or 'make fdw' then this script"
			die "build/postgres/$f is missing: the extension is not built"
		fi
	done

	# -- a demo already running: stop it, so this run starts from a known state
	step "checking for a demo already running in $DEMO_DIR" "run '${here}scripts/demo.sh stop', then try again"
	check_demo_dir
	owned=1
	if [[ -e $DEMO_DIR ]]; then
		local old_port
		old_port=$(cat "$DEMO_DIR/port" 2>/dev/null || echo "?")
		say "a demo is already running (port $old_port): stopping it first"
		stop_demo
	fi
	mkdir -m 0711 "$DEMO_DIR" || die "cannot create $DEMO_DIR"
	chmod 0711 "$DEMO_DIR" # the postgres user must reach pg/ inside; others may not list it
	: >"$DEMO_DIR/$MARKER"
	: >"$DEMO_DIR/demo.log"

	# -- the extension
	step "installing the extension" "check the messages above; 'make fdw' rebuilds build/postgres"
	say "installing the extension $EXT into PostgreSQL 15"
	scripts/pg-cluster.sh install build/postgres >>"$DEMO_DIR/demo.log" 2>&1

	# -- the upstreams
	local config_body="" sandbox_addr="" clerk_user=""
	if [[ $mode == sandbox ]]; then
		step "building the sandbox" "see the Go errors above; 'go build ./cmd/tokens-sandbox' shows them too"
		say "building and starting the sandbox upstreams (cmd/tokens-sandbox)"
		go build -o "$DEMO_DIR/tokens-sandbox" ./cmd/tokens-sandbox >>"$DEMO_DIR/demo.log" 2>&1

		step "starting the sandbox" "see the sandbox log above"
		# setsid: its own session, so it outlives this script and the terminal's Ctrl-C.
		setsid "$DEMO_DIR/tokens-sandbox" -listen 127.0.0.1:0 \
			-config-out "$DEMO_DIR/sandbox.hcl" -ready-file "$DEMO_DIR/sandbox.addr" \
			</dev/null >"$DEMO_DIR/sandbox.log" 2>&1 9<&- &
		local spid=$!
		echo "$spid" >"$DEMO_DIR/sandbox.pid"
		local i
		for ((i = 0; i < 100; i++)); do
			[[ -s $DEMO_DIR/sandbox.addr ]] && break
			kill -0 "$spid" 2>/dev/null || die "the sandbox exited at start"
			sleep 0.1
		done
		[[ -s $DEMO_DIR/sandbox.addr ]] || die "the sandbox did not start within 10 s"
		sandbox_alive "$spid" || die "pid $spid is not the sandbox"
		sandbox_addr=$(<"$DEMO_DIR/sandbox.addr")
		[[ -s $DEMO_DIR/sandbox.hcl ]] || die "the sandbox wrote no connection config"
		# the sandbox's config body, plus the flag that lets SQL mint sign-in links
		# (sandbox only: its Clerk is fake)
		{
			cat "$DEMO_DIR/sandbox.hcl"
			printf '\n# Added by scripts/demo.sh: minting is safe against the fake Clerk.\n'
			printf 'allow_sign_in_token_create = true\n'
		} >"$DEMO_DIR/connection.hcl"
		config_body=$(<"$DEMO_DIR/connection.hcl")
		# a Clerk user to mint a link for, from the sandbox's control API
		local state
		state=$(
			exec 3<>"/dev/tcp/${sandbox_addr%:*}/${sandbox_addr##*:}"
			printf 'GET /_sandbox/state HTTP/1.0\r\nHost: %s\r\n\r\n' "$sandbox_addr" >&3
			timeout 5 cat <&3
		) || die "could not read the sandbox state from http://$sandbox_addr/_sandbox/state"
		clerk_user=$(sed -n 's/.*"clerk_user_ids":\["\(user_[A-Za-z0-9]*\)".*/\1/p' <<<"$state")
		[[ -n $clerk_user ]] || die "the sandbox reports no Clerk user"
		note "sandbox at http://$sandbox_addr (pid $spid, log $DEMO_DIR/sandbox.log)"
	else
		# builtins only from here to the file: a secret never becomes a process argument
		config_body="# Written by scripts/demo.sh from the environment."$'\n'
		if envset VERCEL_API_TOKEN; then
			config_body+="vercel_api_token   = $(hcl_string "$VERCEL_API_TOKEN")"$'\n'
			envset VERCEL_BASE_URL && config_body+="vercel_base_url    = $(hcl_string "$VERCEL_BASE_URL")"$'\n'
		fi
		if envset QUERY_SERVER_URL; then
			config_body+="query_server_url   = $(hcl_string "$QUERY_SERVER_URL")"$'\n'
			config_body+="query_server_token = $(hcl_string "$QUERY_SERVER_TOKEN")"$'\n'
		fi
		if envset CLERK_SECRET_KEY; then
			config_body+="clerk_secret_key   = $(hcl_string "$CLERK_SECRET_KEY")"$'\n'
			envset CLERK_API_URL && config_body+="clerk_base_url     = $(hcl_string "$CLERK_API_URL")"$'\n'
			# allow_sign_in_token_create stays unset (false): no live links from a demo
		fi
	fi

	# -- PostgreSQL
	step "starting PostgreSQL" "see the server log above; '${here}scripts/demo.sh stop' clears a stale demo"
	local port
	port=$(pick_port) || die "no free port found on 127.0.0.1"
	echo "$port" >"$DEMO_DIR/port"
	[[ $port == "$PREFERRED_PORT" ]] || note "port $PREFERRED_PORT is taken: using $port"
	# Query cache ON: it is the SDK default, so the demo behaves as Steampipe does for
	# its users (pg-cluster.sh turns it off because tests count upstream requests). At
	# the prompt, a query repeated or narrowed (say, adding provider = 'vercel') within
	# 5 minutes in the same session is answered from memory instead of listing every
	# token again: quicker, and gentle on the real APIs' rate limits. The cost, results
	# up to 5 minutes old, is said in the closing notes (reconnect to refresh).
	# sign_in_tokens is never cached, so a mint always mints (checked).
	# The log level stays at its default: at INFO the wrapper logs the whole config.
	# A random password for user postgres, in two mode-0600 files: the bare password
	# (initdb's --pwfile, via pg-cluster.sh) and a pgpass file for psql and other libpq
	# clients. Made with builtins and pipes only: it is never a process argument.
	local pwfile=$DEMO_DIR/password pgpass=$DEMO_DIR/pgpass password
	password=$(head -c 24 /dev/urandom | base64 | tr '/+' '_-') # 32 characters, 192 bits
	[[ ${#password} -eq 32 ]] || die "could not make a password from /dev/urandom"
	printf '%s\n' "$password" >"$pwfile"
	printf '127.0.0.1:%s:*:postgres:%s\n' "$port" "$password" >"$pgpass"
	password=""
	chmod 0600 "$pwfile" "$pgpass"
	export PGPASSFILE=$pgpass # for every psql below
	say "starting PostgreSQL 15 on 127.0.0.1:$port (cluster $DEMO_DIR/pg, password required, query cache on)"
	PG_CLUSTER_PASSWORD_FILE=$pwfile scripts/pg-cluster.sh start "$DEMO_DIR/pg" "$port" STEAMPIPE_CACHE=true \
		>>"$DEMO_DIR/demo.log" 2>&1 9<&-

	# -- the foreign server: the SQL carrying the config is a 0600 file, deleted at once
	step "creating the foreign server and importing the tables" \
		"check the credentials (the error above comes from the plugin or PostgreSQL)"
	say "creating server tokens (FOREIGN DATA WRAPPER $EXT) and importing schema tokens"
	local setup=$DEMO_DIR/setup.sql
	{
		printf '%s\n' \
			'\set ON_ERROR_STOP 1' \
			'\set VERBOSITY terse' \
			'\set SHOW_CONTEXT never' \
			'-- a failing statement is otherwise copied, config and all, into the server log' \
			'set log_min_error_statement = panic;' \
			"create extension if not exists $EXT;" \
			"create server tokens foreign data wrapper $EXT options (config $(sql_string "$config_body"));" \
			'create schema tokens;' \
			'import foreign schema tokens from server tokens into tokens;' \
			'-- new sessions find the tables without a schema prefix' \
			'alter database postgres set search_path to tokens, public;'
	} >"$setup"
	config_body=""
	local rc=0
	scripts/pg-cluster.sh psql "$port" -q -f "$setup" >>"$DEMO_DIR/demo.log" 2>&1 || rc=$?
	rm -f -- "$setup"
	((rc == 0)) || die "psql failed (exit $rc)"
	local tables
	tables=$(scripts/pg-cluster.sh psql "$port" -At -c \
		"select string_agg(foreign_table_name, ', ' order by foreign_table_name) from information_schema.foreign_tables where foreign_table_schema = 'tokens'")
	note "tables: $tables"

	# -- the documented queries (kept in DEMO_DIR so they can be run again)
	step "running the demo queries" \
		"if an upstream refused, check that credential; the server log above has the plugin's view"
	local queries=$DEMO_DIR/queries.sql
	{
		cat <<'SQL'
-- Queries from docs/tables/*.md, run by scripts/demo.sh.
\set ON_ERROR_STOP 1
\pset pager off
\pset null '(null)'
set search_path to tokens, public;
set timezone to 'UTC';

\echo
\echo '### Every token: where it lives, its title, whether it is usable, when it expires (first 10; null = never)'
select
  provider,
  title,
  active,
  expires_at::timestamptz(0) as expires_at
from
  user_tokens
order by
  provider,
  title
limit 10;

\echo '### Active tokens that never expire (long-lived credentials)'
select
  provider,
  title,
  email,
  created_at::timestamptz(0) as created_at
from
  user_tokens
where
  active
  and expires_at is null
order by
  created_at;

\echo '### Active Vercel tokens not used in 90 days (safe to revoke)'
select
  name,
  last_used_at::timestamptz(0) as last_used_at,
  now()::date - last_used_at::date as idle_days
from
  user_tokens
where
  provider = 'vercel'
  and active
  and last_used_at < now() - interval '90 days'
order by
  last_used_at;

\echo '### Leaked tokens: Vercel found the secret in public (active ones need revoking now)'
select
  name,
  leaked_at::timestamptz(0) as leaked_at,
  leaked_url,
  active,
  suffix
from
  user_tokens
where
  leaked_at is not null
order by
  leaked_at desc;

\echo '### Tokens per provider'
select
  provider,
  count(*) as tokens,
  count(*) filter (where active) as active,
  count(*) filter (where active and expires_at is null) as never_expire,
  count(*) filter (where leaked_at is not null) as leaked
from
  user_tokens
group by
  provider
order by
  provider;
SQL
		if [[ $mode == sandbox ]]; then
			printf "\\\\set clerk_user '%s'\n" "$clerk_user"
			cat <<'SQL'

\echo '### Mint a sign-in link for a Clerk user (sandbox only; every run mints a new one)'
\echo '### (url and token hold the live link and are left out here)'
select
  id,
  user_id,
  status,
  expires_at::timestamptz(0) as expires_at
from
  sign_in_tokens
where
  user_id = :'clerk_user'
  and expires_in_seconds = 900;
SQL
		fi
	} >"$queries"
	chmod 0644 "$queries"
	scripts/pg-cluster.sh psql "$port" -q -f "$queries" || die "a demo query failed (psql exit $?)"

	# -- done
	done_ok=1
	local pgc="${here}scripts/pg-cluster.sh"
	echo
	say "the demo is running ($((SECONDS - t0)) s): $(
		if [[ $mode == sandbox ]]; then echo "sandbox upstreams"; else echo "your credentials"; fi
	), PostgreSQL on 127.0.0.1:$port"
	cat <<EOF

  Open a psql prompt on it (it asks for the password of user postgres, which is in
  $pgpass, mode 0600: only you, and root, can connect):
    PGPASSFILE=$pgpass ${pgc} psql $port
  or, with any psql client (or give it the password, the last field of that file):
    PGPASSFILE=$pgpass psql -h 127.0.0.1 -p $port -U postgres
  The tables are in schema tokens, which is already on the search_path of new sessions
  (elsewhere: set search_path to tokens;). Try:
    select provider, title, active, expires_at from user_tokens;
  More queries: ${here}docs/tables/user_tokens.md, ${here}docs/tables/sign_in_tokens.md.
  Run the queries above again:
    PGPASSFILE=$pgpass ${pgc} psql $port -f $queries
  Query results are cached for 5 minutes within a session: reconnect to see changes.

  Logs:
    PostgreSQL and the plugin:  $DEMO_DIR/pg/server.log$([[ $(id -u) -eq 0 ]] || echo " (read it with sudo)")
    this script's steps:        $DEMO_DIR/demo.log
EOF
	if [[ $mode == sandbox ]]; then
		cat <<EOF
    sandbox upstreams:          $DEMO_DIR/sandbox.log (pid $(<"$DEMO_DIR/sandbox.pid"), http://$sandbox_addr)
  Connection config the server uses (mode 0600): $DEMO_DIR/connection.hcl
EOF
	else
		cat <<EOF
  Your credentials are stored in the server's options: anyone who connects with the
  password can read them (the password file is yours and root's only; the cluster
  refuses connections without it). Stop the demo when you are done.
EOF
	fi
	cat <<EOF

  Stop everything ($([[ $mode == sandbox ]] && echo "sandbox, ")PostgreSQL, $DEMO_DIR):
    ${here}scripts/demo.sh stop
EOF
}

(($# <= 1)) || usage
case ${1:-start} in
start) cmd_start ;;
stop) cmd_stop ;;
*) usage ;;
esac
