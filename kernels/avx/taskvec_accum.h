/*
 * taskvec_accum.h — sub_accum: sub, one input's step of wsum and sumsq fused
 * into one pass over a task's chunk (see distac_kernels.h). A streamed merge
 * reads each task's chunk once: forming tau, adding w*tau into the delta and
 * summing tau^2 for the task's norm happen while tau is in registers, where
 * sub, sumsq and wsum wrote tau out and read it back twice (for 8 tasks the
 * taus of a 64K chunk are 2 MiB, past a 1 MiB L2).
 *
 * Included by taskvec.c, whose loads, masks and sumsq order it shares, so
 * each output has the bits of the op it replaces on the same ISA: tau is
 * exact IEEE subtraction of exactly widened inputs; acc is w*t for the first
 * task, then acc + w*t (scalar) or fma(w, t, acc) (SIMD), as wsum's loop over
 * the tasks; element i of a sumsq block goes to float64 lane i % 16, lanes
 * are folded by tv_fold16 and block sums added in order from 0. A masked or
 * zero-padded tail adds 0*0 to its idle lanes, which leaves them unchanged.
 */

/* Runs fn(tau, acc, FT, ft, BT, base, n, w, first, sumsq) with both dtypes as
 * constants (as TV_SUB_PAIRS does for sub). */
#define TV_ACCUM_PAIRS(fn)                                                       \
  switch (ft_type * 3 + base_type) {                                             \
    case DISTAC_F32 * 3 + DISTAC_F32: fn(TV_ACCUM_ARGS(DISTAC_F32, DISTAC_F32)); break;   \
    case DISTAC_F32 * 3 + DISTAC_F16: fn(TV_ACCUM_ARGS(DISTAC_F32, DISTAC_F16)); break;   \
    case DISTAC_F32 * 3 + DISTAC_BF16: fn(TV_ACCUM_ARGS(DISTAC_F32, DISTAC_BF16)); break; \
    case DISTAC_F16 * 3 + DISTAC_F32: fn(TV_ACCUM_ARGS(DISTAC_F16, DISTAC_F32)); break;   \
    case DISTAC_F16 * 3 + DISTAC_F16: fn(TV_ACCUM_ARGS(DISTAC_F16, DISTAC_F16)); break;   \
    case DISTAC_F16 * 3 + DISTAC_BF16: fn(TV_ACCUM_ARGS(DISTAC_F16, DISTAC_BF16)); break; \
    case DISTAC_BF16 * 3 + DISTAC_F32: fn(TV_ACCUM_ARGS(DISTAC_BF16, DISTAC_F32)); break; \
    case DISTAC_BF16 * 3 + DISTAC_F16: fn(TV_ACCUM_ARGS(DISTAC_BF16, DISTAC_F16)); break; \
    default: fn(TV_ACCUM_ARGS(DISTAC_BF16, DISTAC_BF16)); break;                           \
  }
#define TV_ACCUM_ARGS(FT, BT) tau, acc, FT, ft, BT, base, n, w, first, sumsq

static int tv_accum_check(distac_dtype ft_type, const void *ft, distac_dtype base_type,
                          const void *base, int64_t n) {
  if (!tv_dtype_ok(ft_type) || !tv_dtype_ok(base_type) || n < 0) return DISTAC_EINVAL;
  if (n > 0 && (!ft || !base)) return DISTAC_EINVAL;
  return DISTAC_OK;
}

/* ================================================================ scalar === */

int distac_sub_accum_scalar(float *tau, float *acc, distac_dtype ft_type, const void *ft,
                            distac_dtype base_type, const void *base, int64_t n, float w,
                            int first, double *sumsq) {
  int rc = tv_accum_check(ft_type, ft, base_type, base, n);
  if (rc != DISTAC_OK) return rc;
  float a[256], b[256];
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += DISTAC_SUMSQ_BLOCK) {
    int64_t end = b0 + tv_block_len(n, b0 / DISTAC_SUMSQ_BLOCK);
    double l[16] = {0};
    for (int64_t i = b0; i < end; i += 256) {
      int64_t len = end - i < 256 ? end - i : 256;
      distac_convert_scalar(DISTAC_F32, a, ft_type, tv_at(ft_type, ft, i), len);
      distac_convert_scalar(DISTAC_F32, b, base_type, tv_at(base_type, base, i), len);
      for (int64_t k = 0; k < len; k++) {
        float t = a[k] - b[k];
        if (tau) tau[i + k] = t;
        if (acc) acc[i + k] = first ? w * t : acc[i + k] + w * t;
        l[(i + k - b0) & 15] += (double)t * t;
      }
    }
    total += tv_fold16(l);
  }
  if (sumsq) *sumsq = total;
  return DISTAC_OK;
}

#if DISTAC_HAVE_X86 /* ------------------------- the SIMD variants (x86) --- */

/* ================================================================== AVX2 === */

/* The outputs of 8 lanes t at element i (acc's step unmasked). */
TV_INLINE DISTAC_TARGET_AVX2 void tv_accum8_avx2(float *tau, float *acc, int64_t i, __m256 t,
                                                 __m256 vw, int first) {
  if (tau) _mm256_storeu_ps(tau + i, t);
  if (acc)
    _mm256_storeu_ps(acc + i, first ? _mm256_mul_ps(vw, t)
                                    : _mm256_fmadd_ps(vw, t, _mm256_loadu_ps(acc + i)));
}

