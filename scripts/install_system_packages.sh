#!/usr/bin/env bash
# System tools the tests run, installed from Debian when missing (CI runs as root with the
# Debian registry reachable). Called by `make venv`; does nothing on a machine that has them.
# One "check package" pair per line: the check is a command on PATH, or a file glob for tools
# Debian keeps off PATH (PostgreSQL's initdb and pg_ctl).
set -euo pipefail

present() {
  case "$1" in
    */*) compgen -G "$1" >/dev/null ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

needed=()
while read -r check package; do
  [ -n "$check" ] || continue
  present "$check" || needed+=("$package")
done <<'TOOLS'
promtool prometheus
/usr/lib/postgresql/*/bin/initdb postgresql
TOOLS

[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_system_packages: please install these Debian packages: ${needed[*]}" >&2
  exit 1
fi
echo "install_system_packages: installing ${needed[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}"
