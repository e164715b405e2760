/*
 * layernorm_simd.h — the AVX2 and AVX-512 rows of layernorm.c, written once
 * with the simd_map.h names; layernorm.c includes it once per ISA
 * (simd_each.h).
 */

static SIMD_TARGET void SIMD_FN(ln_fwd_row)(int64_t n, const float *x, const float *gamma,
                                            const float *beta, float eps, float *y, float *mean,
                                            float *rstd) {
  int64_t nv = n & ~(int64_t)(SIMD_W - 1);
  VMASK tail = vmask_head(n - nv);
  VF a0 = vf_zero(), a1 = vf_zero();
  int64_t i = 0;
  for (; i + 2 * SIMD_W <= n; i += 2 * SIMD_W) {
    a0 = vf_add(a0, vf_loadu(x + i));
    a1 = vf_add(a1, vf_loadu(x + i + SIMD_W));
  }
  for (; i < nv; i += SIMD_W) a0 = vf_add(a0, vf_loadu(x + i));
  if (nv < n) a1 = vf_add(a1, vf_load_mask(x + nv, tail));
  float m0 = vf_hsum(vf_add(a0, a1)) / (float)n;

  VF vm0 = vf_set1(m0), s1 = vf_zero(), s2 = vf_zero();
  for (i = 0; i < nv; i += SIMD_W) {
    VF d = vf_sub(vf_loadu(x + i), vm0);
    s1 = vf_add(s1, d);
    s2 = vf_fmadd(d, d, s2);
  }
  if (nv < n) {
    VF d = vf_sub_maskz(tail, vf_load_mask(x + nv, tail), vm0);
    s1 = vf_add(s1, d);
    s2 = vf_fmadd(d, d, s2);
  }
  double mu, rs;
  ln_stats(n, m0, vf_hsum(s1), vf_hsum(s2), eps, &mu, &rs);
  *mean = (float)mu, *rstd = (float)rs;

  VF vc = vf_set1((float)(mu - m0)), vrstd = vf_set1(*rstd);
  for (i = 0; i < nv; i += SIMD_W) {
    VF d = vf_sub(vf_sub(vf_loadu(x + i), vm0), vc);
    VF h = vf_mul(d, vrstd);
    vf_storeu(y + i, vf_fmadd(h, vf_loadu(gamma + i), vf_loadu(beta + i)));
  }
  if (nv < n) {
    VF d = vf_sub(vf_sub(vf_load_mask(x + nv, tail), vm0), vc);
    VF h = vf_mul(d, vrstd);
    VF g = vf_load_mask(gamma + nv, tail), b = vf_load_mask(beta + nv, tail);
    vf_store_head(y + nv, vf_fmadd(h, g, b), tail, n - nv);
  }
}

/* The backward's arithmetic on one vector, as statement macros so that each
 * ISA keeps its own loop around them: AVX2 runs the full vectors through a
 * helper with k = 8 (the loads and stores fold to plain ones) and then the
 * tail, AVX-512 one loop with the tail mask on the last vector.
 * LN_BWD_SUMS: the row sums SG, SGX and the dgamma and dbeta partials at
 * pg + i, pb + i (pg, pb: NULL when not wanted); LN_BWD_DX: dx. */
#define LN_BWD_SUMS(dy, x, gamma, pg, pb, i, k, SG, SGX)                       \
  VF d = vf_load_part(dy, k);                                                 \
  VF xh = vf_mul(vf_sub(vf_load_part(x, k), vmean), vrstd);                  \
  VF g = vf_mul(d, vf_load_part(gamma, k));                                   \
  SG = vf_add(SG, g);                                                         \
  SGX = vf_fmadd(g, xh, SGX);                                                 \
  if (pg) vf_store_part(pg + i, vf_fmadd(d, xh, vf_load_part(pg + i, k)), k); \
  if (pb) vf_store_part(pb + i, vf_add(d, vf_load_part(pb + i, k)), k)
#define LN_BWD_DX(dy, x, gamma, dx, k)                               \
  VF xh = vf_mul(vf_sub(vf_load_part(x, k), vmean), vrstd);          \
  VF g = vf_mul(vf_load_part(dy, k), vf_load_part(gamma, k));        \
  VF d = vf_mul(vrstd, vf_fnmadd(xh, b, vf_sub(g, a)));              \
  if (accumulate) d = vf_add(d, vf_load_part(dx, k));                \
  vf_store_part(dx, d, k)

#if SIMD_W == 8
TRAIN_INLINE SIMD_TARGET void ln_bwd_sums_avx2(const float *dy, const float *x,
                                               const float *gamma, VF vmean, VF vrstd, float *pg,
                                               float *pb, VPART k, VF *sg, VF *sgx) {
  LN_BWD_SUMS(dy, x, gamma, pg, pb, 0, k, *sg, *sgx);
}

TRAIN_INLINE SIMD_TARGET void ln_bwd_dx_avx2(const float *dy, const float *x, const float *gamma,
                                             VF vmean, VF vrstd, VF a, VF b, float *dx,
                                             int accumulate, VPART k) {
  LN_BWD_DX(dy, x, gamma, dx, k);
}
#endif

static SIMD_TARGET void SIMD_FN(ln_bwd_row)(int64_t n, const float *dy, const float *x,
                                            float mean, float rstd, const float *gamma,
                                            float *dx, int accumulate, float *pg, float *pb) {
#if SIMD_W == 16
  int64_t nv = n & ~(int64_t)15;
  VMASK tail = vmask_head(n - nv);
#endif
  VF vmean = vf_set1(mean), vrstd = vf_set1(rstd);
  VF sg = vf_zero(), sgx = vf_zero();
#if SIMD_W == 8
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    ln_bwd_sums_avx2(dy + i, x + i, gamma + i, vmean, vrstd, pg ? pg + i : NULL,
                     pb ? pb + i : NULL, 8, &sg, &sgx);
  }
  if (i < n) { /* the tail loads 0 past n, so it adds nothing to the sums */
    ln_bwd_sums_avx2(dy + i, x + i, gamma + i, vmean, vrstd, pg ? pg + i : NULL,
                     pb ? pb + i : NULL, n - i, &sg, &sgx);
  }
#else
  for (int64_t i = 0; i < n; i += 16) {
    VPART k = vpart_in(i, n, nv, tail);
    LN_BWD_SUMS(dy + i, x + i, gamma + i, pg, pb, i, k, sg, sgx);
  }
#endif
  VF a = vf_set1(vf_hsum(sg) / (float)n);
  VF b = vf_set1(vf_hsum(sgx) / (float)n);
#if SIMD_W == 8
  for (i = 0; i + 8 <= n; i += 8) {
    ln_bwd_dx_avx2(dy + i, x + i, gamma + i, vmean, vrstd, a, b, dx + i, accumulate, 8);
  }
  if (i < n)
    ln_bwd_dx_avx2(dy + i, x + i, gamma + i, vmean, vrstd, a, b, dx + i, accumulate, n - i);
#else
  for (int64_t i = 0; i < n; i += 16) {
    VPART k = vpart_in(i, n, nv, tail);
    LN_BWD_DX(dy + i, x + i, gamma + i, dx + i, k);
  }
#endif
}
#undef LN_BWD_SUMS
#undef LN_BWD_DX
