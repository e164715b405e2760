/*
 * taskvec_simd.h — the weighted sum of taskvec.c and the entry point of
 * sub for AVX2 and AVX-512, written once with the simd_map.h names;
 * taskvec.c includes it once per ISA (simd_each.h). sub's loop, sumsq's
 * block, scale and axpy keep one body per ISA in taskvec.c: they differ in
 * their loops and tails, not only in width.
 */

SIMD_TARGET int SIMD_FN(distac_sub)(float *dst, distac_dtype ft_type, const void *ft,
                                    distac_dtype base_type, const void *base, int64_t n) {
  int rc = tv_sub_check(dst, ft_type, ft, base_type, base, n);
  if (rc != DISTAC_OK) return rc;
  TV_SUB_PAIRS(SIMD_FN(tv_sub_run))
  return DISTAC_OK;
}

/* One group of W lanes under mask m: w[0]*x0 first, then FMA in order of t. */
TV_INLINE SIMD_TARGET VF SIMD_FN(tv_wsum_vec)(int32_t count, const float *const *xs,
                                              const float *w, int64_t i, VMASK m) {
  VF acc = vf_mul(vf_bcast(w, 0), vf_load_mask(xs[0] + i, m));
  for (int32_t t = 1; t < count; t++)
    acc = vf_fmadd(vf_bcast(w, t), vf_load_mask(xs[t] + i, m), acc);
  return acc;
}

/* 4 W lanes at once, so each weight broadcast and pointer load serves 4 vectors. */
TV_INLINE SIMD_TARGET void SIMD_FN(tv_wsum4)(float *dst, int32_t count, const float *const *xs,
                                             const float *w, int64_t i, int stream) {
  const float *x = xs[0] + i;
  VF wt = vf_bcast(w, 0);
  VF a0 = vf_mul(wt, vf_loadu(x));
  VF a1 = vf_mul(wt, vf_loadu(x + SIMD_W));
  VF a2 = vf_mul(wt, vf_loadu(x + 2 * SIMD_W));
  VF a3 = vf_mul(wt, vf_loadu(x + 3 * SIMD_W));
  for (int32_t t = 1; t < count; t++) {
    x = xs[t] + i, wt = vf_bcast(w, t);
    a0 = vf_fmadd(wt, vf_loadu(x), a0);
    a1 = vf_fmadd(wt, vf_loadu(x + SIMD_W), a1);
    a2 = vf_fmadd(wt, vf_loadu(x + 2 * SIMD_W), a2);
    a3 = vf_fmadd(wt, vf_loadu(x + 3 * SIMD_W), a3);
  }
  float *d = dst + i;
  if (stream) {
    vf_stream(d, a0), vf_stream(d + SIMD_W, a1);
    vf_stream(d + 2 * SIMD_W, a2), vf_stream(d + 3 * SIMD_W, a3);
  } else {
    vf_storeu(d, a0), vf_storeu(d + SIMD_W, a1);
    vf_storeu(d + 2 * SIMD_W, a2), vf_storeu(d + 3 * SIMD_W, a3);
  }
}

/* dst[begin, end) in groups of W, the last one masked. */
TV_INLINE SIMD_TARGET void SIMD_FN(tv_wsum_range)(float *dst, int32_t count,
                                                  const float *const *xs, const float *w,
                                                  int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; i += SIMD_W) {
    VMASK m = vmask_first(end - i);
    vf_store_mask(dst + i, m, SIMD_FN(tv_wsum_vec)(count, xs, w, i, m));
  }
}

SIMD_TARGET int SIMD_FN(distac_wsum)(float *dst, int32_t count, const float *const *xs,
                                     const float *w, int64_t n) {
  int rc = tv_wsum_check(dst, count, xs, w, n);
  if (rc != DISTAC_OK) return rc;
  int64_t head = tv_stream_head(dst, n, 4 * ((int64_t)count + 1)), i;
  if (head >= 0) {
    SIMD_FN(tv_wsum_range)(dst, count, xs, w, 0, head);
    for (i = head; i + 4 * SIMD_W <= n; i += 4 * SIMD_W) SIMD_FN(tv_wsum4)(dst, count, xs, w, i, 1);
    _mm_sfence();
  } else {
    for (i = 0; i + 4 * SIMD_W <= n; i += 4 * SIMD_W) SIMD_FN(tv_wsum4)(dst, count, xs, w, i, 0);
  }
  SIMD_FN(tv_wsum_range)(dst, count, xs, w, i, n);
  return DISTAC_OK;
}
