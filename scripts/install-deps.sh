#!/usr/bin/env bash
# Installs the Debian 12 packages FlexLLM builds and tests with. Runs apt-get
# directly as root, through sudo otherwise; does nothing when all are present.
set -euo pipefail
packages=(build-essential cmake pkg-config libpcre2-dev libcjson-dev clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
