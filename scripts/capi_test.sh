#!/usr/bin/env bash
# Checks the C API as a C or C++ host meets it:
#  1. In a clean copy of this tree (its tracked and new files, no build
#     outputs), the commands of README.md's "Using distac from C or C++"
#     (between the <!-- capi: build --> markers), run as written with the
#     prefix in a temporary directory: configure, build, ctest (the kernels'
#     and the C API's C tests, and the C++ example built against a temporary
#     install), install, then the example built against the prefix and run.
#  2. A C program that includes only distac.h (capi/tests/merge_config.c),
#     compiled with `pkg-config --cflags --libs distac` of that prefix,
#     merges to the bits `distac merge --config` writes from the same JSON,
#     for several methods (EMR's modulators file too) and a mergekit config
#     (its out: key in place of --out); a missing and a corrupt input each give a
#     non-zero exit and a message naming the file.
#  3. Unless --no-asan: the same build with -DDISTAC_SANITIZE=ON and its
#     ctest, so the C tests (several threads at once included) and the
#     example run under ASan+UBSan. (scripts/test.sh passes --no-asan: its
#     own ASan ctest step just ran these.)
# Ends with "capi test: passed (N s)".
set -euo pipefail
cd "$(dirname "$0")/.."
asan=1
[ "${1:-}" = --no-asan ] && asan=0
start=$(date +%s)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "capi test: $*"; exit 1; }

# 1. A clean copy, and the README's commands in it.
src="$tmp/src"
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -C "$src" -xf -
sed -n '/<!-- capi: build -->/,/^```$/p' README.md | sed '1,2d;$d' > "$tmp/build.sh"
grep -q '^prefix=' "$tmp/build.sh" || fail "no prefix= line between the <!-- capi: build --> markers in README.md"
sed -i "s|^prefix=.*|prefix=$tmp/prefix|" "$tmp/build.sh"
echo "+ README's build commands in a clean copy (prefix $tmp/prefix)"
(cd "$src" && bash -euxo pipefail "$tmp/build.sh") > "$tmp/build.log" 2>&1 || { tail -60 "$tmp/build.log"; fail "the README's commands failed"; }
grep -E '^(ok|FAIL) |passed|tests passed' "$tmp/build.log" | tail -25
prefix="$tmp/prefix"
[ -f "$prefix/include/distac.h" ] && [ -f "$prefix/lib/pkgconfig/distac.pc" ] || fail "the install lacks distac.h or distac.pc"

# 2. merge_config (distac.h and pkg-config alone) against the CLI.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror "$src/capi/tests/merge_config.c" $(pkg-config --cflags --libs distac) -o "$tmp/merge_config"
(cd "$src" && go build -o "$tmp/distac" ./cmd/distac)
cli=$tmp/cli capi=$tmp/capi
mkdir -p "$cli" "$capi"
cat > "$cli/model.json" <<'EOF'
{"embed_dim": 8, "mlp_cfg": {"in_features": 64, "hidden": [32, 16]}, "preprocess_cfg": {"mean": [0.5], "std": [0.25]}}
EOF
for m in base:1 a:2 b:3; do
  "$tmp/distac" init --model-config "$cli/model.json" --out "$cli/${m%%:*}.safetensors" --seed "${m##*:}" > /dev/null
done
cp "$cli"/*.safetensors "$capi/"
for method in ta ties tsvm dare wudi emr; do
  config="{\"method\": \"$method\", \"base\": \"base.safetensors\", \"tasks\": [\"a.safetensors\", \"b.safetensors\"], \"alpha\": 0.7, \"out\": \"$method.out.safetensors\"}"
  echo "$config" > "$cli/$method.json"
  echo "$config" > "$capi/$method.json"
  (cd "$cli" && "$tmp/distac" merge --config "$method.json" --quiet > /dev/null)
  (cd "$capi" && LD_LIBRARY_PATH="$prefix/lib" "$tmp/merge_config" "$method.json")
  cmp "$cli/$method.out.safetensors" "$capi/$method.out.safetensors" || fail "$method: distac_merge and distac merge --config differ"
  echo "ok   $method: distac_merge (pkg-config, distac.h alone) = distac merge --config, bit for bit"
done
cmp "$cli/emr.out.modulators.safetensors" "$capi/emr.out.modulators.safetensors" || fail "emr: the modulators files differ"
echo "ok   emr: the modulators file of distac_merge = distac merge --config's, bit for bit"
# A mergekit config: the CLI takes its output from --out, the C API from
# distac's out key beside mergekit's.
mergekit='merge_method: dare_ties
base_model: base.safetensors
models:
  - model: a.safetensors
    parameters: {weight: 0.6, density: 0.5}
  - model: b.safetensors
    parameters: {weight: 0.4, density: 0.7}
parameters: {normalize: true, int8_mask: true}
dtype: bfloat16'
echo "$mergekit" > "$cli/mergekit.yml"
printf '%s\nout: mergekit.out.safetensors\n' "$mergekit" > "$capi/mergekit.yml"
(cd "$cli" && "$tmp/distac" merge --config mergekit.yml --out mergekit.out.safetensors --quiet > /dev/null 2>&1)
(cd "$capi" && LD_LIBRARY_PATH="$prefix/lib" "$tmp/merge_config" mergekit.yml 2> /dev/null)
cmp "$cli/mergekit.out.safetensors" "$capi/mergekit.out.safetensors" || fail "mergekit config: distac_merge and distac merge --config --out differ"
echo "ok   mergekit dare_ties config: distac_merge (out: key) = distac merge --config --out, bit for bit"
printf '\x10\0\0\0\0\0\0\0{"w": broken}' > "$capi/corrupt.safetensors"
for bad in missing corrupt; do
  echo "{\"base\": \"base.safetensors\", \"tasks\": [\"a.safetensors\", \"$bad.safetensors\"], \"out\": \"never.safetensors\"}" > "$capi/$bad.json"
  set +e
  msg=$(cd "$capi" && LD_LIBRARY_PATH="$prefix/lib" "$tmp/merge_config" "$bad.json" 2>&1)
  rc=$?
  set -e
  [ "$rc" -ne 0 ] && echo "$msg" | grep -q "$bad.safetensors" || fail "$bad input: exit $rc, message: $msg"
  echo "ok   $bad input: exit $rc: $msg"
done
[ ! -e "$capi/never.safetensors" ] || fail "a failed merge left its output"

# 3. The C tests and the example under ASan+UBSan.
if [ "$asan" = 1 ]; then
  echo "+ the same tree with -DDISTAC_SANITIZE=ON"
  cmake -S "$src" -B "$tmp/asan" -DCMAKE_BUILD_TYPE=Debug -DDISTAC_SANITIZE=ON > /dev/null
  cmake --build "$tmp/asan" -j "$(nproc)" > /dev/null
  for t in test_capi test_threads; do
    ldd "$tmp/asan/$t" | grep -q libasan || fail "$t of the ASan build does not link the ASan runtime"
  done
  ctest --test-dir "$tmp/asan" --output-on-failure -V > "$tmp/asan.log" 2>&1 || { tail -60 "$tmp/asan.log"; fail "ctest of the ASan build failed"; }
  grep -E 'tests passed|Skipped|cpp_host: built with' "$tmp/asan.log"
fi
echo "capi test: passed ($(( $(date +%s) - start )) s)"
