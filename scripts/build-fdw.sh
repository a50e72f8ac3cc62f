#!/usr/bin/env bash
# build-fdw.sh - build the plugin as a standalone PostgreSQL 15 extension
# (the Steampipe Postgres FDW with this plugin compiled in).
#
# Usage: scripts/build-fdw.sh [REPO_DIR]
#
#   REPO_DIR  the plugin repository (default: the repo containing this script).
#             Its go.mod names the plugin module; the package <module>/tokens
#             must export `func Plugin(context.Context) *plugin.Plugin`.
#
# Result: exactly three files in REPO_DIR/build/postgres/
#   steampipe_postgres_tokens.so  steampipe_postgres_tokens.control
#   steampipe_postgres_tokens--1.0.sql
# Install and run them with scripts/pg-cluster.sh.
#
# What it does:
#   1. installs missing build dependencies with apt-get (as root): rsync, make,
#      gcc, gettext-base and postgresql-server-dev-15 PINNED to the installed
#      postgresql-15 version (an unpinned install would upgrade the server);
#   2. fetches github.com/turbot/steampipe-postgres-fdw at exactly FDW_VERSION
#      from the Go module proxy and copies it to a writable work dir;
#   3. points the copy's go.mod at REPO_DIR (go mod edit -replace) and copies
#      over the plugin's own replace directives (relative paths made absolute);
#   4. runs the fdw Makefile's `standalone` target with all three positional
#      arguments, with /usr/lib/postgresql/15/bin first on PATH (pg_config);
#   5. strips debug info from the .so (about 115 MB -> 72 MB) when the stripped
#      file keeps the same dynamic symbols, and copies the result out.
#
# Up to date: after a successful build, FDW_CACHE_DIR/built-from records a hash of
# the build's inputs and the sha256 of the three files it produced. The inputs:
# FDW_VERSION, the patch id, the replace directives, go.mod and go.sum, every Go
# (and embedded, C, ...) file of the plugin's own packages that <module>/tokens
# imports, as listed by `go list -deps` (test files are not listed), the Go, cgo and
# PostgreSQL versions, FDW_STRIP and this script. When build/postgres holds the
# three files and both hashes match, nothing is built ("up to date", about a
# second). The record is removed before a build starts and written only once the
# new files are in place, so a failed or interrupted build never leaves a record
# that claims the old files are current; sources edited during a build are not
# recorded either (the next run builds again).
#
# Environment:
#   FDW_VERSION    fdw module version (default v1.13.0; always pinned)
#   FDW_CACHE_DIR  work dir kept between runs (default REPO_DIR/.cache/fdw)
#   FDW_GOCACHE    Go build cache (default: `go env GOCACHE`, shared with other
#                  Go builds on the machine so a fresh clone builds warm)
#   FDW_STRIP      1 (default) strip debug info, 0 keep it
#   FDW_VERBOSE    1 streams the make output (default: to FDW_CACHE_DIR/make.log)
#   FDW_FORCE      1 builds even when build/postgres is up to date
#   PG_MAJOR       PostgreSQL major version (default 15)
#
# Timings measured on 2 cores: cold (empty Go build cache) 4.5 to 6 minutes;
# warm 12 to 17 seconds, also after a plugin source change; a fresh clone on a
# machine whose Go build cache is warm about 40 seconds. The Go build cache does
# the incremental work: the fdw Makefile recreates its own work/ tree each run.
# On failure the previous files in build/postgres are left as they were.
set -euo pipefail

FDW_MODULE=github.com/turbot/steampipe-postgres-fdw
FDW_VERSION=${FDW_VERSION:-v1.13.0}
PG_MAJOR=${PG_MAJOR:-15}
PG_BINDIR=/usr/lib/postgresql/${PG_MAJOR}/bin
PLUGIN_ALIAS=tokens
FDW_STRIP=${FDW_STRIP:-1}
FDW_VERBOSE=${FDW_VERBOSE:-0}
FDW_FORCE=${FDW_FORCE:-0}
PATCH_ID=redact-config-v1+sdk-local-error-v1 # bump when redact_config_logging or patch_sdk changes

