#!/usr/bin/env bash
# Checks that two distac binaries merge and diagnose identically: every merge
# method, parameter set, input dtype, output dtype, sharding, worker count,
# chunk size and CPU path below is run by both, and every output file must
# have the same bytes (and diagnose the same text; exit 3 when only the text
# differs). Use it around a refactor:
#
#   git stash; go build -o /tmp/distac-before ./cmd/distac; git stash pop
#   go build -o /tmp/distac-after ./cmd/distac
#   scripts/merge_identical.sh /tmp/distac-before /tmp/distac-after [workdir]
#
# Inputs are synthetic (numpy, seeded): a base and four fine-tuned models in
# f32, bf16 and f16, one of them sharded, with 2-D weights (square, tall,
# wide, an embedding), biases, a norm, a conv kernel, a 0-d and an empty
# tensor, integer and bool buffers, a vector over several chunks, and (f32)
# one of 1.2M entries so TIES's sampled threshold window runs. One task
# vector is about six times longer than the others (norm mismatch).
set -euo pipefail

OLD=${1:?usage: merge_identical.sh OLD_BINARY NEW_BINARY [workdir]}
NEW=${2:?usage: merge_identical.sh OLD_BINARY NEW_BINARY [workdir]}
if [ -n "${3:-}" ]; then
  WORK=$3
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/distac-identical.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
fi

/usr/bin/python3 - "$WORK" "$(dirname "$0")/golden" <<'PY'
import json, os, struct, sys
import numpy as np

sys.path.insert(0, sys.argv[2])
from stfile import write  # noqa: E402

work = sys.argv[1]
rng = np.random.default_rng(1234)
layout = [
    ("blocks.0.attn.in_proj_weight", (96, 64)),
    ("blocks.0.attn.in_proj_bias", (96,)),
    ("blocks.0.mlp.c_fc.weight", (130, 64)),
    ("blocks.0.mlp.c_proj.weight", (64, 130)),
    ("blocks.0.ln_1.weight", (64,)),
    ("conv1.weight", (8, 3, 4, 4)),
    ("positional_embedding", (17, 64)),
    ("proj", (64, 32)),
    ("long", (200003,)),
    ("logit_scale", ()),
    ("empty", (0, 5)),
]

def bf16(x):
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + np.uint64(0x7FFF) + ((u >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)).astype(np.uint16)
    return r.tobytes()

def encode(x, dt):
    if dt == "F32":
        return x.astype("<f4").tobytes()
    if dt == "F16":
        return x.astype("<f2").tobytes()
    return bf16(x)

def models(tag, dt, extra):
    lay = layout + extra
    base = {n: rng.normal(0, 0.5, s).astype(np.float32) for n, s in lay}
    shared = {n: rng.normal(0, 1, s).astype(np.float32) for n, s in lay}
    sets = [base]
    for t in range(4):
        scale = 0.3 if t == 1 else 0.05 * (1 + t)
        sets.append({n: base[n] + scale * (rng.normal(0, 1, s) + 0.5 * shared[n]).astype(np.float32)
                     for n, s in lay})
    ints = [("num_batches_tracked", "I64", (1,), struct.pack("<q", 7)),
            ("attn_mask", "BOOL", (7,), bytes([1, 0, 1, 1, 0, 0, 1]))]
    for i, m in enumerate(sets):
        name = "base" if i == 0 else f"task{i - 1}"
        tensors = [(n, dt, s, encode(m[n], dt)) for n, s in lay] + ints
        meta = {"format": "pt"} if i == 0 else None
        if tag == "bf16" and i == 2:  # one sharded input: two shards and an index
            d = os.path.join(work, f"{tag}-{name}")
            os.makedirs(d, exist_ok=True)
            half = len(tensors) // 2
            shards = [tensors[:half], tensors[half:]]
            wm = {}
            for k, sh in enumerate(shards):
                fn = f"model-{k + 1:05d}-of-00002.safetensors"
                write(os.path.join(d, fn), sh, meta)
                for n, *_ in sh:
                    wm[n] = fn
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {}, "weight_map": wm}, f)
        else:
            write(os.path.join(work, f"{tag}-{name}.safetensors"), tensors, meta)

models("f32", "F32", [("big", (1200000,))])
models("bf16", "BF16", [])
models("f16", "F16", [])
PY

input() { # in TAG NAME: the path of an input
  if [ -d "$WORK/$1-$2" ]; then echo "$WORK/$1-$2"; else echo "$WORK/$1-$2.safetensors"; fi
}
tasks() { local a=(); for t in 0 1 2 3; do a+=(--task "$(input "$1" task$t)"); done; echo "${a[@]}"; }

cat > "$WORK/ties.yaml" <<EOF
method: ties
base: f32-base.safetensors
tasks: [f32-task0.safetensors, f32-task1.safetensors, f32-task2.safetensors, f32-task3.safetensors]
alpha: 0.45
k: 12.5
EOF
cat > "$WORK/consensus.json" <<EOF
{"method": "consensus", "base": "bf16-base.safetensors",
 "tasks": ["bf16-task0.safetensors", "bf16-task1", "bf16-task2.safetensors", "bf16-task3.safetensors"],
 "lambda": [0.2, 0.3, 0.5, 0.6], "min_agree": 3, "alpha": 0.8}
