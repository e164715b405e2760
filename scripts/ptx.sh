#!/usr/bin/env bash
# Regenerates kernels/cuda/ptx/{sm_80,sm_90a}/*.ptx from kernels/cuda/*.cu
# with Debian's clang (no CUDA toolkit: no CUDA headers, no libdevice). The
# PTX is committed and embedded (Go: kernels/cuda/ptx; CMake: distac::cuda);
# scripts/test.sh runs this and fails if the committed PTX differs.
# Fails if a PTX file calls an external function (a libdevice name that
# slipped in would only fail at JIT time on a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang-19}
command -v "$CLANG" >/dev/null || { echo "ptx.sh: $CLANG not found (apt-get install clang-19)" >&2; exit 1; }
# PTX_OUT: where to write (default the committed tree; the Go test compares
# a fresh build in a temporary directory against it).
out=${PTX_OUT:-kernels/cuda/ptx}
# -ffp-contract=off: clang fuses a*b+c into one FMA by default for CUDA; the
# C kernels are built without contraction (-std=c11), and the device code
# must round as they do (an FMA where a kernel writes one, nowhere else): the
# KL gradient of equal logits, e^v gq - e^u gs, is then exactly 0 there too.
for arch in sm_80 sm_90a; do
  mkdir -p "$out/$arch"
  rm -f "$out/$arch"/*.ptx
  for src in kernels/cuda/*.cu; do
    name=$(basename "$src" .cu)
    "$CLANG" -x cuda --cuda-device-only -nocudainc -nocudalib --cuda-gpu-arch="$arch" \
      -Xclang -target-feature -Xclang +ptx80 -O3 -ffp-contract=off -std=c++17 -Wall -Werror -S "$src" -o "$out/$arch/$name.ptx"
    if grep -nE '^\s*\.extern \.func|call(\.uni)?\s.*\b(__nv_|expf|logf|erff|exp|log)\b' "$out/$arch/$name.ptx"; then
      echo "ptx.sh: $out/$arch/$name.ptx calls an external function (no libdevice here)" >&2
      exit 1
    fi
  done
done
echo "ptx.sh: $(ls "$out"/sm_80/*.ptx | wc -l) modules for sm_80 and sm_90a in $out"
