#!/usr/bin/env bash
# pg-cluster.sh - throwaway PostgreSQL 15 clusters for the standalone extension
# built by scripts/build-fdw.sh.
#
# Usage:
#   scripts/pg-cluster.sh install [BUILD_DIR]
#       Copy steampipe_postgres_tokens.so into `pg_config --pkglibdir` and the
#       .control and --1.0.sql files into `pg_config --sharedir`/extension
#       (pg_config of /usr/lib/postgresql/15/bin). BUILD_DIR defaults to
#       <repo>/build/postgres. Needs root. Files are replaced by rename, so
#       backends that have the old .so mapped keep working.
#
#   scripts/pg-cluster.sh start DIR PORT [NAME=VALUE | -NAME ...]
#       initdb a cluster in DIR/data as the `postgres` user (DIR must be
#       reachable by that user: use a directory under /tmp), start it on
#       127.0.0.1:PORT only (no Unix socket), trust auth for loopback, -c jit=off,
#       fsync off, and wait until it accepts connections. The server runs with a
#       clean environment plus STEAMPIPE_CACHE=false (the SDK query cache would
#       otherwise hide repeated queries from the plugin) and any NAME=VALUE given,
#       e.g. STEAMPIPE_LOG_LEVEL=INFO or STEAMPIPE_CACHE=true; later ones win;
#       -NAME leaves NAME unset (-STEAMPIPE_CACHE: the SDK cache defaults to on).
#       Server log (plugin log lines included): DIR/server.log.
#       If the cluster in DIR is already running and answering on PORT it is left
#       alone (the extra environment is then NOT applied: stop first to change
#       it); otherwise a DIR made earlier by this script (failed start, crashed
#       or killed server) is wiped and the cluster made again from scratch.
#       With PG_CLUSTER_PASSWORD_FILE set (see below) the cluster trusts nobody:
#       every connection must give the password of user postgres (scram-sha-256).
#
#   scripts/pg-cluster.sh stop DIR
#       Fast shutdown (immediate if that fails) and remove DIR. No-op if DIR is gone.
#
#   scripts/pg-cluster.sh psql PORT [psql args...]
#       psql -X -h 127.0.0.1 -p PORT -U postgres -d postgres [args...], run as the
#       calling user (so -f files in its home are readable). For a cluster started
#       with a password, set PG_CLUSTER_PASSWORD_FILE, or PGPASSFILE (a pgpass file
#       with the line 127.0.0.1:PORT:*:postgres:PASSWORD).
#
#   scripts/pg-cluster.sh status DIR     exit 0 if the cluster in DIR is running
#
# Environment:
#   PG_CLUSTER_PASSWORD_FILE=FILE   opt-in password authentication
#       FILE holds the password on its first line and must not be readable by
#       group or others (chmod 600). start: initdb --auth=scram-sha-256 with that
#       password for user postgres (handed to initdb in a file, never as an
#       argument), and nothing is trusted. psql: connects with it through a
#       private temporary PGPASSFILE, removed when psql exits. Unset (the default,
#       used by e2e.sh and bench.sh): loopback connections are trusted, so anyone
#       on the machine who reaches the port is superuser: fine for throwaway
#       test clusters with fake credentials, not for real ones.
#
# Example:
#   scripts/build-fdw.sh && scripts/pg-cluster.sh install
#   scripts/pg-cluster.sh start /tmp/pgt 55432 STEAMPIPE_LOG_LEVEL=INFO
#   scripts/pg-cluster.sh psql 55432 -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION steampipe_postgres_tokens'
#   scripts/pg-cluster.sh stop /tmp/pgt
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
PG_BINDIR=/usr/lib/postgresql/${PG_MAJOR}/bin
PG_USER=postgres
EXT=steampipe_postgres_tokens
MARKER=.pg-cluster # marks a directory made by this script (stop only deletes such dirs)
AUTH_FILE=auth     # DIR/auth: how the cluster authenticates (trust or scram-sha-256)

die() {
	printf 'pg-cluster: error: %s\n' "$*" >&2
	exit 1
}
log() { printf 'pg-cluster: %s\n' "$*" >&2; }
usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

