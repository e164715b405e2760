/*
 * tall.c — TALL masks and Consensus Task Arithmetic. Per element i, with
 * mtl = sum_t x_t in input order:
 *   c = #{ t : |x_t| > lambda_t * |mtl - x_t| }     (task t's TALL mask)
 *   counts[i] = c,  dst[i] = c >= min_agree ? mtl : 0  (NaN mtl stays NaN)
 * Either output may be NULL; both NULL is a valid no-op. Data pointers may be
 * NULL only when n == 0. The SIMD variants do the same float operations in
 * the same order as the scalar one (no FMA), so all give the same bits.
 *
 * Each block of lanes reads the inputs twice (sum, then masks); the second
 * read hits L1, so memory sees every input once.
 */
#include <math.h>

#include "simd_map.h" /* internal.h; the x86 intrinsics on x86 */

/* As in ties.c: dst outputs of 16 MiB or more use non-temporal stores (not
 * read again while cached; no read-for-ownership), and every input is
 * prefetched into L2 ahead of use, which the hardware prefetchers do not keep
 * up with across eight or more streams. */
#define TALL_STREAM_BYTES ((int64_t)16 << 20)
#define TALL_PREFETCH_BYTES 2048

static int tall_args(const float *dst, const uint8_t *counts, int32_t count,
                     const float *const *xs, const float *lambdas, int64_t n) {
  if (n < 0 || count < 1 || count > 255 || !xs || !lambdas) return 0;
  if (n == 0 || (!dst && !counts)) return 1;
  for (int32_t t = 0; t < count; t++)
    if (!xs[t]) return 0;
  return 1;
}

/* The spec, one element at a time. */
static void tall1(float *dst, uint8_t *counts, int32_t count, const float *const *xs,
                  const float *lambdas, int32_t min_agree, int64_t i) {
  float mtl = 0.0f;
  for (int32_t t = 0; t < count; t++) mtl += xs[t][i];
  int32_t c = 0;
  for (int32_t t = 0; t < count; t++) {
    float x = xs[t][i];
    c += fabsf(x) > lambdas[t] * fabsf(mtl - x);
  }
  if (counts) counts[i] = (uint8_t)c;
  if (dst) dst[i] = distac_keep_f32(c >= min_agree || isnan(mtl), mtl);
}

int distac_tall_consensus_scalar(float *dst, uint8_t *counts, int32_t count,
                                 const float *const *xs, const float *lambdas,
                                 int32_t min_agree, int64_t n) {
  if (!tall_args(dst, counts, count, xs, lambdas, n)) return DISTAC_EINVAL;
  if (!dst && !counts) return DISTAC_OK;
  for (int64_t i = 0; i < n; i++) tall1(dst, counts, count, xs, lambdas, min_agree, i);
  return DISTAC_OK;
}

/* ------------------------------------------------------- AVX2, AVX-512 ---
 * Per ISA the masks and count of one vector; the loop around them is
 * tall_simd.h. */
#if DISTAC_HAVE_X86
static int tall_stream(const float *dst, int64_t n) {
  return dst && n * (int64_t)sizeof(float) >= TALL_STREAM_BYTES && ((uintptr_t)dst & 3) == 0;
}

static inline void tall_prefetch(int32_t count, const float *const *xs, int64_t i) {
  for (int32_t t = 0; t < count; t++)
    _mm_prefetch((const char *)((uintptr_t)(xs[t] + i) + TALL_PREFETCH_BYTES), _MM_HINT_T1);
}

/* Eight lanes from i; nt: dst + i is 32-byte aligned and may be streamed. */
DISTAC_TARGET_AVX2 static inline void tall_vec_avx2(float *dst, uint8_t *counts, int32_t count,
                                                    const float *const *xs, const float *lambdas,
                                                    __m256i min, int nt, int64_t i) {
  const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 mtl = _mm256_setzero_ps();
  for (int32_t t = 0; t < count; t++) mtl = _mm256_add_ps(mtl, _mm256_loadu_ps(xs[t] + i));
  __m256i c = _mm256_setzero_si256();
  for (int32_t t = 0; t < count; t++) {
    __m256 x = _mm256_loadu_ps(xs[t] + i);
    __m256 rhs =
        _mm256_mul_ps(_mm256_set1_ps(lambdas[t]), _mm256_and_ps(_mm256_sub_ps(mtl, x), abs));
    /* a true compare is all ones, i.e. -1 */
    c = _mm256_sub_epi32(
        c, _mm256_castps_si256(_mm256_cmp_ps(_mm256_and_ps(x, abs), rhs, _CMP_GT_OQ)));
  }
  if (counts) { /* 0 <= c <= 255: two saturating packs keep it exact */
    __m128i c16 = _mm_packus_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    _mm_storel_epi64((__m128i *)(counts + i), _mm_packus_epi16(c16, c16));
  }
  if (dst) { /* drop lanes with c < min_agree unless mtl is NaN */
    __m256 drop = _mm256_andnot_ps(_mm256_cmp_ps(mtl, mtl, _CMP_UNORD_Q),
                                   _mm256_castsi256_ps(_mm256_cmpgt_epi32(min, c)));
    __m256 out = _mm256_andnot_ps(drop, mtl);
    if (nt) _mm256_stream_ps(dst + i, out);
    else _mm256_storeu_ps(dst + i, out);
  }
}

/* Sixteen lanes from i, loading the lanes in m (masked loads and stores do
 * not fault past the end); nt: dst + i is 64-byte aligned and m is full. */
DISTAC_TARGET_AVX512 static inline void tall_vec_avx512(float *dst, uint8_t *counts,
                                                        int32_t count, const float *const *xs,
                                                        const float *lambdas, __m512i min, int nt,
                                                        int64_t i, __mmask16 m) {
  const __m512i one = _mm512_set1_epi32(1);
  __m512 mtl = _mm512_setzero_ps();
  for (int32_t t = 0; t < count; t++) mtl = _mm512_add_ps(mtl, _mm512_maskz_loadu_ps(m, xs[t] + i));
  __m512i c = _mm512_setzero_si512();
  for (int32_t t = 0; t < count; t++) {
    __m512 x = _mm512_maskz_loadu_ps(m, xs[t] + i);
    __m512 rhs = _mm512_mul_ps(_mm512_set1_ps(lambdas[t]), _mm512_abs_ps(_mm512_sub_ps(mtl, x)));
    c = _mm512_mask_add_epi32(c, _mm512_cmp_ps_mask(_mm512_abs_ps(x), rhs, _CMP_GT_OQ), c, one);
  }
  if (counts) _mm_mask_storeu_epi8(counts + i, m, _mm512_cvtepi32_epi8(c));
  if (dst) {
    __mmask16 keep = _mm512_cmpge_epi32_mask(c, min) | _mm512_cmp_ps_mask(mtl, mtl, _CMP_UNORD_Q);
    __m512 out = _mm512_maskz_mov_ps(keep, mtl);
    if (nt) _mm512_stream_ps(dst + i, out);
    else _mm512_mask_storeu_ps(dst + i, m, out);
  }
}
#endif

#define SIMD_TEMPLATE "tall_simd.h"
#include "simd_each.h"

DISTAC_DEFINE_DISPATCH(tall_consensus,
                       (float *dst, uint8_t *counts, int32_t count, const float *const *xs,
                        const float *lambdas, int32_t min_agree, int64_t n),
                       (dst, counts, count, xs, lambdas, min_agree, n))
