/*
 * l2norm_simd.h — the AVX2 and AVX-512 rows of l2norm.c, written once with
 * the simd_map.h names; l2norm.c includes it once per ISA (simd_each.h).
 */

/* a0 += lo-half(u * v), a1 += hi-half(u * v) in float64 (u, v widened). */
TRAIN_INLINE SIMD_TARGET void SIMD_FN(l2_dot_acc)(VF u, VF v, VD *a0, VD *a1) {
  *a0 = vd_fmadd(vf_lo_pd(u), vf_lo_pd(v), *a0);
  *a1 = vd_fmadd(vf_hi_pd(u), vf_hi_pd(v), *a1);
}

/* <u, v> over n values in float64 (lanes past n load as 0). */
static inline SIMD_TARGET double SIMD_FN(l2_dot)(int64_t n, const float *u, const float *v) {
  VD a0 = vd_zero(), a1 = vd_zero();
  VD a2 = vd_zero(), a3 = vd_zero();
  int64_t i = 0;
  for (; i + 2 * SIMD_W <= n; i += 2 * SIMD_W) {
    SIMD_FN(l2_dot_acc)(vf_loadu(u + i), vf_loadu(v + i), &a0, &a1);
    SIMD_FN(l2_dot_acc)(vf_loadu(u + i + SIMD_W), vf_loadu(v + i + SIMD_W), &a2, &a3);
  }
  for (; i < n; i += SIMD_W) {
    VPART k = vpart_of(n - i);
    SIMD_FN(l2_dot_acc)(vf_load_part(u + i, k), vf_load_part(v + i, k), &a0, &a1);
  }
  return vd_hsum(vd_add(vd_add(a0, a1), vd_add(a2, a3)));
}

static SIMD_TARGET void SIMD_FN(l2_fwd_row)(int64_t n, const float *x, float eps, float *y,
                                            float *norm) {
  *norm = (float)sqrt(SIMD_FN(l2_dot)(n, x, x));
  VF inv = vf_set1(l2_inv(*norm, eps));
  for (int64_t i = 0; i < n; i += SIMD_W) {
    VPART k = vpart_of(n - i);
    vf_store_part(y + i, vf_mul(vf_load_part(x + i, k), inv), k);
  }
}

static SIMD_TARGET void SIMD_FN(l2_bwd_row)(int64_t n, const float *dy, const float *y,
                                            float norm, float eps, float *dx) {
  int project;
  VF inv = vf_set1(l2_bwd_inv(norm, eps, &project));
  VF t = vf_set1(project ? (float)SIMD_FN(l2_dot)(n, dy, y) : 0.0f);
  for (int64_t i = 0; i < n; i += SIMD_W) {
    VPART k = vpart_of(n - i);
    VF d = vf_load_part(dy + i, k);
    if (project) d = vf_fnmadd(vf_load_part(y + i, k), t, d);
    vf_store_part(dx + i, vf_mul(d, inv), k);
  }
}
