/*
 * ties_simd.h — the AVX2 and AVX-512 code of ties.c: the loops written once
 * with the simd_map.h names around each ISA's per-vector trim and merge;
 * ties.c includes it once per ISA (simd_each.h). The tails differ: AVX2
 * finishes with the scalar element code, AVX-512 with masked vectors.
 */

/* ties_merge1 on one vector: the running sums and counts of its lanes.
 * Counts are integers so that only s, p and q compete for the FP adders. */
typedef struct {
  VF s, p, q;
  VI cp, cq;
} SIMD_FN(ties_acc);

/* The trim of one vector and the acc's add and mean differ per ISA. */
#if SIMD_W == 8
DISTAC_TARGET_AVX2 static inline __m256 ties_trim_vec_avx2(__m256 v, __m256 thr) {
  const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  return _mm256_andnot_ps(_mm256_cmp_ps(_mm256_and_ps(v, abs), thr, _CMP_LT_OQ), v);
}

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
#else
/* AVX-512: the trim folds into the lane masks: a trimmed lane adds nothing
 * instead of the spec's +0, which leaves every sum unchanged (they start at
 * +0 and so are never -0). */
DISTAC_TARGET_AVX512 static inline __m512 ties_trim_vec_avx512(__m512 v, __m512 thr) {
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_abs_ps(v), thr, _CMP_NLT_UQ), v);
}

DISTAC_TARGET_AVX512 static inline void ties_acc_add_avx512(ties_acc_avx512 *a, __m512 v,
                                                            __m512 thr) {
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

/* One prefetch per 64 bytes of the two vectors an iteration reads. */
#if SIMD_W == 8
#define TIES_PREFETCH(p) ties_prefetch(p)
#else
#define TIES_PREFETCH(p) (ties_prefetch(p), ties_prefetch((p) + 16))
#endif

SIMD_TARGET int SIMD_FN(distac_ties_trim)(float *dst, const float *x, int64_t n, float threshold) {
  if (!ties_trim_args(dst, x, n)) return DISTAC_EINVAL;
  const VF thr = vf_set1(threshold);
  const int nt = ties_stream(dst, n);
  int64_t i = 0;
  for (; nt && i < n && ties_misaligned64(dst + i); i++) dst[i] = ties_trim1(x[i], threshold);
  for (; i + 2 * SIMD_W <= n; i += 2 * SIMD_W) {
    TIES_PREFETCH(x + i);
    VF a = SIMD_FN(ties_trim_vec)(vf_loadu(x + i), thr);
    VF b = SIMD_FN(ties_trim_vec)(vf_loadu(x + i + SIMD_W), thr);
    if (nt) {
      vf_stream(dst + i, a), vf_stream(dst + i + SIMD_W, b);
    } else {
      vf_storeu(dst + i, a), vf_storeu(dst + i + SIMD_W, b);
    }
  }
#if SIMD_W == 8
  for (; i < n; i++) dst[i] = ties_trim1(x[i], threshold);
#else
  for (; i < n; i += 16) { /* masked loads do not fault past the end */
    __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, m, ties_trim_vec_avx512(_mm512_maskz_loadu_ps(m, x + i), thr));
  }
#endif
  if (nt) _mm_sfence();
  return DISTAC_OK;
}

SIMD_TARGET int SIMD_FN(distac_ties_merge)(float *dst, int32_t count, const float *const *xs,
                                           const float *thresholds, int64_t n) {
  if (!ties_merge_args(dst, count, xs, thresholds, n)) return DISTAC_EINVAL;
  const int nt = ties_stream(dst, n);
  int64_t i = 0;
  for (; nt && i < n && ties_misaligned64(dst + i); i++)
    dst[i] = ties_merge1(count, xs, thresholds, i);
  /* 2W lanes (AVX2: 64 bytes of each input) per iteration, as two independent
   * accumulator sets: two dependency chains for the out-of-order core. */
  for (; i + 2 * SIMD_W <= n; i += 2 * SIMD_W) {
    SIMD_FN(ties_acc) a = {0}, b = {0};
    for (int32_t t = 0; t < count; t++) {
      const VF thr = vf_set1(thresholds[t]);
      TIES_PREFETCH(xs[t] + i);
      SIMD_FN(ties_acc_add)(&a, vf_loadu(xs[t] + i), thr);
      SIMD_FN(ties_acc_add)(&b, vf_loadu(xs[t] + i + SIMD_W), thr);
    }
    VF lo = SIMD_FN(ties_acc_mean)(&a), hi = SIMD_FN(ties_acc_mean)(&b);
    if (nt) {
      vf_stream(dst + i, lo), vf_stream(dst + i + SIMD_W, hi);
    } else {
      vf_storeu(dst + i, lo), vf_storeu(dst + i + SIMD_W, hi);
    }
  }
#if SIMD_W == 8
  for (; i < n; i++) dst[i] = ties_merge1(count, xs, thresholds, i);
#else
  for (; i < n; i += 16) { /* masked loads do not fault past the end */
    __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
    ties_acc_avx512 a = {0};
    for (int32_t t = 0; t < count; t++)
      ties_acc_add_avx512(&a, _mm512_maskz_loadu_ps(m, xs[t] + i), _mm512_set1_ps(thresholds[t]));
    _mm512_mask_storeu_ps(dst + i, m, ties_acc_mean_avx512(&a));
  }
#endif
  if (nt) _mm_sfence();
  return DISTAC_OK;
}

#undef TIES_PREFETCH
