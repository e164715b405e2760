#!/usr/bin/env bash
# Builds the directory scripts/gpu-check.sh runs from, on a machine with Go
# (this one), for a Linux machine with an NVIDIA GPU, its driver, CMake, a C
# compiler and Python with PyTorch, and no Go or network:
#   bash scripts/gpu-bundle.sh [DIR]     (default build/gpu-bundle; < 64 MiB)
# It holds the Go test binaries (go test -c) of every package whose tests
# take the CUDA backend, each package's testdata, the distac binary, the
# kernel sources with CMakeLists.txt (for the C validators) and the scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/gpu-bundle}
rm -rf "$out"
mkdir -p "$out/bin" "$out/src"
pkgs=(./ffi ./cmd/distac ./distac/merge ./distac/model ./distac/train)
for p in "${pkgs[@]}"; do
  name=$(echo "${p#./}" | tr / _)
  go test -c -o "$out/bin/$name.test" "$p"
  mkdir -p "$out/src/${p#./}"
  [ -d "$p/testdata" ] && cp -r "$p/testdata" "$out/src/${p#./}/"
done
go build -o "$out/bin/distac" ./cmd/distac
cp -r kernels CMakeLists.txt examples "$out/src/"
cp scripts/gpu-check.sh scripts/gpu_peers.py "$out/"
strip "$out"/bin/* 2>/dev/null || true
size=$(du -sm "$out" | cut -f1)
echo "gpu-bundle: $out, $size MiB"
if [ "$size" -ge 64 ]; then echo "gpu-bundle: over 64 MiB" >&2; exit 1; fi
