#!/usr/bin/env bash
# deps.sh - make deps: the Debian packages make test and make demo need, installed
# when missing (as root, or through sudo). postgresql-server-dev-15 is pinned to the
# installed server: unpinned, apt would upgrade the server to a newer 15.x.
set -euo pipefail
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
need=()
for cmd in rsync:rsync make:make gcc:gcc strip:binutils gettext:gettext-base patch:patch flock:util-linux; do
	command -v "${cmd%%:*}" >/dev/null || need+=("${cmd##*:}")
done
have libc6-dev || need+=(libc6-dev)
have postgresql-15 || need+=(postgresql-15)
if ! have postgresql-server-dev-15; then
	server=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null || true)
	need+=("postgresql-server-dev-15${server:+=$server}")
fi
((${#need[@]})) || exit 0
sudo=()
[[ $(id -u) == 0 ]] || sudo=(sudo -n)
echo "==> apt-get install ${need[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
