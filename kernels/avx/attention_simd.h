/*
 * attention_simd.h — the attention core's row kernels (see attention.c for
 * the algorithm, attention.h for their contract) for one ISA, written once
 * with the simd_map.h names. attention_avx2.c and attention_avx512.c each
 * include it for their ISA (simd_each.h with SIMD_ONLY), after defining
 * att_hsum_ISA, the transposing sum of W vectors, which is all they differ in.
 */

static inline SIMD_TARGET float SIMD_FN(att_dot)(int64_t dh, const float *q, const float *x) {
  VF acc = vf_zero();
  for (int64_t c = 0; c < dh; c += SIMD_W) {
    VPART k = vpart_of(dh - c);
    acc = vf_fmadd(vf_load_part(q + c, k), vf_load_part(x + c, k), acc);
  }
  return vf_hsum(acc);
}

/* The W dots <q, X_g>, X_g = x + g*ldx, as one vector; rows past `rows`
 * repeat the last one (their lanes are not stored). Called with rows = W
 * for full groups, where the walk down the rows is one add per row. */
TRAIN_INLINE SIMD_TARGET VF SIMD_FN(att_dots_w)(int64_t rows, int64_t dh, const float *q,
                                                const float *x, int64_t ldx) {
  const int64_t dv = dh & ~(int64_t)(SIMD_W - 1);
  const VMASK tail = vmask_head(dh - dv);
  VF acc[SIMD_W];
  ATT_UNROLL
  for (int g = 0; g < SIMD_W; g++) acc[g] = vf_zero();
  for (int64_t c = 0; c < dh; c += SIMD_W) {
    const VSEL m = vsel_of(c < dv, tail);
    VF qv = vf_load_sel(q + c, m, tail);
    const float *xp = x + c;
    ATT_UNROLL
    for (int g = 0; g < SIMD_W; g++) {
      VF xv = vf_load_sel(xp, m, tail);
      acc[g] = vf_fmadd(qv, xv, acc[g]);
      if (g + 1 < rows) xp += ldx;
    }
  }
  return SIMD_FN(att_hsum)(acc);
}

static SIMD_TARGET void SIMD_FN(att_dots)(int64_t n, int64_t dh, float alpha, const float *q,
                                          const float *x, int64_t ldx, float *s) {
  const VF va = vf_set1(alpha);
  int64_t j0 = 0;
  for (; j0 + SIMD_W <= n; j0 += SIMD_W)
    vf_storeu(s + j0, vf_mul(SIMD_FN(att_dots_w)(SIMD_W, dh, q, x + j0 * ldx, ldx), va));
  if (n - j0 > SIMD_W / 4) { /* more than 2 (AVX-512: 4) rows left: one more group */
    VF v = vf_mul(SIMD_FN(att_dots_w)(n - j0, dh, q, x + j0 * ldx, ldx), va);
    vf_store_part(s + j0, v, vpart_tail(n - j0));
    return;
  }
  for (; j0 < n; j0++) s[j0] = alpha * SIMD_FN(att_dot)(dh, q, x + j0 * ldx);
}

/* Softmax of NR rows of n (stride n); constant NR unrolls the row loops
 * into independent chains. */
TRAIN_INLINE SIMD_TARGET void SIMD_FN(att_softmax_rows)(int NR, int64_t n, float *p) {
  const VF ninf = vf_set1(-INFINITY), zero = vf_zero();
  VF acc[ATT_RB], vm[ATT_RB];
  ATT_UNROLL
  for (int r = 0; r < NR; r++) acc[r] = ninf;
  for (int64_t j = 0; j < n; j += SIMD_W) {
    VMASK m = vmask_first(n - j);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) acc[r] = vf_max(acc[r], vf_load_mask_or(p + r * n + j, m, ninf));
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) vm[r] = vf_set1(vf_hmax(acc[r])), acc[r] = zero;
  for (int64_t j = 0; j < n; j += SIMD_W) {
    VMASK m = vmask_first(n - j);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      VF e = SIMD_FN(simd_exp)(vf_sub(vf_load_mask(p + r * n + j, m), vm[r]), zero);
      e = vf_keep(e, m); /* lanes past n add nothing */
      vf_store_first(p + r * n + j, e, m, n - j);
      acc[r] = vf_add_mask(acc[r], m, e);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) vm[r] = vf_set1((float)(1.0 / (double)vf_hsum(acc[r])));
  /* AVX2 passes n - j to each load and store, AVX-512 makes the mask once
   * (each as it was measured: the extra variable moves AVX2's spill slots). */
