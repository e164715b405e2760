/*
 * gelu_simd.h — the AVX2 and AVX-512 chunks of gelu.c, written once with the
 * simd_map.h names; gelu.c includes it once per ISA (simd_each.h).
 */

static SIMD_TARGET VF SIMD_FN(gelu_erf)(VF x, int grad) {
  VF e;
  VF h = SIMD_FN(simd_gelu_tail)(x, &e);
  VBOOL neg = vf_lt(x, vf_zero());
  VF phi = vf_blend(neg, vf_sub(vf_set1(1.0f), h), h);
  if (!grad) return vf_mul(x, phi);
  return vf_fmadd(vf_mul(x, e), vf_set1(TRAIN_INV_SQRT_2PI), phi);
}

static SIMD_TARGET VF SIMD_FN(gelu_quick)(VF x, int grad) {
  const VF a = vf_set1(TRAIN_QGELU_A), one = vf_set1(1.0f);
  const VF na = vf_set1(-TRAIN_QGELU_A), na_lo = vf_set1(-TRAIN_QGELU_A_LO);
  /* -1.702 x as hi + lo (the product's rounding error and 1.702's own), so
   * exp(-1.702 x) does not inherit ulp(hi) ~ 1e-6 relative error at |x| ~ 15. */
  VF hi = vf_mul(na, x);
  VF lo = vf_fmadd(na_lo, x, vf_fmsub(na, x, hi));
  VF e = SIMD_FN(simd_exp)(vf_min(vf_set1(TRAIN_QGELU_UMAX), hi), lo);
  VF s = vf_div(one, vf_add(one, e));
  if (!grad) return vf_mul(x, s);
  /* 1 - s = e * s, without cancellation. */
  VF axq = vf_mul(vf_mul(a, x), vf_mul(e, s));
  return vf_fmadd(s, axq, s);
}

/* One vector; all lanes in the main loop, the first n - i for the tail. */
TRAIN_INLINE SIMD_TARGET void SIMD_FN(gelu_step)(int is_erf, const float *x, const float *dy,
                                                 float *out, VPART k) {
  VF v = vf_load_part(x, k);
  VF f = is_erf ? SIMD_FN(gelu_erf)(v, dy != NULL) : SIMD_FN(gelu_quick)(v, dy != NULL);
  if (dy) f = vf_mul(f, vf_load_part(dy, k));
  vf_store_part(out, f, k);
}

/* The loop for one (kind, direction), so that neither is tested per vector. */
TRAIN_INLINE SIMD_TARGET void SIMD_FN(gelu_loop)(int is_erf, int64_t n, const float *x,
                                                 const float *dy, float *out) {
  int64_t i = 0;
  for (; i + SIMD_W <= n; i += SIMD_W)
    SIMD_FN(gelu_step)(is_erf, x + i, dy ? dy + i : NULL, out + i, vpart_full());
  if (i < n) SIMD_FN(gelu_step)(is_erf, x + i, dy ? dy + i : NULL, out + i, vpart_tail(n - i));
}

static SIMD_TARGET void SIMD_FN(gelu_chunk)(distac_gelu_kind kind, int64_t n, const float *x,
                                            const float *dy, float *out) {
  if (kind == DISTAC_GELU_ERF) {
    if (dy) SIMD_FN(gelu_loop)(1, n, x, dy, out);
    else SIMD_FN(gelu_loop)(1, n, x, NULL, out);
  } else {
    if (dy) SIMD_FN(gelu_loop)(0, n, x, dy, out);
    else SIMD_FN(gelu_loop)(0, n, x, NULL, out);
  }
}
