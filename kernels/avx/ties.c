/*
 * ties.c — TIES-merging kernels (the threshold comes from topk.c's counts):
 *
 *   ties_trim      dst = |x| < threshold ? 0 : x
 *   ties_merge     trim each input, elect the sign of the sum, disjoint mean
 *
 * Data pointers may be NULL only when n == 0. Every variant gives the same
 * bits as the scalar one (NaN payloads aside): the SIMD code performs the
 * same float operations in the same order.
 *
 * Outputs of 16 MiB or more are written with non-temporal stores: such
 * outputs are not read again while still cached, and skipping the read-for-
 * ownership saves a third of a trim's memory traffic (36 vs 25 GB/s at
 * 64 MiB on Zen 4; at 4 MiB cached stores are faster). The streaming loops
 * also prefetch every input into L2 ahead of use: with eight inputs the
 * hardware prefetchers alone leave DRAM underused (18 vs 24 GB/s).
 */
#include <math.h>

#include "simd_map.h" /* internal.h; the x86 intrinsics on x86 */

#define TIES_STREAM_BYTES ((int64_t)16 << 20)
#define TIES_PREFETCH_BYTES 2048 /* per input; found by measurement */

/* -------------------------------------------------------------- ties_trim */

/* NaN x or NaN threshold: the comparison is false and x is kept. */
static inline float ties_trim1(float x, float threshold) {
  return fabsf(x) < threshold ? 0.0f : x;
}

static int ties_trim_args(const float *dst, const float *x, int64_t n) {
  return n >= 0 && ((dst && x) || n == 0);
}

int distac_ties_trim_scalar(float *dst, const float *x, int64_t n, float threshold) {
  if (!ties_trim_args(dst, x, n)) return DISTAC_EINVAL;
  for (int64_t i = 0; i < n; i++) dst[i] = ties_trim1(x[i], threshold);
  return DISTAC_OK;
}

/* ------------------------------------------------------------- ties_merge */

static int ties_merge_args(const float *dst, int32_t count, const float *const *xs,
                           const float *thresholds, int64_t n) {
  if (n < 0 || count < 1 || !xs || !thresholds || (!dst && n > 0)) return 0;
  for (int32_t t = 0; t < count && n > 0; t++)
    if (!xs[t]) return 0;
  return 1;
}

/* One element, in one pass over the inputs and without branches on the data.
 * Alongside the in-order sum s, keep the sum and count of the positive values
 * (p, cp) and of the negative ones (q, cq), then take the side s elects. p
 * also adds the zeros and NaNs (v >= 0 or unordered) and q likewise (v <= 0
 * or unordered): adding a zero changes nothing, and a NaN reaches both sides,
 * so whichever is elected comes out NaN. Each side adds its values in input
 * order, as the spec does, and an empty side gives 0 / max(0, 1) = 0. The
 * SIMD variants do exactly this per lane. */
static float ties_merge1(int32_t count, const float *const *xs, const float *thresholds,
                         int64_t i) {
  float s = 0.0f, p = 0.0f, q = 0.0f;
  int32_t cp = 0, cq = 0;
  for (int32_t t = 0; t < count; t++) {
    float x = xs[t][i];
    float v = distac_keep_f32(!(fabsf(x) < thresholds[t]), x); /* ties_trim1 */
    s += v;
    p += distac_keep_f32(!(v < 0.0f), v);
    q += distac_keep_f32(!(v > 0.0f), v);
    cp += v > 0.0f;
    cq += v < 0.0f;
  }
  float up = p / (float)(cp > 1 ? cp : 1), down = q / (float)(cq > 1 ? cq : 1);
  /* zero elects +; a NaN sum (a NaN input, or +Inf + -Inf) elects - */
  int elect_up = s >= 0.0f;
  return distac_keep_f32(elect_up, up) + distac_keep_f32(!elect_up, down);
}

int distac_ties_merge_scalar(float *dst, int32_t count, const float *const *xs,
                             const float *thresholds, int64_t n) {
  if (!ties_merge_args(dst, count, xs, thresholds, n)) return DISTAC_EINVAL;
  for (int64_t i = 0; i < n; i++) dst[i] = ties_merge1(count, xs, thresholds, i);
  return DISTAC_OK;
}

/* ------------------------------------------------------- AVX2, AVX-512 --- */

#if DISTAC_HAVE_X86
/* 1 if dst[0, n) should be written with streaming stores (after the caller
 * peels elements up to a 64-byte boundary). */
static int ties_stream(const float *dst, int64_t n) {
  return n * (int64_t)sizeof(float) >= TIES_STREAM_BYTES && ((uintptr_t)dst & 3) == 0;
}

/* Prefetch hint for p + TIES_PREFETCH_BYTES; a prefetch never faults, and
 * the address is formed as an integer so running past the end is defined. */
static inline void ties_prefetch(const float *p) {
  _mm_prefetch((const char *)((uintptr_t)p + TIES_PREFETCH_BYTES), _MM_HINT_T1);
}

static int ties_misaligned64(const float *p) { return ((uintptr_t)p & 63) != 0; }
#endif

#define SIMD_TEMPLATE "ties_simd.h"
#include "simd_each.h"

DISTAC_DEFINE_DISPATCH(ties_trim, (float *dst, const float *x, int64_t n, float threshold),
                       (dst, x, n, threshold))
DISTAC_DEFINE_DISPATCH(ties_merge,
                       (float *dst, int32_t count, const float *const *xs,
                        const float *thresholds, int64_t n),
                       (dst, count, xs, thresholds, n))
