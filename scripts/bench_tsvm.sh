#!/usr/bin/env bash
# The SVD merges on a ViT-B/32-shaped set: `distac merge --method M` (wall time,
# reading and writing included) against PyTorch's torch.linalg.svd float32 doing
# the same SVD work as FusionBench (scripts/bench_tsvm_torch.py), same threads.
#
#   scripts/bench_tsvm.sh [tasks=8] [workdir] [blocks=12]
#
# METHODS="tsvm isoc isocts" (default) picks the methods. BEFORE=1 also runs
# distac's gonum float64 path (DISTAC_LAPACK=off: the float64 reference engine,
# minutes per block) and prints how far the fast output is from it: the largest
# per-tensor ||fast - ref|| / ||ref - base||. TORCH_F64=1 adds torch float64.
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for both programs (some
# machines force a Haswell kernel through them); OPENBLAS_VERBOSE=2 shows the
# kernel distac's LAPACK (libopenblas.so.0, opened at run time) picks.
#
# Writes a base and T fine-tuned f32 checkpoints with open_clip ViT-B/32 visual
# shapes (12 blocks, width 768: in_proj 2304x768, out_proj 768x768, c_fc
# 3072x768, c_proj 768x3072, conv1 768x3x32x32, proj 768x512, biases, norms,
# embeddings), about 350 MB each, then times both. Needs /usr/bin/python3 with
# numpy and torch (Debian python3-numpy, python3-torch).
set -euo pipefail

T=${1:-8}
BLOCKS=${3:-12}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${2:-}" ]; then
  WORK=$2
  mkdir -p "$WORK"
  CLEAN=()
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/distac-tsvm.XXXXXX")
  CLEAN=("$WORK")
fi
trap 'rm -rf "${CLEAN[@]}" "$WORK"/out-*.safetensors' EXIT
BIN="$WORK/distac"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
(cd "$ROOT" && go build -o "$BIN" ./cmd/distac)

[ -f "$WORK/task$((T - 1)).safetensors" ] || /usr/bin/python3 - "$WORK" "$T" "$BLOCKS" <<'PY'
import json, os, struct, sys
import numpy as np

work, T, blocks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
W = 768
shapes = [("conv1.weight", (W, 3, 32, 32)), ("class_embedding", (W,)), ("positional_embedding", (50, W)),
          ("ln_pre.weight", (W,)), ("ln_pre.bias", (W,))]
for i in range(blocks):
    p = f"transformer.resblocks.{i}."
    shapes += [(p + "ln_1.weight", (W,)), (p + "ln_1.bias", (W,)),
               (p + "attn.in_proj_weight", (3 * W, W)), (p + "attn.in_proj_bias", (3 * W,)),
               (p + "attn.out_proj.weight", (W, W)), (p + "attn.out_proj.bias", (W,)),
               (p + "ln_2.weight", (W,)), (p + "ln_2.bias", (W,)),
               (p + "mlp.c_fc.weight", (4 * W, W)), (p + "mlp.c_fc.bias", (4 * W,)),
               (p + "mlp.c_proj.weight", (W, 4 * W)), (p + "mlp.c_proj.bias", (W,))]
shapes += [("ln_post.weight", (W,)), ("ln_post.bias", (W,)), ("proj", (W, 512))]

def write(path, arrays):
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, a in arrays:
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    js = json.dumps(header).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for _, a in arrays:
            f.write(a.tobytes())

rng = np.random.default_rng(3)
base = [(n, rng.standard_normal(s, dtype=np.float32) * 0.02) for n, s in shapes]
write(os.path.join(work, "base.safetensors"), base)
for t in range(T):
    write(os.path.join(work, f"task{t}.safetensors"),
          [(n, b + 1e-3 * (1 + t) * rng.standard_normal(b.shape, dtype=np.float32)) for n, b in base])
PY

ARGS=()
for ((t = 0; t < T; t++)); do ARGS+=("$WORK/task$t.safetensors"); done
TASKFLAGS=()
for p in "${ARGS[@]}"; do TASKFLAGS+=(--task "$p"); done

unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
run_distac() { # method label [env...]: one timed merge into $WORK/out-LABEL.safetensors
  local method=$1 label=$2
  shift 2
  rm -f "$WORK/out-$label.safetensors"
  env "$@" /usr/bin/time -v "$BIN" merge --method "$method" --base "$WORK/base.safetensors" "${TASKFLAGS[@]}" \
    --quiet --force --out "$WORK/out-$label.safetensors" >"$WORK/$label.out" 2>"$WORK/$label.time"
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$WORK/$label.time" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$WORK/$label.time" | awk '{print $NF}')
  echo "distac merge --method $method ($label, $(nproc) workers): wall $wall, peak RSS $((rss / 1024)) MiB"
}
for M in ${METHODS:-tsvm isoc isocts}; do
  run_distac "$M" "$M-lapack"
  if [ "${BEFORE:-0}" = 1 ]; then
    run_distac "$M" "$M-gonum" DISTAC_LAPACK=off
    /usr/bin/python3 - "$WORK/base.safetensors" "$WORK/out-$M-lapack.safetensors" "$WORK/out-$M-gonum.safetensors" <<'PY'
import json, struct, sys
import numpy as np

def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32).astype(np.float64)
            for k, v in h.items() if k != "__metadata__" and v["dtype"] == "F32"}

base, fast, ref = (load(p) for p in sys.argv[1:4])
worst, name = 0.0, ""
for k, r in ref.items():
    d = np.linalg.norm(r - base[k])
    e = np.linalg.norm(fast[k] - r) / d if d > 0 else np.linalg.norm(fast[k] - r)
    if e > worst:
        worst, name = e, k
print(f"  fast vs gonum float64: largest per-tensor relative update difference {worst:.2e} ({name})")
PY
  fi
  rm -f "$WORK"/out-"$M"-*.safetensors
  for dt in float32 $([ "${TORCH_F64:-0}" = 1 ] && echo float64); do
    /usr/bin/python3 "$ROOT/scripts/bench_tsvm_torch.py" "$WORK/base.safetensors" "${ARGS[@]}" --method "$M" \
      --dtype $dt --threads "$(nproc)"
  done
done