need_bin() {
	[[ -x $PG_BINDIR/$1 ]] || die "$PG_BINDIR/$1 not found (is postgresql-$PG_MAJOR installed?)"
}

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		die "need root to run: $*"
	fi
}

as_pg() { # run a command as the postgres OS user
	if [[ $(id -un) == "$PG_USER" ]]; then
		"$@"
	else
		(cd / && as_root runuser -u "$PG_USER" -- "$@")
	fi
}

check_port() {
	if ! [[ $1 =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > 65535)); then
		die "invalid port '$1'"
	fi
}

abs_dir() { # absolute path of $1 (need not exist yet); refuses / and empty
	local d=$1
	[[ -n $d ]] || die "empty directory argument"
	[[ $d == /* ]] || d=$PWD/$d
	d=$(realpath -m -- "$d")
	[[ $d != / ]] || die "refusing to use /"
	printf '%s' "$d"
}

pgctl() { as_pg env -i PATH="$PG_BINDIR:/usr/bin:/bin" LANG=C.UTF-8 "$PG_BINDIR/pg_ctl" "$@"; }

postmaster_pid() { # prints the postmaster pid of cluster dir $1 if it is alive (not a zombie)
	local pid comm state
	pid=$(as_pg head -n 1 "$1/data/postmaster.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	[[ $comm == postgres ]] || return 1
	state=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]] || return 1
	printf '%s' "$pid"
}

is_running() { postmaster_pid "$1" >/dev/null; }

# read_password: the password in PG_CLUSTER_PASSWORD_FILE into the global $password.
# Builtins only: the password never becomes a process argument.
password=""
read_password() {
	local f=$PG_CLUSTER_PASSWORD_FILE mode line=""
	[[ -f $f && -r $f ]] || die "PG_CLUSTER_PASSWORD_FILE=$f is not a readable file"
	mode=$(stat -L -c %a -- "$f") || die "cannot stat $f"
	if ((8#$mode & 8#077)); then
		die "PG_CLUSTER_PASSWORD_FILE=$f has mode $mode: others must not read it (chmod 600 $f)"
	fi
	IFS= read -r line <"$f" || true
	line=${line%$'\r'}
	[[ -n $line ]] || die "PG_CLUSTER_PASSWORD_FILE=$f: the first line (the password) is empty"
	[[ $line != *[[:cntrl:]]* ]] || die "PG_CLUSTER_PASSWORD_FILE=$f: the password holds control characters"
	password=$line
}

# how the cluster in dir $1 authenticates (dirs made before this was recorded: trust)
cluster_auth() { as_pg cat "$1/$AUTH_FILE" 2>/dev/null || echo trust; }

running_port() { as_pg sed -n 4p "$1/data/postmaster.pid" 2>/dev/null || true; }

shutdown_cluster() { # stop the postmaster of cluster dir $1, whatever it takes
	local pid i
	pid=$(postmaster_pid "$1") || return 0
	pgctl -D "$1/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
	if is_running "$1"; then
		log "fast shutdown failed; trying immediate"
		pgctl -D "$1/data" -m immediate -w -t 15 stop >/dev/null 2>&1 || true
	fi
	if is_running "$1"; then
		log "killing postmaster $pid"
		as_root kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 20; i++)); do
			is_running "$1" || break
			sleep 0.5
		done
	fi
}

cmd_install() {
	local src=${1:-}
	if [[ -z $src ]]; then
		src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)/build/postgres
	fi
	[[ -d $src ]] || die "build dir '$src' not found (run scripts/build-fdw.sh first)"
	local f
	for f in "$EXT.so" "$EXT.control" "$EXT--1.0.sql"; do
		[[ -s $src/$f ]] || die "$src/$f missing (run scripts/build-fdw.sh first)"
	done
	need_bin pg_config
	local libdir extdir
	libdir=$("$PG_BINDIR/pg_config" --pkglibdir)
	extdir=$("$PG_BINDIR/pg_config" --sharedir)/extension
	[[ -d $libdir && -d $extdir ]] || die "PostgreSQL dirs $libdir / $extdir not found"
	# copy to a temporary name, then rename: never rewrite a .so in place that a
	# running backend may have mapped
	put() { # src dest mode
		as_root install -m "$3" "$1" "$2.tmp.$$"
		as_root mv -f "$2.tmp.$$" "$2"
	}
	put "$src/$EXT.so" "$libdir/$EXT.so" 0755
	put "$src/$EXT.control" "$extdir/$EXT.control" 0644
	put "$src/$EXT--1.0.sql" "$extdir/$EXT--1.0.sql" 0644
	log "installed $EXT into $libdir and $extdir (new sessions load the new .so)"
}

cmd_start() {
	(($# >= 2)) || usage
	local dir port
	dir=$(abs_dir "$1")
	port=$2
	shift 2
	check_port "$port"
	local kv envs=(STEAMPIPE_CACHE=false)
	for kv in "$@"; do
		if [[ $kv =~ ^-([A-Za-z_][A-Za-z0-9_]*)$ ]]; then # -NAME: leave NAME unset
			local name=${BASH_REMATCH[1]} kept=() e
			for e in "${envs[@]}"; do [[ $e == "$name="* ]] || kept+=("$e"); done
			envs=("${kept[@]}")
			continue
		fi
		[[ $kv =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "extra environment must be NAME=VALUE or -NAME, got '$kv'"
		envs+=("$kv")
	done
	need_bin initdb
	need_bin pg_ctl
	need_bin pg_isready
	id "$PG_USER" >/dev/null 2>&1 || die "OS user '$PG_USER' does not exist"
	local auth=trust
	if [[ -n ${PG_CLUSTER_PASSWORD_FILE:-} ]]; then
		read_password
		auth=scram-sha-256
	fi

	if is_running "$dir"; then
		local rport rauth
		rport=$(running_port "$dir")
		[[ $rport == "$port" ]] ||
			die "a cluster is already running in $dir on port ${rport:-?}, not $port (stop it first)"
		rauth=$(cluster_auth "$dir")
		[[ $rauth == "$auth" ]] ||
			die "the cluster running in $dir uses $rauth authentication, not $auth (stop it first)"
		if "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres -t 5; then
			log "cluster in $dir already running on 127.0.0.1:$port (environment unchanged)"
			return 0
		fi
		log "cluster in $dir does not answer on port $port: recreating it"
		shutdown_cluster "$dir"
	fi
	if "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres -t 2; then
		die "something already accepts connections on 127.0.0.1:$port"
	fi

	# a dir left by a failed start or a crashed server: wipe it (only if it is ours or empty)
	if [[ -e $dir ]]; then
		if [[ -f $dir/$MARKER || -f $dir/$MARKER.ok || -z $(ls -A "$dir" 2>/dev/null) ]]; then
			log "removing stale cluster dir $dir"
			as_root rm -rf -- "$dir"
		else
			die "$dir exists and was not made by pg-cluster.sh: choose another dir"
		fi
	fi

	as_root mkdir -p -- "$dir"
	as_root touch -- "$dir/$MARKER"
	as_root chown -R "$PG_USER:" -- "$dir"
	as_root chmod 0700 -- "$dir"
	as_pg test -w "$dir" ||
		die "user $PG_USER cannot write $dir: a parent directory is not reachable by it (use a dir under /tmp)"
	local initdb_auth=(--auth=trust) initdb_rc=0
	if [[ $auth != trust ]]; then
		# initdb reads the password from a file: a copy the postgres user can read,
		# private inside the 0700 cluster dir, removed as soon as initdb is done
		(umask 077 && printf '%s\n' "$password" | as_pg tee "$dir/pwfile" >/dev/null) ||
			die "cannot write the password file for initdb in $dir"
		initdb_auth=(--auth="$auth" --pwfile="$dir/pwfile")
	fi
	as_pg env -i PATH="$PG_BINDIR:/usr/bin:/bin" LANG=C.UTF-8 \
		"$PG_BINDIR/initdb" -D "$dir/data" -U "$PG_USER" "${initdb_auth[@]}" --encoding=UTF8 --locale=C.UTF-8 \
		>"$dir/initdb.log" 2>&1 || initdb_rc=$?
	as_pg rm -f -- "$dir/pwfile"
	if ((initdb_rc != 0)); then
		cat "$dir/initdb.log" >&2
		die "initdb failed in $dir/data"
	fi
	# loopback only; trust, or nobody without the password
	if [[ $auth == trust ]]; then
		as_pg tee "$dir/data/pg_hba.conf" >/dev/null <<'EOF'
# written by pg-cluster.sh: throwaway cluster, loopback only, no passwords
local all all                trust
host  all all 127.0.0.1/32   trust
EOF
	else
		as_pg tee "$dir/data/pg_hba.conf" >/dev/null <<EOF
# written by pg-cluster.sh: loopback only, the password (PG_CLUSTER_PASSWORD_FILE) required
local all all                $auth
host  all all 127.0.0.1/32   $auth
EOF
	fi
	printf '%s\n' "$auth" | as_pg tee "$dir/$AUTH_FILE" >/dev/null
	as_pg tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# written by pg-cluster.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
jit = off
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
	as_pg touch "$dir/$MARKER.ok"

	printf '%s\n' "${envs[@]}" | as_pg tee "$dir/server.env" >/dev/null
	log "starting cluster $dir on 127.0.0.1:$port (auth: $auth, env: ${envs[*]:-none})"
	if ! as_pg env -i PATH="$PG_BINDIR:/usr/bin:/bin" LANG=C.UTF-8 HOME="$(getent passwd "$PG_USER" | cut -d: -f6)" \
		"${envs[@]}" \
		"$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c jit=off -c listen_addresses=127.0.0.1 -c port=$port" start >/dev/null; then
		tail -n 30 "$dir/server.log" >&2 || true
		die "server did not start; log: $dir/server.log"
	fi
	local i
	for ((i = 0; i < 60; i++)); do
		if "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres -t 1; then
			log "ready: $0 psql $port    (log: $dir/server.log)"
			return 0
		fi
		sleep 0.5
	done
	tail -n 30 "$dir/server.log" >&2 || true
	die "server in $dir does not accept connections on 127.0.0.1:$port"
}

cmd_stop() {
	(($# == 1)) || usage
	local dir
	dir=$(abs_dir "$1")
	if [[ ! -e $dir ]]; then
		log "$dir does not exist: nothing to stop"
		return 0
	fi
	[[ -f $dir/$MARKER || -f $dir/$MARKER.ok ]] ||
		die "$dir was not made by pg-cluster.sh: refusing to remove it"
	shutdown_cluster "$dir"
	as_root rm -rf -- "$dir"
	log "stopped and removed $dir"
}

cmd_psql() {
	(($# >= 1)) || usage
	local port=$1
	shift
	check_port "$port"
	need_bin psql
	local psql=("$PG_BINDIR/psql" -X -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres "$@")
	[[ -n ${PG_CLUSTER_PASSWORD_FILE:-} ]] || exec "${psql[@]}"
	# the password through a pgpass file of this psql's own (pgpass escapes \ and :)
	read_password
	local pw=${password//\\/\\\\}
	pw=${pw//:/\\:}
	psql_tmp=$(mktemp -d "${TMPDIR:-/tmp}/pg-cluster-psql.XXXXXX")
	trap 'rm -rf -- "$psql_tmp"' EXIT
	(umask 077 && printf '127.0.0.1:%s:*:%s:%s\n' "$port" "$PG_USER" "$pw" >"$psql_tmp/pgpass")
	pw=""
	password=""
	unset PGPASSWORD # it would win over the file
	local rc=0
	PGPASSFILE=$psql_tmp/pgpass "${psql[@]}" || rc=$?
	exit "$rc"
}

cmd_status() {
	(($# == 1)) || usage
	local dir
	dir=$(abs_dir "$1")
	if is_running "$dir"; then
		log "running: $dir (port $(sed -n 4p "$dir/data/postmaster.pid"))"
	else
		log "not running: $dir"
		return 1
	fi
}

(($# >= 1)) || usage
sub=$1
shift
case $sub in
install) cmd_install "$@" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
psql) cmd_psql "$@" ;;
status) cmd_status "$@" ;;
-h | --help | help) usage ;;
*)
	printf 'pg-cluster: unknown subcommand %s\n' "$sub" >&2
	usage
	;;
esac
