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
#include <immintrin.h>
#include <math.h>

#include "internal.h"

#define TIES_STREAM_BYTES ((int64_t)16 << 20)
#define TIES_PREFETCH_BYTES 2048 /* per input; found by measurement */

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

/* ------------------------------------------------------- AVX2, AVX-512 ---
 * Per ISA: the trim of one vector and ties_merge1's running sums and counts
 * of one vector; the loops around them are ties_simd.h. */
#if DISTAC_HAVE_X86
DISTAC_TARGET_AVX2 static inline __m256 ties_trim_vec_avx2(__m256 v, __m256 thr) {
  const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  return _mm256_andnot_ps(_mm256_cmp_ps(_mm256_and_ps(v, abs), thr, _CMP_LT_OQ), v);
}

DISTAC_TARGET_AVX512 static inline __m512 ties_trim_vec_avx512(__m512 v, __m512 thr) {
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_abs_ps(v), thr, _CMP_NLT_UQ), v);
}

/* ties_merge1 on eight lanes (AVX2): the running sums and counts of one vector.
 * Counts are integers so that only s, p and q compete for the FP adders. */
typedef struct {
  __m256 s, p, q;
  __m256i cp, cq;
} ties_acc_avx2;

DISTAC_TARGET_AVX2 static inline void ties_acc_add_avx2(ties_acc_avx2 *a, __m256 x, __m256 thr) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 v = ties_trim_vec_avx2(x, thr);
  __m256 pos = _mm256_cmp_ps(v, zero, _CMP_GT_OQ), neg = _mm256_cmp_ps(v, zero, _CMP_LT_OQ);
  a->s = _mm256_add_ps(a->s, v);
  a->p = _mm256_add_ps(a->p, _mm256_andnot_ps(neg, v));
  a->q = _mm256_add_ps(a->q, _mm256_andnot_ps(pos, v));
  a->cp = _mm256_sub_epi32(a->cp, _mm256_castps_si256(pos)); /* true is -1 */
  a->cq = _mm256_sub_epi32(a->cq, _mm256_castps_si256(neg));
}

DISTAC_TARGET_AVX2 static inline __m256 ties_acc_mean_avx2(const ties_acc_avx2 *a) {
  __m256 up = _mm256_cmp_ps(a->s, _mm256_setzero_ps(), _CMP_GE_OQ);
  __m256i c = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a->cq),
                                                   _mm256_castsi256_ps(a->cp), up));
  __m256 den = _mm256_cvtepi32_ps(_mm256_max_epi32(c, _mm256_set1_epi32(1)));
  return _mm256_div_ps(_mm256_blendv_ps(a->q, a->p, up), den);
}

/* As ties_acc_avx2 on sixteen lanes. The trim folds into the lane masks:
 * a trimmed lane adds nothing instead of the spec's +0, which leaves every
 * sum unchanged (they start at +0 and so are never -0). */
typedef struct {
  __m512 s, p, q;
  __m512i cp, cq;
} ties_acc_avx512;

DISTAC_TARGET_AVX512 static inline void ties_acc_add_avx512(ties_acc_avx512 *a, __m512 v, __m512 thr) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512i one = _mm512_set1_epi32(1);
  __mmask16 keep = _mm512_cmp_ps_mask(_mm512_abs_ps(v), thr, _CMP_NLT_UQ);
  __mmask16 pos = _mm512_mask_cmp_ps_mask(keep, v, zero, _CMP_GT_OQ);
  __mmask16 neg = _mm512_mask_cmp_ps_mask(keep, v, zero, _CMP_LT_OQ);
  a->s = _mm512_mask_add_ps(a->s, keep, a->s, v);
  a->p = _mm512_mask_add_ps(a->p, _kandn_mask16(neg, keep), a->p, v);
  a->q = _mm512_mask_add_ps(a->q, _kandn_mask16(pos, keep), a->q, v);
  a->cp = _mm512_mask_add_epi32(a->cp, pos, a->cp, one);
  a->cq = _mm512_mask_add_epi32(a->cq, neg, a->cq, one);
}

DISTAC_TARGET_AVX512 static inline __m512 ties_acc_mean_avx512(const ties_acc_avx512 *a) {
  __mmask16 up = _mm512_cmp_ps_mask(a->s, _mm512_setzero_ps(), _CMP_GE_OQ);
  __m512i c = _mm512_max_epi32(_mm512_mask_blend_epi32(up, a->cq, a->cp), _mm512_set1_epi32(1));
  return _mm512_div_ps(_mm512_mask_blend_ps(up, a->q, a->p), _mm512_cvtepi32_ps(c));
}
#endif

#define SIMD_TEMPLATE "ties_simd.h"
#include "simd_each.h"

DISTAC_DEFINE_DISPATCH(ties_trim, (float *dst, const float *x, int64_t n, float threshold),
                       (dst, x, n, threshold))
DISTAC_DEFINE_DISPATCH(ties_merge,
                       (float *dst, int32_t count, const float *const *xs,
                        const float *thresholds, int64_t n),
                       (dst, count, xs, thresholds, n))
