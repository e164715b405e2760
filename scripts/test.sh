#!/usr/bin/env bash
# distac's test command: the CUDA PTX (rebuilt, must match the committed),
# formatting, vet, the Go test suite on every CPU path
# this machine has, the build and tests without cgo and for arm64, the C
# kernel and C API tests and the C++ example under ctest (plain and
# ASan+UBSan), the C API from a clean copy (scripts/capi_test.sh), the
# README's install line and worked example in a fresh GOPATH, a smoke run of
# the benchmarks, the README's scale-out recipe under a one-node Slurm, and
# bounded fuzzing of every parser with a fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

step() { printf '\n=== %s\n' "$*"; }

step "kernel source hash (go generate ./ffi)"
go generate ./ffi

step "CUDA PTX (scripts/ptx.sh with clang-19; fails when the committed PTX is stale)"
bash scripts/ptx.sh
if [ -n "$(git status --porcelain -- kernels/cuda/ptx 2>/dev/null)" ]; then
  echo "kernels/cuda/ptx is stale: commit what scripts/ptx.sh wrote:"; git status --short -- kernels/cuda/ptx; exit 1
fi

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt-ed:"; echo "$unformatted"; exit 1; fi

step "go vet (default and -tags openblas)"
go vet ./...
go vet -tags openblas ./...

step "go test ./... (every CPU path; see the ffi: lines for what runs)"
go test -count=1 ./...

# Packages above ffi use the best path; run them again one level down so the
# AVX2 path is exercised end to end on an AVX-512 machine (reedsolomon-style).
if go run ./cmd/distac hw -no-check | grep -q '^backend *avx512'; then
  # -short: the minutes-long DisTaC-on-MNIST and demo runs are statistical
  # checks, made once above; every engine path is covered by the golden tests.
  step "go test -short with DISTAC_CPU=avx2"
  DISTAC_CPU=avx2 go test -short -count=1 ./cmd/... $(go list ./distac/... 2>/dev/null)
fi

step "build without cgo, and for arm64 (the reference backend alone)"
CGO_ENABLED=0 go build ./...
CGO_ENABLED=0 GOARCH=arm64 go build ./...
CGO_ENABLED=0 go vet ./...

step "go test without cgo (the exported conformance suite on the reference backend)"
CGO_ENABLED=0 go test -short -count=1 ./ffi/... ./internal/... ./distac/...

step "install as the README says, in a fresh GOPATH, and run the worked example with the installed binary"
bash scripts/install_test.sh

step "distac hw"
go run ./cmd/distac hw

step "benchmark smoke run (each benchmark once, small shapes)"
go test -tags openblas -run '^$' -bench 'Sgemm/256x|KLDistill/128x10/|Copy/1M|TaskVector.*/1M/|DistacStep/vit-small' -benchtime 1x ./bench

step "kernel library + ctest"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" >/dev/null
ctest --test-dir build/release --output-on-failure

step "C kernels and their tests for arm64, run under qemu (scalar; the SIMD forms report themselves absent)"
bash scripts/cross_arm64.sh

step "kernel library + ctest under ASan+UBSan"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DDISTAC_SANITIZE=ON >/dev/null
cmake --build build/asan -j "$(nproc)" >/dev/null
ctest --test-dir build/asan --output-on-failure

step "the C API as the README says: a clean copy built, installed and used by the example and a pkg-config C program"
bash scripts/capi_test.sh --no-asan

step "scale-out recipe under a one-node Slurm"
bash scripts/slurm_test.sh

fuzz=$(grep -rl '^func Fuzz' --include='*_test.go' . 2>/dev/null || true)
for f in $fuzz; do
  pkg=./$(dirname "${f#./}")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
    step "fuzz $pkg $target (${DISTAC_FUZZTIME:-20s})"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${DISTAC_FUZZTIME:-20s}" "$pkg"
  done
done
step "all tests passed"
