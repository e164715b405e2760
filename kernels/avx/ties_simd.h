/*
 * ties_simd.h — the AVX2 and AVX-512 loops of ties.c, written once with the
 * simd_map.h names around each ISA's per-vector trim and merge (ties.c);
 * ties.c includes it once per ISA (simd_each.h). The tails differ: AVX2
 * finishes with the scalar element code, AVX-512 with masked vectors.
 */

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
