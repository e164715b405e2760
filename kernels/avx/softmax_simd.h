/*
 * softmax_simd.h — the AVX2 and AVX-512 rows of softmax.c, written once with
 * the simd_map.h names; softmax.c includes it once per ISA (simd_each.h).
 */

static SIMD_TARGET void SIMD_FN(sm_fwd_row)(int64_t n, const float *x, float *y) {
  int64_t nv = n & ~(int64_t)(SIMD_W - 1);
  VMASK tail = vmask_head(n - nv);
  const VF ninf = vf_set1(-INFINITY);
  VF mx = ninf;
  for (int64_t i = 0; i < nv; i += SIMD_W) mx = vf_max(mx, vf_loadu(x + i));
  if (nv < n) mx = vf_max(mx, vf_load_mask_or(x + nv, tail, ninf));
  VF m = vf_set1(vf_hmax(mx)), zero = vf_zero();
  VF s = zero;
#if SIMD_W == 8 /* full vectors, then the tail with the lanes past n zeroed */
  for (int64_t i = 0; i < nv; i += SIMD_W) {
    VF e = SIMD_FN(simd_exp)(vf_sub(vf_loadu(x + i), m), zero);
    vf_storeu(y + i, e);
    s = vf_add(s, e);
  }
  if (nv < n) {
    VF e = SIMD_FN(simd_exp)(vf_sub(vf_load_mask(x + nv, tail), m), zero);
    e = vf_keep(e, tail); /* lanes past n add nothing */
    vf_store_head(y + nv, e, tail, n - nv);
    s = vf_add(s, e);
  }
#else /* one loop, the last vector under the tail mask */
  for (int64_t i = 0; i < n; i += SIMD_W) {
    VMASK k = i < nv ? (__mmask16)0xffff : tail;
    VF e = SIMD_FN(simd_exp)(vf_sub(vf_load_mask(x + i, k), m), zero);
    vf_store_mask(y + i, k, e);
    s = vf_add_mask(s, k, e);
  }
#endif
  VF inv = vf_set1((float)(1.0 / (double)vf_hsum(s)));
  for (int64_t i = 0; i < nv; i += SIMD_W) vf_storeu(y + i, vf_mul(vf_loadu(y + i), inv));
  if (nv < n) vf_store_head(y + nv, vf_mul(vf_load_mask(y + nv, tail), inv), tail, n - nv);
}

static SIMD_TARGET void SIMD_FN(sm_bwd_row)(int64_t n, const float *y, const float *dy,
                                            float *dx) {
  int64_t nv = n & ~(int64_t)(SIMD_W - 1);
  VMASK tail = vmask_head(n - nv);
  VF s0 = vf_zero(), s1 = vf_zero();
  int64_t i = 0;
  for (; i + 2 * SIMD_W <= n; i += 2 * SIMD_W) {
    s0 = vf_fmadd(vf_loadu(dy + i), vf_loadu(y + i), s0);
    s1 = vf_fmadd(vf_loadu(dy + i + SIMD_W), vf_loadu(y + i + SIMD_W), s1);
  }
  for (; i < nv; i += SIMD_W) s0 = vf_fmadd(vf_loadu(dy + i), vf_loadu(y + i), s0);
  if (nv < n) s1 = vf_fmadd(vf_load_mask(dy + nv, tail), vf_load_mask(y + nv, tail), s1);
  VF s = vf_set1(vf_hsum(vf_add(s0, s1)));
  for (i = 0; i < n; i += SIMD_W) {
    VPART k = vpart_in(i, n, nv, tail);
    VF d = vf_sub(vf_load_part(dy + i, k), s);
    vf_store_part(dx + i, vf_mul(d, vf_load_part(y + i, k)), k);
  }
}
