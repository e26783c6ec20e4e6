#!/usr/bin/env bash
# Installs the Debian packages that rlboard needs to build, test and run
# its demo, skipping those already installed. Needs root for apt-get.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  liburcu-dev uuid-dev check libsqlite3-dev nettle-dev libjansson-dev
  libcurl4-openssl-dev libmicrohttpd-dev
  clang libclang-rt-14-dev
  nginx-light python3 sqlite3 man-db groff-base util-linux procps
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
  echo "deps.sh: installing packages needs root; run as root or with sudo" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