#define ATT_SCALE_ROWS(k)                                       \
  ATT_UNROLL                                                    \
  for (int r = 0; r < NR; r++) {                                \
    float *pj = p + r * n + j;                                  \
    vf_store_part(pj, vf_mul(vf_load_part(pj, k), vm[r]), k);   \
  }
  for (int64_t j = 0; j < n; j += SIMD_W) {
#if SIMD_W == 8
    ATT_SCALE_ROWS(n - j)
#else
    VPART k = vpart_of(n - j);
    ATT_SCALE_ROWS(k)
#endif
  }
#undef ATT_SCALE_ROWS
}

TRAIN_INLINE SIMD_TARGET void SIMD_FN(att_dsoftmax_rows)(int NR, int64_t n, float alpha,
                                                         const float *p, float *ds) {
  VF t[ATT_RB];
  ATT_UNROLL
  for (int r = 0; r < NR; r++) t[r] = vf_zero();
  for (int64_t j = 0; j < n; j += SIMD_W) {
    VPART k = vpart_of(n - j);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      t[r] = vf_fmadd(vf_load_part(ds + r * n + j, k), vf_load_part(p + r * n + j, k), t[r]);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) t[r] = vf_set1(vf_hsum(t[r]));
  const VF va = vf_set1(alpha);
  for (int64_t j = 0; j < n; j += SIMD_W) {
    VPART k = vpart_of(n - j);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      float *dj = ds + r * n + j;
      VF d = vf_mul(vf_load_part(p + r * n + j, k), vf_sub(vf_load_part(dj, k), t[r]));
      vf_store_part(dj, vf_mul(va, d), k);
    }
  }
}

/* att_softmax_rows for rows of n <= W NV held in registers: each value is
 * loaded and stored once. (The passes of the general form store a masked
 * tail and load it back, and a masked store does not forward to a load:
 * every row would wait for its stores to retire.) Same arithmetic in the
 * same order, so the same bits. */
