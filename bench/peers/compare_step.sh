#!/usr/bin/env bash
# compare_step.sh — one full DisTaC training step (teacher forward, student
# forward + backward, coupled anchor, gradient clip, Adam), distac against
# PyTorch CPU, on the same machine in the same run and the same threads.
#
# Usage (any working directory):
#   bench/peers/compare_step.sh [THREADS]     THREADS: for both sides (default: nproc)
# Environment:
#   PYTHON              an interpreter with torch (default: the first of
#                       python3, /usr/bin/python3 that can import torch)
#   DISTAC_BENCH_IMPLS  distac paths to time (default: avx512,avx2; paths this
#                       CPU lacks are skipped)
#   BENCHTIME           go test -benchtime (default: 3x, three timed steps after
#                       the one go test runs first)
# Shapes: vit-small-b128 (the vit_golden config, image 28, patch 7, width 64,
# 4 layers, batch 128, 10 classes), vit-b32-b8 and vit-b32-b128 (ViT-B/32,
# QuickGELU, batch 8 and the paper's 128, 8 classes). The distac side is BenchmarkDistacStep/<shape>/<impl>
# in ./bench (its images/s metric); the torch side is distac_step_torch.py
# (median step), in fp32 and under torch.autocast bfloat16 (the peer of the
# avx512-bf16 impl, distac's --precision bf16). With THREADS below nproc both run pinned to CPUs
# 0..THREADS-1 (taskset), which also sets distac's one-thread-per-CPU
# default. Prints:
#   shape  impl  distac_img/s  torch_img/s  distac/torch
set -euo pipefail

nproc=$(nproc)
threads=${1:-$nproc}
[[ $threads =~ ^[1-9][0-9]*$ ]] || { echo "compare_step: THREADS must be a positive integer, got '$threads'" >&2; exit 2; }
cd "$(dirname "$0")/../.."
export DISTAC_BENCH_IMPLS=${DISTAC_BENCH_IMPLS:-avx512,avx2}
benchtime=${BENCHTIME:-3x}

. bench/peers/torch_python.sh
py=$(torch_python compare_step)

# torch's fp32 matmuls are OpenBLAS's: some machines force its Haswell kernel
# through OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, so the torch runs unset both
# (OpenBLAS then picks the CPU's own kernel, named here).
echo "# torch's OpenBLAS kernel: $(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_VERBOSE=2 "$py" -c \
  'import torch; torch.ones(64, 64) @ torch.ones(64, 64)' 2>&1 | grep -m1 Core || echo unknown)" >&2

pin=()
if (( threads < nproc )); then
  pin=(taskset -c "0-$((threads - 1))")
elif (( threads > nproc )); then
  echo "compare_step: $threads threads on $nproc CPUs: both sides oversubscribed" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gofile=$work/go.txt pyfile=$work/torch.txt
: >"$gofile"

# -a: package ffi compiles the kernels through #include, which Go's build
# cache does not track, so force a rebuild to time the sources on disk.
echo "# go test -c -a ./bench" >&2
go test -c -a -o "$work/bench.test" ./bench
if "$work/bench.test" -test.list '^BenchmarkDistacStep$' | grep -qx 'BenchmarkDistacStep'; then
  echo "# bench.test -test.bench DistacStep -test.benchtime $benchtime, GOMAXPROCS=$threads ${pin[*]} (impls: $DISTAC_BENCH_IMPLS)" >&2
  (cd bench && GOMAXPROCS=$threads "${pin[@]}" "$work/bench.test" -test.run '^$' \
    -test.bench '^BenchmarkDistacStep$' -test.benchtime "$benchtime") | tee "$gofile" >&2
else
  echo "compare_step: BenchmarkDistacStep is not in ./bench yet (distac's training step is still to be" >&2
  echo "             written); printing the torch side only" >&2
fi

: >"$pyfile"
for prec in f32 bf16; do
  for run in "vit-small" "vit-b32" "vit-b32 --batch 128 --iters 3"; do
    set -- $run
    echo "# ${pin[*]} $py bench/peers/distac_step_torch.py --shape $* --threads $threads --precision $prec" >&2
    "${pin[@]}" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" bench/peers/distac_step_torch.py --shape "$@" \
      --threads "$threads" --precision "$prec" | tee -a "$pyfile" >&2
  done
done

awk -v threads="$threads" '
  FILENAME == ARGV[1] && /^BenchmarkDistacStep\// {
    split($1, p, "/"); sub(/-[0-9]+$/, "", p[3])
    rate = ""; ns = 0
    for (i = 4; i <= NF; i++) if ($i == "images/s") rate = $(i - 1)
    if (rate == "") {   # no custom metric: batch from the shape name over ns/op
      for (i = 4; i <= NF; i++) if ($i == "ns/op") ns = $(i - 1)
      if (match(p[2], /-b[0-9]+$/) && ns > 0) rate = substr(p[2], RSTART + 2) / (ns / 1e9)
    }
    key = p[2] " " p[3]
    if (!(key in go)) order[++n] = key
    go[key] = rate; goshape[p[2]] = 1
  }
  FILENAME == ARGV[2] && /^distac_step_torch / {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    tk = f["shape"] (f["precision"] == "bf16" ? " bf16" : "")
    torch[tk] = f["images_per_s"]; tshapes[++nt] = tk
  }
  END {
    printf "\nDisTaC step (teacher fwd, student fwd+bwd, anchor, clip, Adam), %d threads, images/s\n", threads
    printf "%-16s %-12s %14s %12s %13s\n", "shape", "impl", "distac_img/s", "torch_img/s", "distac/torch"
    for (i = 1; i <= n; i++) {
      split(order[i], k, " ")
      tk = k[1] (k[2] ~ /-bf16$/ ? " bf16" : "")   # the bf16 step against torch under autocast bf16
      t = (tk in torch) ? sprintf("%12.2f", torch[tk]) : sprintf("%12s", "-")
      r = (tk in torch && go[order[i]] != "") ? sprintf("%13.2f", go[order[i]] / torch[tk]) : sprintf("%13s", "-")
      d = go[order[i]] != "" ? sprintf("%14.2f", go[order[i]]) : sprintf("%14s", "-")
      printf "%-16s %-12s %s %s %s\n", k[1], k[2], d, t, r
    }
    for (i = 1; i <= nt; i++) { split(tshapes[i], k, " "); if (!(k[1] in goshape))
      printf "%-16s %-12s %14s %12.2f %13s\n", tshapes[i], "-", "-", torch[tshapes[i]], "-" }
  }' "$gofile" "$pyfile"