EOF

# name | flags (a merge of the set's base and tasks unless --config is given)
cases=()
for tag in f32 bf16 f16; do
  b="--base $(input $tag base) $(tasks $tag)"
  cases+=(
    "$tag-mean|$b --method mean --alpha 0.9"
    "$tag-ta|$b --method ta --alpha 0.3"
    "$tag-ties|$b --method ties --alpha 0.6"
    "$tag-ties-k7|$b --method ties --k 7.5 --alpha 0.6 --workers 3 --chunk 1000"
    "$tag-consensus|$b --method consensus --alpha 0.7"
    "$tag-consensus-l|$b --method consensus --lambda 0.2,0.3,0.5,0.6 --min-agree 3"
    "$tag-tsvm|$b --method tsvm --alpha 0.5"
    "$tag-isoc|$b --method isoc --alpha 0.5 --workers 1"
    "$tag-isocts|$b --method isocts --alpha 0.5"
    "$tag-isocts-f|$b --method isocts --common-fraction 0.5 --alpha 0.5"
    "$tag-dare|$b --method dare --alpha 0.4"
    "$tag-dare-s|$b --method dare --drop 0.3 --seed 7 --alpha 0.4 --chunk 777"
    "$tag-ta-f16|$b --method ta --alpha 0.5 --dtype f16"
    "$tag-ties-bf16|$b --method ties --alpha 0.5 --dtype bf16"
    "$tag-ta-f32|$b --method ta --alpha 0.5 --dtype f32"
    "$tag-ties-shard|$b --method ties --alpha 0.5 --shard-size 300kB"
  )
done
cases+=("yaml-ties|--config $WORK/ties.yaml" "json-consensus|--config $WORK/consensus.json --dtype f32")

run() { # run BIN DIR BACKEND NAME FLAGS...
  local bin=$1 dir=$2 be=$3 name=$4
  shift 4
  mkdir -p "$dir/$name"
  # The report minus its timing line, with the output directory named OUT.
  "$bin" merge --quiet --backend "$be" --out "$dir/$name/out.safetensors" "$@" 2>&1 |
    grep -v '^read .* of tensors in ' | sed "s#$dir/$name/#OUT/#g" > "$dir/$name/report.txt" || true
}

fail=0
textfail=0 # runs whose files are the same but whose stdout/stderr is not
n=0
for be in avx512 avx2 scalar ref; do
  if [ "$be" != ref ] && ! "$OLD" hw --backend "$be" -no-check >/dev/null 2>&1; then
    echo "skip backend $be: this CPU lacks it"
    continue
  fi
  for c in "${cases[@]}"; do
    name=${c%%|*}
    flags=${c#*|}
    # ref runs the f32 cases only (it is slow); scalar the f32 and f16 ones.
    case "$be:$name" in ref:f32-*|ref:yaml-*|scalar:f32-*|scalar:f16-*|avx2:*|avx512:*) ;; *) continue ;; esac
    # shellcheck disable=SC2086
    run "$OLD" "$WORK/old-$be" "$be" "$name" $flags
    # shellcheck disable=SC2086
    run "$NEW" "$WORK/new-$be" "$be" "$name" $flags
    n=$((n + 1))
    o=$(cd "$WORK/old-$be/$name" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    w=$(cd "$WORK/new-$be/$name" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    if [ "$(grep -v ' ./report.txt$' <<<"$o")" != "$(grep -v ' ./report.txt$' <<<"$w")" ]; then
      echo "DIFFER $be $name"
      diff <(echo "$o") <(echo "$w") || true
      fail=1
    elif [ "$o" != "$w" ]; then
      echo "MESSAGE $be $name: the same files, another report"
      diff "$WORK/old-$be/$name/report.txt" "$WORK/new-$be/$name/report.txt" | head -20 || true
      textfail=$((textfail + 1))
    fi
  done
done
for tag in f32 bf16 f16; do
  for bin in OLD NEW; do
    # shellcheck disable=SC2046
    "${!bin}" diagnose --per-tensor --base "$(input $tag base)" $(tasks $tag) > "$WORK/diag-$tag-$bin.txt" 2>&1 || true
  done
  n=$((n + 1))
  if ! diff "$WORK/diag-$tag-OLD.txt" "$WORK/diag-$tag-NEW.txt"; then
    echo "MESSAGE diagnose $tag: another text"
    textfail=$((textfail + 1))
  fi
done
if [ $fail -ne 0 ]; then
  echo "merge_identical: outputs differ (inputs and outputs in $WORK)"
  exit 1
fi
if [ $textfail -ne 0 ]; then
  echo "merge_identical: $n runs, every output file identical; $textfail printed other text (above: a changed message is fine, a changed number is not)"
  exit 3
fi
echo "merge_identical: $n runs, every output identical"
