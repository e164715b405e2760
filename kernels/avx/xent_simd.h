/*
 * xent_simd.h — the AVX2 and AVX-512 routines of xent.c (the online chunk
 * pass and the gradient pass), written once with the simd_map.h names;
 * xent.c includes it once per ISA through simd_each.h.
 */

/* Max and sums of one chunk of n <= XENT_CHUNK columns. */
static SIMD_TARGET void SIMD_FN(xent_chunk)(const float *z, int64_t n, xent_sums *out) {
  const int64_t full = n & ~(int64_t)(SIMD_W - 1);
  const VMASK tail = vmask_head(n - full);
  VF hi = vf_set1(-INFINITY);
  for (int64_t c = 0; c < full; c += SIMD_W) hi = vf_max(hi, vf_loadu(z + c));
  if (full < n) hi = vf_max_mask(hi, tail, vf_load_mask(z + full, tail));
  out->m = vf_hmax(hi);

  const VF vm = vf_set1(out->m), l2e = vf_set1(XENT_LOG2E);
  VF s = vf_zero(), su = s;
  for (int64_t c = 0; c < full; c += SIMD_W) {
    if ((c & 15) == 0) /* one line: the next chunk arrives during the exps */
      _mm_prefetch((const char *)(z + c + XENT_CHUNK), _MM_HINT_T0);
    VF d = vf_sub(vf_loadu(z + c), vm);
    s = vf_add(s, SIMD_FN(simd_exp2)(vf_mul(d, l2e))), su = vf_add(su, d);
  }
  if (full < n) { /* the masked-off lanes do not count */
    VF d = vf_keep(vf_sub(vf_load_mask(z + full, tail), vm), tail);
    s = vf_add_mask(s, tail, vf_keep(SIMD_FN(simd_exp2)(vf_mul(d, l2e)), tail));
    su = vf_add_mask(su, tail, d);
  }
  out->s = vf_sum_pd(s), out->u = vf_sum_pd(su);
}

/* One vector of gradient: e^u f + c0, plus cl in lane `lane` if it is in 0..W-1. */
static inline SIMD_TARGET VF SIMD_FN(xent_grad_vec)(VF z, VF m, VF f, VF c0, float cl,
                                                    int64_t lane) {
  VF e = SIMD_FN(simd_exp2)(vf_mul(vf_sub(z, m), vf_set1(XENT_LOG2E)));
  VF g = vf_fmadd(e, f, c0);
  if ((uint64_t)lane >= SIMD_W) return g;
  return vf_add_lane(g, lane, cl);
}

/* Gradient of one row; the body is vector-aligned for NT stores if j->stream. */
static SIMD_TARGET void SIMD_FN(xent_grad)(const xent_job *j, const float *z, float *g,
                                           int64_t l, const xent_sums *row) {
  float f, c0, cl;
  xent_grad_consts(j, row, &f, &c0, &cl);
  const VF vm = vf_set1(row->m), vf = vf_set1(f), vc0 = vf_set1(c0);
  const int64_t n = j->cols;
#define XENT_VEC(c) SIMD_FN(xent_grad_vec)(vf_loadu(z + c), vm, vf, vc0, cl, l - c)
#define XENT_VEC_MASK(c, m) SIMD_FN(xent_grad_vec)(vf_load_mask(z + c, m), vm, vf, vc0, cl, l - c)
  LOSS_GRAD_ROW(j->stream, g, n, XENT_VEC, XENT_VEC_MASK);
#undef XENT_VEC
#undef XENT_VEC_MASK
}

static void SIMD_FN(xent_range)(void *ctx, int64_t begin, int64_t end) {
  (void)begin, (void)end; /* rows are taken from the job's counter */
  xent_rows((xent_job *)ctx, SIMD_FN(xent_chunk), SIMD_FN(xent_grad));
}