STEP="starting"
T0=$(date +%s)

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'build-fdw: warning: %s\n' "$*" >&2; }
die() {
	printf 'build-fdw: error: %s\n' "$*" >&2
	exit 1
}
step() {
	STEP=$1
	log "[$(($(date +%s) - T0))s] $1"
}
on_err() {
	local rc=$?
	printf 'build-fdw: error: step "%s" failed (exit %s, line %s)\n' "$STEP" "$rc" "$1" >&2
	exit "$rc"
}
trap 'on_err $LINENO' ERR

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=${1:-$script_dir/..}
[[ -d $REPO ]] || die "repo dir '$REPO' does not exist"
REPO=$(cd "$REPO" && pwd -P)
[[ -f $REPO/go.mod ]] || die "no go.mod in '$REPO' (pass the plugin repo dir as the first argument)"

# --- Go -----------------------------------------------------------------------
step "checking Go"
if ! command -v go >/dev/null 2>&1; then
	[[ -x /usr/local/go/bin/go ]] || die "go not found on PATH nor at /usr/local/go/bin/go"
	PATH=/usr/local/go/bin:$PATH
fi
log "$(go version)"

# --- system dependencies ------------------------------------------------------
as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		die "need root to run: $*"
	fi
}

apt_updated=0
apt_log=${TMPDIR:-/tmp}/build-fdw-apt.$$.log
apt_install() {
	log "apt-get install $* (output: $apt_log)"
	if [[ $apt_updated -eq 0 ]]; then
		if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$apt_log" 2>&1; then
			tail -n 20 "$apt_log" >&2
			die "apt-get update failed (needed to install: $*); log: $apt_log"
		fi
		apt_updated=1
	fi
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$apt_log" 2>&1; then
		tail -n 20 "$apt_log" >&2
		die "apt-get install $* failed; log: $apt_log"
	fi
}

pkg_version() { # prints the installed version of a Debian package, or nothing
	{ dpkg-query -W -f='${Status}\t${Version}\n' "$1" 2>/dev/null || true; } |
		awk -F'\t' '$1 == "install ok installed" { print $2 }'
}

step "checking build dependencies"
command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script expects Debian/Ubuntu"
if [[ -z $(pkg_version "postgresql-$PG_MAJOR") ]]; then
	warn "postgresql-$PG_MAJOR is not installed; installing it"
	apt_install "postgresql-$PG_MAJOR"
fi
server_version=$(pkg_version "postgresql-$PG_MAJOR")

missing=()
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v strip >/dev/null 2>&1 || missing+=(binutils)
command -v gettext >/dev/null 2>&1 || missing+=(gettext-base)
dev_version=$(pkg_version "postgresql-server-dev-$PG_MAJOR")
if [[ -z $dev_version ]]; then
	missing+=("postgresql-server-dev-$PG_MAJOR=$server_version")
elif [[ $dev_version != "$server_version" ]]; then
	warn "postgresql-server-dev-$PG_MAJOR $dev_version differs from the server postgresql-$PG_MAJOR $server_version (headers of another minor release; usually compatible)"
