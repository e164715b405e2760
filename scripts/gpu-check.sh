#!/usr/bin/env bash
# The whole GPU check, on a Linux machine with an NVIDIA GPU, its driver,
# CMake, a C compiler and Python with PyTorch (no Go, no network), run from
# the directory scripts/gpu-bundle.sh builds:  bash gpu-check.sh
# 1. the C validators (every CUDA op against the CPU reference, time table)
#    under ctest, and under compute-sanitizer where it exists;
# 2. the Go test binaries on the cuda backend: the exported conformance
#    suite (TestConformance/cuda), the engine's golden tests and the merges
#    (every test of these packages that takes the module's backend list);
# 3. distac hw --backend cuda (device, kernels, self-check against ref);
# 4. the peers: cuBLAS (torch.matmul) and PyTorch eager;
# then one summary table. Sized for under 8 minutes on an H200.
set -uo pipefail
cd "$(dirname "$0")"
here=$(pwd)
declare -a names results
record() { names+=("$1"); results+=("$2"); }
run() { # name, timeout seconds, command...
  local name=$1 t=$2; shift 2
  echo; echo "=== $name"
  if timeout "$t" "$@"; then record "$name" ok; else record "$name" "FAIL ($?)"; fi
}
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>/dev/null || echo "nvidia-smi not found"

cmake -S src -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j "$(nproc)" >/dev/null
run "ctest (C kernels, test_devmath, validate_cuda)" 300 ctest --test-dir build --output-on-failure
run "validate_cuda (table)" 120 ./build/validate_cuda
if command -v compute-sanitizer >/dev/null; then
  run "compute-sanitizer memcheck validate_cuda" 300 compute-sanitizer --error-exitcode 1 ./build/validate_cuda
else
  record "compute-sanitizer" "not installed: skipped"
fi

export DISTAC_TEST_NO_AVX2=1 # the CPU paths ran in CI; spend the time on cuda
run "ffi TestConformance/cuda + loader tests" 300 bash -c "cd src/ffi && $here/bin/ffi.test -test.run 'TestConformance/cuda|CUDA' -test.v 2>&1 | tail -80"
for p in distac_merge distac_model distac_train cmd_distac; do
  dir=src/$(echo $p | tr _ /)
  run "$p tests (backends incl. cuda)" 300 bash -c "cd $dir && $here/bin/$p.test -test.short -test.run . 2>&1 | tail -30"
done
run "distac hw --backend cuda" 120 ./bin/distac hw --backend cuda
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  run "peers: cuBLAS and PyTorch eager" 120 python3 gpu_peers.py
else
  record "peers" "PyTorch with CUDA not found: skipped"
fi

echo; echo "=== summary"
printf '%-55s | %s\n' check result
for i in "${!names[@]}"; do printf '%-55s | %s\n' "${names[$i]}" "${results[$i]}"; done
for r in "${results[@]}"; do case $r in FAIL*) exit 1 ;; esac; done