TRAIN_INLINE SIMD_TARGET void SIMD_FN(att_softmax_reg)(int NR, int NV, int64_t n, float *p) {
  const VF ninf = vf_set1(-INFINITY), zero = vf_zero();
  VF x[ATT_RB][4], acc[ATT_RB];
  VBOOL mk[4];
  ATT_UNROLL
  for (int v = 0; v < NV; v++) mk[v] = vbool_first(n - SIMD_W * v);
  ATT_UNROLL
  for (int r = 0; r < NR; r++) {
    acc[r] = ninf;
    ATT_UNROLL
    for (int v = 0; v < NV; v++) {
      x[r][v] = vf_load_first(p + r * n + SIMD_W * v, mk[v], n - SIMD_W * v); /* 0 past n */
      acc[r] = vf_max_mask_b(acc[r], mk[v], x[r][v], ninf);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) {
    VF vm = vf_set1(vf_hmax(acc[r]));
    acc[r] = zero;
    ATT_UNROLL
    for (int v = 0; v < NV; v++) {
      /* Lanes past n take exp(0) (no subnormals, which would cost an assist)
       * and add nothing. */
      x[r][v] = SIMD_FN(simd_exp)(vf_sub_maskz_b(mk[v], x[r][v], vm), zero);
      acc[r] = vf_add_mask(acc[r], mk[v], vf_keep_b(x[r][v], mk[v]));
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) {
    VF inv = vf_set1((float)(1.0 / (double)vf_hsum(acc[r])));
    ATT_UNROLL
    for (int v = 0; v < NV; v++)
      vf_store_first(p + r * n + SIMD_W * v, vf_mul(x[r][v], inv), mk[v], n - SIMD_W * v);
  }
}

#define ATT_SOFTMAX_REG(NR, NV) SIMD_FN(att_softmax_reg)(NR, NV, n, p)
#define ATT_SOFTMAX_NV(NV) ATT_ROWS(ATT_SOFTMAX_REG, nr, NV)

static SIMD_TARGET void SIMD_FN(att_softmax)(int64_t nr, int64_t n, float *p) {
  switch ((n + SIMD_W - 1) / SIMD_W) { /* rows of up to 3 (AVX-512: 4) vectors in registers */
    case 1: ATT_SOFTMAX_NV(1) break;
    case 2: ATT_SOFTMAX_NV(2) break;
    case 3: ATT_SOFTMAX_NV(3) break;
#if SIMD_W == 16
    case 4: ATT_SOFTMAX_NV(4) break;
#endif
    default: ATT_ROWS(SIMD_FN(att_softmax_rows), nr, n, p)
  }
}
#undef ATT_SOFTMAX_REG
#undef ATT_SOFTMAX_NV

static SIMD_TARGET void SIMD_FN(att_dsoftmax)(int64_t nr, int64_t n, float alpha, const float *p,
                                              float *ds) {
  ATT_ROWS(SIMD_FN(att_dsoftmax_rows), nr, n, alpha, p, ds)
}

/* Vectors of columns a wsum block holds: 2 (AVX2), 4 (AVX-512). */
#define ATT_NV SIMD_PICK(2, 4)

/* wsum over NR rows and NV vectors of columns from c: constant NR and NV make
 * the accumulators registers; rem limits the last vector. */
TRAIN_INLINE SIMD_TARGET void SIMD_FN(att_wsum_block)(int NR, int NV, int64_t rem, int64_t n,
                                                      const float *w, int64_t wsr, int64_t wsk,
                                                      const float *x, int64_t ldx, float *o,
                                                      int64_t ldo) {
  VF acc[ATT_RB][ATT_NV];
#if SIMD_W == 8 /* vector v is whole, or the tail */
  const VMASK tail = vmask_head(rem - 8 * (NV - 1));
#define ATT_SEL(v) (v < NV - 1 || rem >= 8 * NV)
#else /* a mask per vector (vf_load_sel ignores tail) */
  VMASK mk[4];
  ATT_UNROLL
  for (int v = 0; v < NV; v++) {
    int64_t left = rem - 16 * v;
    mk[v] = left >= 16 ? (__mmask16)0xffff : simd_mask_avx512(left);
  }
#define ATT_SEL(v) mk[v]
#endif
  ATT_UNROLL
  for (int r = 0; r < NR; r++)
    ATT_UNROLL
    for (int v = 0; v < NV; v++) acc[r][v] = vf_zero();
  for (int64_t k = 0; k < n; k++) {
    const float *xk = x + k * ldx;
    VF xv[ATT_NV];
    ATT_UNROLL
    for (int v = 0; v < NV; v++) xv[v] = vf_load_sel(xk + SIMD_W * v, ATT_SEL(v), tail);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      VF wk = vf_bcast(w, r * wsr + k * wsk);
      ATT_UNROLL
      for (int v = 0; v < NV; v++) acc[r][v] = vf_fmadd(wk, xv[v], acc[r][v]);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++)
    ATT_UNROLL
    for (int v = 0; v < NV; v++)
      vf_store_first(o + r * ldo + SIMD_W * v, acc[r][v], ATT_SEL(v), rem - SIMD_W * v);
}
#undef ATT_SEL

#define ATT_WSUM_BLOCK SIMD_FN(att_wsum_block)

static SIMD_TARGET void SIMD_FN(att_wsum)(int64_t nr, int64_t n, int64_t dh, const float *w,
                                          int64_t wsr, int64_t wsk, const float *x, int64_t ldx,
                                          float *o, int64_t ldo) {
  for (int64_t c = 0; c < dh; c += SIMD_W * ATT_NV) {
    int64_t rem = dh - c < SIMD_W * ATT_NV ? dh - c : SIMD_W * ATT_NV;
#if SIMD_W == 8
    if (rem > 8) {
      ATT_WSUM_SWITCH(2)
    } else {
      ATT_WSUM_SWITCH(1)
    }
#else
    switch ((rem + 15) / 16) {
      case 1: ATT_WSUM_SWITCH(1) break;
      case 2: ATT_WSUM_SWITCH(2) break;
      case 3: ATT_WSUM_SWITCH(3) break;
      default: ATT_WSUM_SWITCH(4) break;
    }
#endif
  }
}
#undef ATT_WSUM_BLOCK
#undef ATT_NV

const att_kernels SIMD_FN(distac_att) = {SIMD_FN(att_dots), SIMD_FN(att_softmax),
                                         SIMD_FN(att_dsoftmax), SIMD_FN(att_wsum)};
