/*
 * adam_simd.h — the AVX2 and AVX-512 chunks of adam.c, written once with
 * the simd_map.h names; adam.c includes it once per ISA (simd_each.h).
 */

static SIMD_TARGET void SIMD_FN(adam_chunk)(const adam_ctx *c, int64_t i0, int64_t i1) {
  const VF two_beta = vf_set1(c->two_beta), clip = vf_set1(c->clip);
  const VF b1 = vf_set1(c->b1), b2 = vf_set1(c->b2);
  const VF omb1 = vf_set1(c->omb1), omb2 = vf_set1(c->omb2);
  const VF step = vf_set1(c->step_size), ibc2 = vf_set1(c->inv_sqrt_bc2);
  const VF eps = vf_set1(c->eps);
  for (int64_t i = i0; i < i1; i += SIMD_W) {
    VPART k = vpart_at(i, i1);
    VF th = vf_load_part(c->theta + i, k);
    VF g = vf_load_part(c->grad + i, k);
    if (c->init) g = vf_fmadd(two_beta, vf_sub(th, vf_load_part(c->init + i, k)), g);
    g = vf_mul(g, clip);
    VF m = vf_fmadd(b1, vf_load_part(c->m + i, k), vf_mul(omb1, g));
    VF v = vf_fmadd(b2, vf_load_part(c->v + i, k), vf_mul(omb2, vf_mul(g, g)));
    VF den = vf_fmadd(vf_sqrt(v), ibc2, eps);
    th = vf_fnmadd(step, vf_div(m, den), th);
    vf_store_part(c->m + i, m, k);
    vf_store_part(c->v + i, v, k);
    vf_store_part(c->theta + i, th, k);
  }
}

/* Sum of g_raw^2 over [i0, i1) in float64, in a fixed lane order. */
static SIMD_TARGET double SIMD_FN(anchored_block)(const float *grad, const float *theta,
                                                  const float *init, float two_beta, int64_t i0,
                                                  int64_t i1) {
  const VF tb = vf_set1(two_beta);
  VD s0 = vd_zero(), s1 = vd_zero();
  for (int64_t i = i0; i < i1; i += SIMD_W) {
    VPART k = vpart_at(i, i1);
    VF g = vf_load_part(grad + i, k);
    if (init) {
      VF d = vf_sub(vf_load_part(theta + i, k), vf_load_part(init + i, k));
      g = vf_fmadd(tb, d, g);
    }
    VD lo = vf_lo_pd(g);
    VD hi = vf_hi_pd(g);
    s0 = vd_fmadd(lo, lo, s0);
    s1 = vd_fmadd(hi, hi, s1);
  }
  return vd_hsum(vd_add(s0, s1));
}
