#!/usr/bin/env bash
# build-fdw.sh - make fdw: build the plugin as a standalone PostgreSQL 15 extension
# (steampipe-postgres-fdw with the plugin compiled in) into build/postgres/:
#   steampipe_postgres_tokens.so  .control  --1.0.sql
#
# The wrapper and the SDK are built from patched copies (patches/, applied by
# internal/tools/patchmod; a patch that no longer applies fails the build). The
# system packages it needs come from `make deps`.
#
# Up to date: .cache/fdw/built-from records a hash of the inputs (this script, the
# patches, go.mod, go.sum, every Go file the plugin compiles, the Go and PostgreSQL
# versions) and of the files made; when both match, nothing is built (about a second).
#
# Environment: FDW_FORCE=1 builds anyway; FDW_STRIP=0 keeps debug symbols;
# FDW_VERBOSE=1 streams the make output (else .cache/fdw/make.log).
set -euo pipefail

FDW_MODULE=github.com/turbot/steampipe-postgres-fdw
FDW_VERSION=v1.13.0
SDK_MODULE=github.com/turbot/steampipe-plugin-sdk/v5
PG_BIN=/usr/lib/postgresql/15/bin
base=steampipe_postgres_tokens

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$repo"
export PATH=$PG_BIN:/usr/local/go/bin:$PATH # the wrapper's Makefile calls plain pg_config
cache=$repo/.cache/fdw
out=$repo/build/postgres
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -w 1800 9

module=$(go list -m)
sdk_version=$(go list -m -f '{{.Version}}' "$SDK_MODULE")

inputs_hash() {
	{
		echo "$FDW_MODULE@$FDW_VERSION $sdk_version strip=${FDW_STRIP:-1} $(go version) $(pg_config --version)"
		go env GOOS GOARCH CC CGO_CFLAGS CGO_LDFLAGS
		sha256sum scripts/build-fdw.sh go.mod go.sum
		find patches -type f -print0 | sort -z | xargs -0 sha256sum
		CGO_ENABLED=1 go list -deps -tags netgo -f '{{if and .Module .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}
{{end}}{{end}}' ./tokens | sort | xargs sha256sum
	} | sha256sum | cut -d' ' -f1
}

inputs=$(inputs_hash)
if [[ ${FDW_FORCE:-0} != 1 && -f $cache/built-from && $(head -n1 "$cache/built-from") == "$inputs" ]] &&
	(cd "$out" 2>/dev/null && tail -n +2 "$cache/built-from" | sha256sum --quiet --strict -c - >/dev/null 2>&1); then
	echo "==> $out is up to date (FDW_FORCE=1 rebuilds)"
	exit 0
fi
rm -f "$cache/built-from" # nothing claims the files are current until they are

echo "==> patched copies of $FDW_MODULE@$FDW_VERSION and $SDK_MODULE@$sdk_version"
go run ./internal/tools/patchmod "$cache/src" "$FDW_MODULE@$FDW_VERSION"
go run ./internal/tools/patchmod "$cache/sdk" "$SDK_MODULE@$sdk_version"
# the wrapper builds against this plugin and the patched SDK; the plugin's own
# replace directives are not inherited, and it has none
(cd "$cache/src" && go mod edit -replace "$module=$repo" -replace "$SDK_MODULE=$cache/sdk")

echo "==> make standalone (log: $cache/make.log)"
args=(-C "$cache/src" standalone plugin=tokens plugin_version=v0.0.0 "plugin_github_url=$module")
if [[ ${FDW_VERBOSE:-0} == 1 ]]; then
	make "${args[@]}" 2>&1 | tee "$cache/make.log"
elif ! make "${args[@]}" >"$cache/make.log" 2>&1; then
	tail -n 40 "$cache/make.log" >&2
	echo "build-fdw: make standalone failed; the whole log is $cache/make.log ('Error 127': is rsync installed? make deps)" >&2
	exit 1
fi

built=$cache/src/build-$(uname)
rm -rf "$out" && mkdir -p "$out"
cp "$built/$base.control" "$built/$base--1.0.sql" "$out/"
if [[ ${FDW_STRIP:-1} == 1 ]]; then
	strip --strip-debug -o "$out/$base.so" "$built/$base.so" # 115 MB to 72 MB; it still loads
else
	cp "$built/$base.so" "$out/$base.so"
fi
{
	echo "$inputs"
	(cd "$out" && sha256sum "$base.so" "$base.control" "$base--1.0.sql")
} >"$cache/built-from"
ls -l "$out"