fi
if ((${#missing[@]})); then
	apt_install "${missing[@]}"
	after=$(pkg_version "postgresql-$PG_MAJOR")
	[[ $after == "$server_version" ]] ||
		warn "postgresql-$PG_MAJOR changed from $server_version to $after during the install"
fi
for tool in rsync make gcc strip gettext; do
	command -v "$tool" >/dev/null 2>&1 || die "'$tool' is still missing after the install step"
done
[[ -x $PG_BINDIR/pg_config ]] ||
	die "$PG_BINDIR/pg_config not found (it comes with postgresql-server-dev-$PG_MAJOR)"
PATH=$PG_BINDIR:$PATH # the fdw Makefile calls plain `pg_config`
export PATH
[[ -f $(pg_config --includedir-server)/postgres.h ]] ||
	die "PostgreSQL server headers missing in $(pg_config --includedir-server) (install postgresql-server-dev-$PG_MAJOR=$server_version)"
log "$(pg_config --version) (server package $server_version), rsync $(rsync --version | awk 'NR==1{print $3}')"

# --- plugin module --------------------------------------------------------------
step "reading $REPO/go.mod"
mod_json=$(cd "$REPO" && go mod edit -json) || die "cannot parse $REPO/go.mod"
MODULE=$(printf '%s\n' "$mod_json" | awk -F'"' '/^\t"Module": \{/ { m = 1; next } m && /"Path":/ && !done { print $4; done = 1 }')
[[ -n $MODULE ]] || die "no module path in $REPO/go.mod"
[[ -d $REPO/$PLUGIN_ALIAS ]] ||
	die "$REPO/$PLUGIN_ALIAS/ not found: the fdw template imports $MODULE/$PLUGIN_ALIAS and calls $PLUGIN_ALIAS.Plugin"
# the plugin's replace directives, one per line: old-path old-version new-path new-version ("-" = none)
replaces=$(printf '%s\n' "$mod_json" | awk -F'"' '
	/^\t"Replace": \[/ { r = 1; next }
	r && /^\t\]/ { r = 0 }
	r && /"Old": \{/ { side = "old" }
	r && /"New": \{/ { side = "new" }
	r && /"Path":/ { if (side == "old") op = $4; else np = $4 }
	r && /"Version":/ { if (side == "old") ov = $4; else nv = $4 }
	r && /^\t\t\}/ {
		print op, (ov == "" ? "-" : ov), np, (nv == "" ? "-" : nv)
		op = ov = np = nv = ""
	}')
replace_args=("-replace=$MODULE=$REPO")
while read -r op ov np nv; do
	[[ -n ${op:-} ]] || continue
	[[ $op != "$MODULE" ]] || continue
	old=$op
	[[ $ov == - ]] || old+="@$ov"
	if [[ $nv == - ]]; then # a directory
		[[ $np == /* ]] || np=$(cd "$REPO/$np" 2>/dev/null && pwd -P) ||
			die "replace $op => $np: directory not found relative to $REPO"
		new=$np
	else
		new="$np@$nv"
	fi
	replace_args+=("-replace=$old=$new")
done <<<"$replaces"
log "plugin module $MODULE ($((${#replace_args[@]} - 1)) replace directive(s) carried over)"

# --- work dir -------------------------------------------------------------------
CACHE=${FDW_CACHE_DIR:-$REPO/.cache/fdw}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd -P)
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null 2>&1; then
	flock -w 1800 9 || die "another build-fdw.sh holds $CACHE/.lock"
fi
GOCACHE=${FDW_GOCACHE:-$(go env GOCACHE)}
export GOCACHE
log "work dir: $CACHE   Go build cache: $GOCACHE"

# --- up to date? -------------------------------------------------------------------
OUT=$REPO/build/postgres
base=steampipe_postgres_$PLUGIN_ALIAS
outputs=("$base.so" "$base.control" "$base--1.0.sql")
BUILT_FROM=$CACHE/built-from
self=$script_dir/$(basename "${BASH_SOURCE[0]}")

# The files of the plugin's own packages (the main module and modules replaced by a
# directory) that the fdw build compiles, with the fdw's build settings (cgo, netgo),
# plus those modules' go.mod. Files excluded by build constraints are listed too (a
# changed constraint changes the build), test files (*_test.go) are not.
# shellcheck disable=SC2016 # a Go template, not shell
go_files_tmpl='{{if and .Module (not .Standard)}}{{if or .Module.Main (and .Module.Replace (not .Module.Replace.Version))}}{{$d := .Dir}}{{.Module.GoMod}}
{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .CgoFiles}}{{$d}}/{{.}}
{{end}}{{range .IgnoredGoFiles}}{{$d}}/{{.}}
{{end}}{{range .CFiles}}{{$d}}/{{.}}
{{end}}{{range .HFiles}}{{$d}}/{{.}}
{{end}}{{range .SFiles}}{{$d}}/{{.}}
{{end}}{{range .SysoFiles}}{{$d}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}
{{end}}{{end}}{{end}}'

# inputs_hash: prints the sha256 of everything the extension is built from; fails
# (prints nothing) when that cannot be told, e.g. a package does not load
inputs_hash() {
	local files h
	files=$(cd "$REPO" && CGO_ENABLED=1 go list -deps -tags netgo -f "$go_files_tmpl" "./$PLUGIN_ALIAS" 2>/dev/null |
		awk '!/_test\.go$/' | LC_ALL=C sort -u) || return 1
	[[ -n $files ]] || return 1
	h=$({
		printf 'build-fdw inputs v1\n'
		printf 'fdw %s@%s patch %s\n' "$FDW_MODULE" "$FDW_VERSION" "$PATCH_ID"
		printf 'replace %s\n' "${replace_args[*]}"
		printf 'strip %s platform %s\n' "$FDW_STRIP" "$(uname -sm)"
		go version || exit 1
		(cd "$REPO" && CGO_ENABLED=1 go env GOOS GOARCH GOAMD64 GOFLAGS GOEXPERIMENT CC CGO_CFLAGS CGO_LDFLAGS) || exit 1
		printf 'pg %s, server-dev %s\n' "$(pg_config --version)" "$(pkg_version "postgresql-server-dev-$PG_MAJOR")"
		sha256sum -- "$self" "$REPO/go.mod" "$REPO/go.sum" || exit 1
		printf '%s\n' "$files" | xargs -d '\n' sha256sum -- || exit 1
	} | sha256sum) || return 1
	printf '%s' "${h%% *}"
}

# up_to_date HASH: build/postgres holds the files recorded in built-from, made from HASH
up_to_date() {
	local f
	[[ -f $BUILT_FROM ]] || { log "no record of a previous build ($BUILT_FROM)"; return 1; }
	[[ $(head -n 1 "$BUILT_FROM") == "inputs $1" ]] || { log "the inputs changed since the last build"; return 1; }
	for f in "${outputs[@]}"; do
		[[ -s $OUT/$f ]] || { log "$OUT/$f is missing"; return 1; }
	done
	tail -n +2 "$BUILT_FROM" | (cd "$OUT" && sha256sum --quiet --strict -c -) >/dev/null 2>&1 ||
		{ log "the files in $OUT are not the ones last built"; return 1; }
}

step "checking whether $OUT is up to date"
# The SDK the extension is built with: the plugin's version, patched (patch_sdk).
SDK_MODULE=github.com/turbot/steampipe-plugin-sdk/v5
SDK_VERSION=$(cd "$REPO" && go list -m -f '{{.Version}}' "$SDK_MODULE") || die "cannot read the $SDK_MODULE version of $REPO"
SDK_COPY=$CACHE/sdk-$SDK_VERSION
replace_args+=("-replace=$SDK_MODULE=$SDK_COPY")

inputs=$(inputs_hash) || inputs=""
[[ -n $inputs ]] || warn "cannot list the plugin's source files (go list -deps ./$PLUGIN_ALIAS failed): building"
if [[ $FDW_FORCE == 1 ]]; then
	log "FDW_FORCE=1: building"
elif [[ -n $inputs ]] && up_to_date "$inputs"; then
	trap - ERR
	log "[$(($(date +%s) - T0))s] up to date: $OUT was built from exactly the current inputs; nothing to do (FDW_FORCE=1 rebuilds)"
	exit 0
fi
# from here until the new files are in place, nothing claims that build/postgres is current
rm -f -- "$BUILT_FROM"

step "fetching $FDW_MODULE@$FDW_VERSION from the module proxy"
dl_json=$(cd / && go mod download -json "$FDW_MODULE@$FDW_VERSION" 2>&1) || true
FDW_SRC=$(printf '%s\n' "$dl_json" | awk -F'"' '/^\t"Dir":/ { print $4 }')
if [[ -z $FDW_SRC || ! -f $FDW_SRC/Makefile ]]; then
	printf '%s\n' "$dl_json" >&2
	die "go mod download $FDW_MODULE@$FDW_VERSION failed (the proxy refuses @latest and unlisted versions: pin an exact one)"
fi

# The wrapper logs each connection's whole config (secrets included) at INFO and
# TRACE. The plugin never logs a secret, and neither may the extension we ship:
# log the config's size instead. A pattern that is not found fails the build, so
# a new fdw version cannot quietly bring the leak back.
redact_config_logging() {
	local src=$1 file pattern replacement
	while IFS='|' read -r file pattern replacement; do
		[[ -n $file ]] || continue
		grep -qF -- "$pattern" "$src/$file" ||
			die "cannot redact config logging: '$pattern' not found in $file (fdw $FDW_VERSION); update redact_config_logging"
		PATTERN=$pattern REPLACEMENT=$replacement perl -0pi -e 's/\Q$ENV{PATTERN}\E/$ENV{REPLACEMENT}/g' "$src/$file"
	done <<-'EOP'
		hub/hub_local.go|config: %s", connectionName, configString)|config: (%d bytes, not logged)", connectionName, len(configString))
		hub/connection_factory.go|config: %s\n", utils.PluginFQNToSchemaName(pluginFQN), connectionName, connection.Config)|config: (%d bytes, not logged)\n", utils.PluginFQNToSchemaName(pluginFQN), connectionName, len(connection.Config))
	EOP
	if grep -rnE 'config: %s' "$src/hub" --include=*.go >&2; then
		die "config logging left unredacted in $src/hub (see above)"
	fi
	log "redacted connection-config logging in the wrapper"
}

# The extension runs the plugin through the SDK's CallExecuteAsync and a local stream.
# For such a stream, the SDK's execute sends the nil row that ends the results before
# it returns the query's error; the wrapper stops at that nil row, so now and then
# (1 in 200 measured) an error reached PostgreSQL as an empty result. CallExecuteAsync
# sends the nil row itself after a success, so the extra one is only dropped when
# there are errors. The SDK is patched in a copy; a missing pattern fails the build.
patch_sdk() {
	local dir pattern replacement
	dir=$(cd / && go mod download -json "$SDK_MODULE@$SDK_VERSION" | awk -F'"' '/^\t"Dir":/ { print $4 }')
	[[ -d $dir ]] || die "go mod download $SDK_MODULE@$SDK_VERSION failed"
	rm -rf "$SDK_COPY"
	cp -R "$dir" "$SDK_COPY"
	chmod -R u+w "$SDK_COPY"
	pattern='if _, ok := stream.(proto.WrapperPlugin_ExecuteServer); ok {'
	replacement='if _, ok := stream.(proto.WrapperPlugin_ExecuteServer); ok || len(errors) > 0 { // patched by tokens build-fdw.sh: an error must not follow the nil row'
	[[ $(grep -cF -- "$pattern" "$SDK_COPY/plugin/plugin_grpc.go") == 1 ]] ||
		die "cannot patch $SDK_MODULE@$SDK_VERSION: the nil-row condition is not in plugin/plugin_grpc.go exactly once; update patch_sdk"
	PATTERN=$pattern REPLACEMENT=$replacement perl -0pi -e 's/\Q$ENV{PATTERN}\E/$ENV{REPLACEMENT}/' "$SDK_COPY/plugin/plugin_grpc.go"
	log "patched $SDK_MODULE@$SDK_VERSION (errors of a local stream no longer follow its nil row)"
}

SRC=$CACHE/src
stamp="$FDW_MODULE@$FDW_VERSION ${replace_args[*]} $PATCH_ID"
if [[ ! -f $SRC/.build-fdw-stamp || $(cat "$SRC/.build-fdw-stamp") != "$stamp" || ! -d $SDK_COPY ]]; then
	step "preparing work dir $SRC"
	rm -rf "$SRC"
	cp -R "$FDW_SRC" "$SRC"
	chmod -R u+w "$SRC"
	(cd "$SRC" && go mod edit "${replace_args[@]}") || die "go mod edit -replace failed in $SRC"
	redact_config_logging "$SRC"
	patch_sdk
	printf '%s' "$stamp" >"$SRC/.build-fdw-stamp"
else
	log "reusing work dir $SRC"
fi

# --- build -------------------------------------------------------------------------
step "make standalone plugin=$PLUGIN_ALIAS (log: $CACHE/make.log)"
make_args=(-C "$SRC" standalone "plugin=$PLUGIN_ALIAS" plugin_version=v0.0.0 "plugin_github_url=$MODULE")
make_rc=0
if [[ $FDW_VERBOSE == 1 ]]; then
	make "${make_args[@]}" 2>&1 | tee "$CACHE/make.log" || make_rc=$?
else
	make "${make_args[@]}" >"$CACHE/make.log" 2>&1 || make_rc=$?
fi
if ((make_rc != 0)); then
	tail -n 40 "$CACHE/make.log" >&2
	hint=""
	if grep -q 'Error 127' "$CACHE/make.log"; then
		hint=" 'Error 127' means a command was not found: check rsync, gettext, gcc and pg_config ($PG_BINDIR) are installed."
	fi
	die "make standalone failed (exit $make_rc); full log: $CACHE/make.log.$hint"
fi

BUILT=$SRC/build-$(uname)
for f in "$base.so" "$base.control" "$base--1.0.sql"; do
	[[ -s $BUILT/$f ]] || die "make standalone succeeded but $BUILT/$f is missing; see $CACHE/make.log"
done

# --- strip and publish ------------------------------------------------------------
step "collecting the extension files"
STAGE=$CACHE/stage
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp "$BUILT/$base.control" "$BUILT/$base--1.0.sql" "$STAGE/"
size_mb() { echo "$(($(stat -c %s "$1") / 1048576)) MB"; }
so_size="$(size_mb "$BUILT/$base.so")"
if [[ $FDW_STRIP == 1 ]]; then
	if strip --strip-debug -o "$STAGE/$base.so" "$BUILT/$base.so" &&
		cmp -s <(nm -D --defined-only "$BUILT/$base.so") <(nm -D --defined-only "$STAGE/$base.so") &&
		nm -D --defined-only "$STAGE/$base.so" | grep -c ' Pg_magic_func$' >/dev/null; then # not grep -q: SIGPIPE + pipefail
		so_size="$(size_mb "$BUILT/$base.so") -> $(size_mb "$STAGE/$base.so") stripped"
	else
		warn "strip --strip-debug failed or changed the dynamic symbols; keeping the unstripped .so"
		cp "$BUILT/$base.so" "$STAGE/$base.so"
	fi
else
	cp "$BUILT/$base.so" "$STAGE/$base.so"
fi
rm -rf "$OUT"
mkdir -p "$OUT"
mv "$STAGE/$base.so" "$STAGE/$base.control" "$STAGE/$base--1.0.sql" "$OUT/"
rmdir "$STAGE"

# record what the files were built from, unless the sources changed meanwhile
step "recording the inputs in $BUILT_FROM"
inputs_after=$(inputs_hash) || inputs_after=""
if [[ -n $inputs && $inputs_after == "$inputs" ]]; then
	{
		printf 'inputs %s\n' "$inputs"
		(cd "$OUT" && sha256sum -- "${outputs[@]}")
	} >"$BUILT_FROM.tmp.$$"
	mv -f -- "$BUILT_FROM.tmp.$$" "$BUILT_FROM"
elif [[ -n $inputs ]]; then
	warn "the plugin's sources changed during the build: not recorded as up to date (the next run builds again)"
fi

trap - ERR
log "[$(($(date +%s) - T0))s] done: $OUT ($base.so $so_size)"
ls -l "$OUT"
