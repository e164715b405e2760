#!/usr/bin/env bash
# The C kernels off x86: compiles every kernels/avx/*.c and kernels/tests/test_*.c
# for arm64 with -Wall -Wextra -Werror, checks that the library defines every
# function the headers declare, links each test and runs it under qemu. There
# the scalar path must pass and the AVX2 and AVX-512 paths must report
# themselves skipped (their functions exist but return DISTAC_EISA).
# Exits non-zero if anything fails.
#
#   scripts/cross_arm64.sh          (Debian: gcc-aarch64-linux-gnu,
#                                    libc6-dev-arm64-cross, qemu-user-static)
set -euo pipefail
cd "$(dirname "$0")/.."

CC=${CC:-aarch64-linux-gnu-gcc}
AR=${AR:-aarch64-linux-gnu-ar}
NM=${NM:-aarch64-linux-gnu-nm}
QEMU=${QEMU:-qemu-aarch64-static}
SYSROOT=${SYSROOT:-/usr/aarch64-linux-gnu}
CFLAGS=(-O2 -std=c11 -Wall -Wextra -Werror -Ikernels/include -Ikernels/avx -Ikernels/tests)
JOBS=${JOBS:-$(nproc)} # compilers and emulated tests at a time

for tool in "$CC" "$AR" "$NM" "$QEMU"; do
  command -v "$tool" >/dev/null || { echo "cross_arm64: $tool not found" >&2; exit 1; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== compile kernels/avx/*.c ($CC ${CFLAGS[*]})"
objs=()
for src in kernels/avx/*.c; do objs+=("$out/$(basename "$src" .c).o"); done
# xargs fails if any compiler does
printf '%s\n' kernels/avx/*.c |
  xargs -P "$JOBS" -I{} sh -c '"$0" "$@" -c {} -o "'"$out"'/$(basename {} .c).o"' "$CC" "${CFLAGS[@]}"
"$AR" rcs "$out/libdistac_kernels.a" "${objs[@]}"
echo "   ${#objs[@]} files, no warnings"

echo "== every function the headers declare is defined"
"$CC" -std=c11 -E -P -Ikernels/include -x c kernels/include/distac_kernels.h |
  grep -o 'distac_[a-z0-9_]*[[:space:]]*(' | tr -d '( \t' | sort -u >"$out/declared"
"$NM" -g --defined-only "$out/libdistac_kernels.a" | awk 'NF == 3 && $2 == "T" {print $3}' |
  sort -u >"$out/defined"
missing=$(comm -23 "$out/declared" "$out/defined")
if [ -n "$missing" ]; then echo "   missing:"; echo "$missing"; exit 1; fi
echo "   $(wc -l <"$out/declared") functions"

echo "== compile, link and run kernels/tests/test_*.c under $QEMU -L $SYSROOT"
printf '%s\n' kernels/tests/test_*.c |
  xargs -P "$JOBS" -I{} sh -c '"$0" "$@" {} "'"$out"'/libdistac_kernels.a" -lm -lpthread -o "'"$out"'/$(basename {} .c)"' \
    "$CC" "${CFLAGS[@]}"
# JOBS at a time (each records its exit status); the logs are checked after.
# The slowest under emulation first (measured: test_ties ~19 s, test_gemm ~11 s,
# test_runtime ~8 s, test_taskvec ~8 s, the others a few seconds each).
names=()
for name in test_ties test_gemm test_runtime test_taskvec; do
  [ -e "kernels/tests/$name.c" ] && names+=("$name")
done
for src in kernels/tests/test_*.c; do
  name=$(basename "$src" .c)
  [[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
done
for name in "${names[@]}"; do
  [ "$(jobs -rp | wc -l)" -lt "$JOBS" ] || wait -n || true
  (
    rc=0
    "$QEMU" -L "$SYSROOT" "$out/$name" >"$out/$name.log" 2>&1 || rc=$?
    echo "$rc" >"$out/$name.rc"
  ) &
done
wait
fail=0
for name in "${names[@]}"; do
  log="$out/$name.log"
  rc=$(cat "$out/$name.rc")
  summary=$(tail -n 1 "$log")
  # scalar ran and passed; avx2 and avx512 were skipped, each with its reason
  if [ "$rc" != 0 ] || ! grep -q '^ok *scalar ' "$log" ||
     ! grep -q '^skip avx2 ' "$log" || ! grep -q '^skip avx512 ' "$log" ||
     ! [[ "$summary" =~ ^[1-9][0-9]*\ passed,\ 0\ failed ]]; then
    echo "   FAIL $name (exit $rc): $summary"
    { grep -v '^ok ' "$log" || true; } | tail -n 20 | sed 's/^/     /'
    fail=1
  else
    echo "   ok   $name: $summary"
  fi
done
[ "$fail" -eq 0 ] || { echo "cross_arm64: FAILED"; exit 1; }
echo "cross_arm64: all kernels build for arm64 and every test passes (scalar; SIMD skipped)"
