/*
 * kl_simd.h — the AVX2 and AVX-512 routines of kl.c (the online chunk pass
 * and the gradient pass), written once with the simd_map.h names; kl.c
 * includes it once per ISA through simd_each.h.
 */

/* Maxima and sums of one chunk of n <= KL_CHUNK columns. */
static SIMD_TARGET void SIMD_FN(kl_chunk)(const float *zt, const float *zs, int64_t n,
                                          float it2, float is2, kl_sums *out) {
  const int64_t full = n & ~(int64_t)(SIMD_W - 1);
  const VMASK tail = vmask_head(n - full);
  const VF ninf = vf_set1(-INFINITY);
  VF mt = ninf, ms = ninf;
  for (int64_t c = 0; c < full; c += SIMD_W) {
    mt = vf_max(mt, vf_loadu(zt + c));
    ms = vf_max(ms, vf_loadu(zs + c));
  }
  if (full < n) {
    mt = vf_max_mask(mt, tail, vf_load_mask(zt + full, tail));
    ms = vf_max_mask(ms, tail, vf_load_mask(zs + full, tail));
  }
  out->mt = vf_hmax(mt), out->ms = vf_hmax(ms);

  const VF vmt = vf_set1(out->mt), vms = vf_set1(out->ms);
  const VF vit = vf_set1(it2), vis = vf_set1(is2);
  VF s = vf_zero(), q = s, w = s;
  for (int64_t c = 0; c < full; c += SIMD_W) {
    if ((c & 15) == 0) { /* one line per matrix: the next chunk arrives during the exps */
      _mm_prefetch((const char *)(zt + c + KL_CHUNK), _MM_HINT_T0);
      _mm_prefetch((const char *)(zs + c + KL_CHUNK), _MM_HINT_T0);
    }
    VF u = vf_mul(vf_sub(vf_loadu(zt + c), vmt), vit);
    VF v = vf_mul(vf_sub(vf_loadu(zs + c), vms), vis);
    VF a = SIMD_FN(simd_exp2)(u);
    s = vf_add(s, a), q = vf_add(q, SIMD_FN(simd_exp2)(v));
    w = vf_fmadd(a, vf_sub(u, v), w);
  }
  if (full < n) { /* the masked-off lanes' exps and u - v are junk */
    VF u = vf_mul(vf_sub(vf_load_mask(zt + full, tail), vmt), vit);
    VF v = vf_mul(vf_sub(vf_load_mask(zs + full, tail), vms), vis);
    VF a = vf_keep(SIMD_FN(simd_exp2)(u), tail);
    s = vf_add_mask(s, tail, a);
    q = vf_add_mask(q, tail, vf_keep(SIMD_FN(simd_exp2)(v), tail));
    w = vf_fmadd_mask(a, vf_keep(vf_sub(u, v), tail), w, tail);
  }
  /* w summed a (u - v) log2(e): back to natural units */
  out->s = vf_sum_pd(s), out->q = vf_sum_pd(q), out->w = vf_sum_pd(w) * SIMD_LN2;
}

/* One vector of gradient: fs e^v - ft e^u, as two rounded products and a
 * subtraction: equal logits and temperatures give exactly 0, as the scalar
 * path does (an fmsub would keep the rounding error of ft e^u, and Adam
 * turns such 1e-9 gradients into full steps). */
static inline SIMD_TARGET VF SIMD_FN(kl_grad_vec)(VF x, VF y, VF mt, VF ms, VF it, VF is, VF ft,
                                                  VF fs) {
  VF a = SIMD_FN(simd_exp2)(vf_mul(vf_sub(x, mt), it));
  VF b = SIMD_FN(simd_exp2)(vf_mul(vf_sub(y, ms), is));
  return vf_sub(vf_mul(b, fs), vf_mul(a, ft));
}

/* Gradient of one row; the body is vector-aligned for NT stores if j->stream. */
static SIMD_TARGET void SIMD_FN(kl_grad)(const kl_job *j, const float *zt, const float *zs,
                                         float *g, const kl_sums *row) {
  const VF mt = vf_set1(row->mt), ms = vf_set1(row->ms);
  const VF it = vf_set1(j->it2), is = vf_set1(j->is2);
  const VF ft = vf_set1((float)(j->gscale / row->s));
  const VF fs = vf_set1((float)(j->gscale / row->q));
  const int64_t n = j->cols;
#define KL_VEC(c) \
  SIMD_FN(kl_grad_vec)(vf_loadu(zt + c), vf_loadu(zs + c), mt, ms, it, is, ft, fs)
#define KL_VEC_MASK(c, m) \
  SIMD_FN(kl_grad_vec)(vf_load_mask(zt + c, m), vf_load_mask(zs + c, m), mt, ms, it, is, ft, fs)
  LOSS_GRAD_ROW(j->stream, g, n, KL_VEC, KL_VEC_MASK);
#undef KL_VEC
#undef KL_VEC_MASK
}

static void SIMD_FN(kl_range)(void *ctx, int64_t begin, int64_t end) {
  (void)begin, (void)end; /* rows are taken from the job's counter */
  kl_rows((kl_job *)ctx, SIMD_FN(kl_chunk), SIMD_FN(kl_grad));
}
