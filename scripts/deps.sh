#!/usr/bin/env bash
# Installs the Debian packages distac's tests and benchmarks need, if missing:
# cmake (kernel library + ctest), libopenblas-dev (the GEMM peer, build tag
# openblas). Run as root (or with sudo available).
set -euo pipefail
pkgs=(cmake libopenblas-dev pkg-config g++)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}"
