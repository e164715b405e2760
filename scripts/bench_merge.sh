#!/usr/bin/env bash
# Streaming-merge benchmark: peak RSS and throughput of `distac merge` (TA and
# TIES) on 8 synthetic fine-tuned checkpoints of 512 MiB each plus their base,
# against reading the same files once with cat in the same run.
#
#   scripts/bench_merge.sh [models=8] [MiB per model=512] [workdir] [outdir]
#
# Each timing is the best of $REPS runs (default 3); peak RSS is the largest.
# Needs /usr/bin/python3 with numpy (Debian python3-numpy) to write the
# checkpoints and GNU time (/usr/bin/time) for the peak RSS. The files are
# written first, so every reader finds them in the page cache (nothing is
# dropped): the comparison is between merging and reading at memory speed.
# The merged model is written to outdir (default /dev/shm when it exists):
# the merge fsyncs its output, and on a slow disk that write, not the merge,
# sets the time (the disk's own rate is printed for reference).
set -euo pipefail

T=${1:-8}
MIB=${2:-512}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${3:-}" ]; then
  WORK=$3 # kept, and its checkpoints reused when present
  mkdir -p "$WORK"
  CLEAN=()
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/distac-bench.XXXXXX")
  CLEAN=("$WORK")
fi
OUTDIR=${4:-$([ -d /dev/shm ] && mktemp -d /dev/shm/distac-out.XXXXXX || echo "$WORK")}
BIN="$WORK/distac"
trap 'rm -rf "${CLEAN[@]}" "$OUTDIR/out.safetensors"; rmdir "$OUTDIR" 2>/dev/null || true' EXIT

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
(cd "$ROOT" && go build -o "$BIN" ./cmd/distac)

[ -f "$WORK/task$((T - 1)).safetensors" ] || /usr/bin/python3 - "$WORK" "$T" "$MIB" <<'PY'
import json, os, struct, sys
import numpy as np

work, T, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# 512 MiB = 32 matrices of 2048 x 2048 f32 (16 MiB each), scaled with MiB;
# plus a bias per matrix and an integer step counter.
n_mat = max(1, mib // 16)
tensors = []
for i in range(n_mat):
    tensors.append((f"layers.{i}.weight", (2048, 2048), "F32"))
    tensors.append((f"layers.{i}.bias", (2048,), "F32"))
tensors.append(("num_batches_tracked", (1,), "I64"))

def write(path, fill):
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, dt in tensors:
        n = int(np.prod(shape)) * (8 if dt == "I64" else 4)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    js = json.dumps(header).encode()
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for name, shape, dt in tensors:
            f.write(fill(name, shape, dt).tobytes())

rng = np.random.default_rng(1)
base = {}
def base_fill(name, shape, dt):
    if dt == "I64":
        return np.array([100], dtype=np.int64)
    base[name] = rng.standard_normal(shape, dtype=np.float32) * 0.02
    return base[name]
# The base is kept in memory by this generator only, to derive the tasks.
write(os.path.join(work, "base.safetensors"), base_fill)
for t in range(T):
    scale = 1e-3 * (1 + t)
    def task_fill(name, shape, dt):
        if dt == "I64":
            return np.array([100 + t], dtype=np.int64)
        return base[name] + scale * rng.standard_normal(shape, dtype=np.float32)
    write(os.path.join(work, f"task{t}.safetensors"), task_fill)
PY

FILES=("$WORK/base.safetensors")
ARGS=()
for ((t = 0; t < T; t++)); do
  FILES+=("$WORK/task$t.safetensors")
  ARGS+=(--task "$WORK/task$t.safetensors")
done
BYTES=$(du -cb "${FILES[@]}" | tail -1 | cut -f1)
echo "# $T models + base, $(numfmt --to=iec "$BYTES") in all; output in $OUTDIR"

now() { date +%s.%N; }
best() { printf '%s\n' "$@" | sort -g | head -1; }
REPS=${REPS:-3} # best of REPS runs: other load on the machine only slows runs down
cats=()
for ((r = 0; r < REPS; r++)); do
  t0=$(now); cat "${FILES[@]}" >/dev/null; t1=$(now)
  cats+=("$(echo "$t1 - $t0" | bc -l)")
done
CAT_S=$(best "${cats[@]}")
CAT_TP=$(echo "$BYTES / $CAT_S / 1048576" | bc -l)
printf "%-10s %8s %15s %12s %8s\n" "" wall throughput "peak RSS" "vs cat"
printf "%-10s %8.2f s %9.0f MiB/s %12s %8s\n" "cat" "$CAT_S" "$CAT_TP" "-" "1x"

for method in ta ties; do
  walls=()
  rss=0
  for ((r = 0; r < REPS; r++)); do
    rm -f "$OUTDIR/out.safetensors"
    /usr/bin/time -v "$BIN" merge --method "$method" --base "$WORK/base.safetensors" "${ARGS[@]}" \
      --alpha 0.3 --quiet --out "$OUTDIR/out.safetensors" >"$WORK/$method.out" 2>"$WORK/$method.time"
    walls+=("$(grep 'Elapsed (wall clock)' "$WORK/$method.time" | awk '{print $NF}' | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')")
    r_kb=$(grep 'Maximum resident set size' "$WORK/$method.time" | awk '{print $NF}')
    rss=$((r_kb > rss ? r_kb : rss))
  done
  WALL=$(best "${walls[@]}")
  TP=$(echo "$BYTES / $WALL / 1048576" | bc -l)
  printf "%-10s %8.2f s %9.0f MiB/s %8.0f MiB %7.2fx\n" "$method" "$WALL" "$TP" "$(echo "$rss / 1024" | bc -l)" "$(echo "$TP / $CAT_TP" | bc -l)"
done

# For reference: this disk's synced write rate (the output's size, 1/(T+1) of the input).
OUTB=$(( BYTES / (T + 1) ))
t0=$(now); dd if=/dev/zero of="$WORK/dd.tmp" bs=1M count=$(( OUTB >> 20 )) conv=fsync status=none; t1=$(now)
rm -f "$WORK/dd.tmp"
printf "disk write of %s with fsync: %.2f s (%.0f MiB/s)\n" "$(numfmt --to=iec "$OUTB")" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$OUTB / ($t1 - $t0) / 1048576" | bc -l)"