/* sumsq's AVX2 lanes: elements 0-3, 4-7 of t0 and 8-11, 12-15 of t1. */
#define TV_ACCUM_SQ_AVX2(t0, t1)                                 \
  do {                                                           \
    __m256d d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(t0));    \
    __m256d d1 = _mm256_cvtps_pd(_mm256_extractf128_ps(t0, 1));  \
    __m256d d2 = _mm256_cvtps_pd(_mm256_castps256_ps128(t1));    \
    __m256d d3 = _mm256_cvtps_pd(_mm256_extractf128_ps(t1, 1));  \
    s0 = _mm256_fmadd_pd(d0, d0, s0), s1 = _mm256_fmadd_pd(d1, d1, s1); \
    s2 = _mm256_fmadd_pd(d2, d2, s2), s3 = _mm256_fmadd_pd(d3, d3, s3); \
  } while (0)

TV_INLINE DISTAC_TARGET_AVX2 void tv_accum_run_avx2(float *tau, float *acc, distac_dtype ft_type,
                                                    const void *ft, distac_dtype base_type,
                                                    const void *base, int64_t n, float w,
                                                    int first, double *sumsq) {
  __m256 vw = _mm256_set1_ps(w);
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += DISTAC_SUMSQ_BLOCK) {
    int64_t end = b0 + tv_block_len(n, b0 / DISTAC_SUMSQ_BLOCK), i = b0;
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    for (; i + 16 <= end; i += 16) {
      __m256 t0 = _mm256_sub_ps(tv_load8_avx2(ft_type, ft, i), tv_load8_avx2(base_type, base, i));
      __m256 t1 = _mm256_sub_ps(tv_load8_avx2(ft_type, ft, i + 8),
                                tv_load8_avx2(base_type, base, i + 8));
      tv_accum8_avx2(tau, acc, i, t0, vw, first);
      tv_accum8_avx2(tau, acc, i + 8, t1, vw, first);
      if (sumsq) TV_ACCUM_SQ_AVX2(t0, t1);
    }
    if (i < end) { /* the tail, zero-padded to 16 lanes */
      int64_t r = end - i;
      float tt[16] = {0};
      tv_sub_range(tt, ft_type, tv_at(ft_type, ft, i), base_type, tv_at(base_type, base, i), 0, r);
      for (int64_t k = 0; k < r; k++) {
        if (tau) tau[i + k] = tt[k];
        if (acc) acc[i + k] = first ? w * tt[k] : fmaf(w, tt[k], acc[i + k]); /* vfmadd: wsum's bits */
      }
      __m256 t0 = _mm256_loadu_ps(tt), t1 = _mm256_loadu_ps(tt + 8);
      if (sumsq) TV_ACCUM_SQ_AVX2(t0, t1);
    }
    double l[16];
    _mm256_storeu_pd(l, s0), _mm256_storeu_pd(l + 4, s1);
    _mm256_storeu_pd(l + 8, s2), _mm256_storeu_pd(l + 12, s3);
    total += tv_fold16(l);
  }
  if (sumsq) *sumsq = total;
}

DISTAC_TARGET_AVX2 int distac_sub_accum_avx2(float *tau, float *acc, distac_dtype ft_type,
                                             const void *ft, distac_dtype base_type,
                                             const void *base, int64_t n, float w, int first,
                                             double *sumsq) {
  int rc = tv_accum_check(ft_type, ft, base_type, base, n);
  if (rc != DISTAC_OK) return rc;
  TV_ACCUM_PAIRS(tv_accum_run_avx2)
  return DISTAC_OK;
}

/* =============================================================== AVX-512 === */

TV_INLINE DISTAC_TARGET_AVX512 void tv_accum_run_avx512(float *tau, float *acc,
                                                        distac_dtype ft_type, const void *ft,
                                                        distac_dtype base_type, const void *base,
                                                        int64_t n, float w, int first,
                                                        double *sumsq) {
  __m512 vw = _mm512_set1_ps(w);
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += DISTAC_SUMSQ_BLOCK) {
    int64_t end = b0 + tv_block_len(n, b0 / DISTAC_SUMSQ_BLOCK);
    __m512d s0 = _mm512_setzero_pd(), s1 = s0;
    for (int64_t i = b0; i < end; i += 16) {
      __mmask16 m = tv_mask16(end - i); /* idle lanes load 0 */
      __m512 t = tv_sub16_avx512(ft_type, ft, base_type, base, i, m);
      if (tau) _mm512_mask_storeu_ps(tau + i, m, t);
      if (acc) {
        __m512 r = first ? _mm512_mul_ps(vw, t)
                         : _mm512_fmadd_ps(vw, t, _mm512_maskz_loadu_ps(m, acc + i));
        _mm512_mask_storeu_ps(acc + i, m, r);
      }
      if (sumsq) { /* lanes 0-7 to s0, 8-15 to s1, as tv_sumsq_block_avx512 */
        __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(t));
        __m512d d1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1)));
        s0 = _mm512_fmadd_pd(d0, d0, s0), s1 = _mm512_fmadd_pd(d1, d1, s1);
      }
    }
    double l[16];
    _mm512_storeu_pd(l, s0), _mm512_storeu_pd(l + 8, s1);
    total += tv_fold16(l);
  }
  if (sumsq) *sumsq = total;
}

DISTAC_TARGET_AVX512 int distac_sub_accum_avx512(float *tau, float *acc, distac_dtype ft_type,
                                                 const void *ft, distac_dtype base_type,
                                                 const void *base, int64_t n, float w, int first,
                                                 double *sumsq) {
  int rc = tv_accum_check(ft_type, ft, base_type, base, n);
  if (rc != DISTAC_OK) return rc;
  TV_ACCUM_PAIRS(tv_accum_run_avx512)
  return DISTAC_OK;
}

#endif /* DISTAC_HAVE_X86 */
