#!/usr/bin/env bash
# compare_kl.sh — distac's fused KL distillation (loss + student-logit
# gradient) against PyTorch CPU, on the same machine in the same run.
#
# Usage (any working directory):
#   bench/peers/compare_kl.sh [COUNT]        COUNT: go test -count (default 5)
# Environment:
#   PYTHON              an interpreter with torch (default: the first of
#                       python3, /usr/bin/python3 that can import torch)
#   DISTAC_BENCH_IMPLS  distac paths to time (default: avx512,avx2,scalar;
#                       paths this CPU lacks are skipped)
# Both sides use every CPU (distac's backends open with threads = 0; torch
# gets set_num_threads(nproc)). Times are medians over the runs. Prints:
#   shape  impl  distac_ms  torch_ms  torch/distac  distac_GB/s  floor_ms
# where GB/s counts 12 bytes per element (two logit matrices read, the
# gradient written) and floor_ms is those bytes at the copy bandwidth that
# BenchmarkCopy measures (one thread, so a loose floor), when it exists.
set -euo pipefail

count=${1:-5}
cd "$(dirname "$0")/../.."
export DISTAC_BENCH_IMPLS=${DISTAC_BENCH_IMPLS:-avx512,avx2,scalar}

. bench/peers/torch_python.sh
py=$(torch_python compare_kl)

threads=$(nproc)
gofile=$(mktemp) pyfile=$(mktemp)
trap 'rm -f "$gofile" "$pyfile"' EXIT

# -a: package ffi compiles the kernels through #include, which Go's build
# cache does not track, so force a rebuild to time the sources on disk.
echo "# go test -a ./bench -bench 'KLDistill|Copy' -count $count (impls: $DISTAC_BENCH_IMPLS)" >&2
go test -a ./bench -run '^$' -bench '^(BenchmarkKLDistill|BenchmarkCopy)$' -count "$count" | tee "$gofile" >&2
echo "# $py bench/peers/kl_torch.py --threads $threads" >&2
"$py" bench/peers/kl_torch.py --threads "$threads" | tee "$pyfile" >&2

awk -v threads="$threads" '
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  FILENAME == ARGV[1] && /^BenchmarkKLDistill\// {
    split($1, p, "/"); sub(/-[0-9]+$/, "", p[3])
    key = p[2] " " p[3]
    if (!(key in ns)) order[++nk] = key
    ns[key] = ns[key] " " $3
  }
  FILENAME == ARGV[1] && /^BenchmarkCopy\/16M/ { copy = copy " " $5 }   # MB/s
  FILENAME == ARGV[2] { split($4, m, "="); torch[$2] = m[2] }
  END {
    copymbs = copy == "" ? 0 : median(copy)
    printf "\nfused KL distillation, %d threads, median of runs\n", threads
    printf "%-12s %-7s %10s %10s %13s %12s %9s\n", "shape", "impl", "distac_ms", "torch_ms", "torch/distac", "distac_GB/s", "floor_ms"
    for (i = 1; i <= nk; i++) {
      split(order[i], k, " "); shape = k[1]
      split(shape, rc, "x"); bytes = 12 * rc[1] * rc[2]
      ms = median(ns[order[i]]) / 1e6
      floor = copymbs > 0 ? sprintf("%9.2f", bytes / (copymbs * 1e6) * 1e3) : "        -"
      ratio = (shape in torch) ? sprintf("%13.1f", torch[shape] / ms) : "            -"
      tms = (shape in torch) ? sprintf("%10.3f", torch[shape]) : "         -"
      printf "%-12s %-7s %10.3f %s %s %12.1f %s\n", shape, k[2], ms, tms, ratio, bytes / (ms / 1e3) / 1e9, floor
    }
    if (copymbs > 0) printf "bandwidth anchor: BenchmarkCopy/16M %.1f GB/s (read + write, one thread)\n", copymbs / 1e3
  }' "$gofile" "$pyfile"
