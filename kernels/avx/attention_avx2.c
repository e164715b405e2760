/*
 * attention_avx2.c — the AVX2 row kernels of the attention core (see
 * attention.c for the algorithm, attention.h for the kernels' contract).
 */
#include "attention.h"

/* The 8 sums of a[0..7] as one vector (lane g = sum of a[g]). */
static inline DISTAC_TARGET_AVX2 __m256 att_hsum8_avx2(const __m256 a[8]) {
  /* hadd works within 128-bit halves: after two rounds half L of u0 holds
   * the half-L sums of a[0..3], of u1 those of a[4..7]. */
  __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

static inline DISTAC_TARGET_AVX2 float att_dot_avx2(int64_t dh, const float *q, const float *x) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t c = 0; c < dh; c += 8) {
    acc = _mm256_fmadd_ps(train_load256(q + c, dh - c), train_load256(x + c, dh - c), acc);
  }
  return train_hsum256(acc);
}

/* The 8 dots <q, X_g>, X_g = x + g*ldx, as one vector; rows past `rows`
 * repeat the last one (their lanes are not stored). Called with rows = 8
 * for full groups, where the walk down the rows is one add per row. */
TRAIN_INLINE DISTAC_TARGET_AVX2 __m256 att_dots8_avx2(int64_t rows, int64_t dh, const float *q,
                                                      const float *x, int64_t ldx) {
  const int64_t dv = dh & ~(int64_t)7;
  const __m256i tail = train_tail256(dh - dv);
  __m256 acc[8];
  ATT_UNROLL
  for (int g = 0; g < 8; g++) acc[g] = _mm256_setzero_ps();
  for (int64_t c = 0; c < dh; c += 8) {
    const int full = c < dv;
    __m256 qv = full ? _mm256_loadu_ps(q + c) : _mm256_maskload_ps(q + c, tail);
    const float *xp = x + c;
    ATT_UNROLL
    for (int g = 0; g < 8; g++) {
      __m256 xv = full ? _mm256_loadu_ps(xp) : _mm256_maskload_ps(xp, tail);
      acc[g] = _mm256_fmadd_ps(qv, xv, acc[g]);
      if (g + 1 < rows) xp += ldx;
    }
  }
  return att_hsum8_avx2(acc);
}

static DISTAC_TARGET_AVX2 void att_dots_avx2(int64_t n, int64_t dh, float alpha, const float *q,
                                             const float *x, int64_t ldx, float *s) {
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t j0 = 0;
  for (; j0 + 8 <= n; j0 += 8) _mm256_storeu_ps(s + j0, _mm256_mul_ps(att_dots8_avx2(8, dh, q, x + j0 * ldx, ldx), va));
  if (n - j0 > 2) {
    train_store256(s + j0, _mm256_mul_ps(att_dots8_avx2(n - j0, dh, q, x + j0 * ldx, ldx), va), n - j0);
    return;
  }
  for (; j0 < n; j0++) s[j0] = alpha * att_dot_avx2(dh, q, x + j0 * ldx);
}

/* Softmax of NR rows of n (stride n); constant NR unrolls the row loops
 * into independent chains. */
TRAIN_INLINE DISTAC_TARGET_AVX2 void att_softmax_rows256(int NR, int64_t n, float *p) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY), zero = _mm256_setzero_ps();
  __m256 acc[ATT_RB], vm[ATT_RB];
  ATT_UNROLL
  for (int r = 0; r < NR; r++) acc[r] = ninf;
  for (int64_t j = 0; j < n; j += 8) {
    __m256i m = train_tail256(n - j < 8 ? n - j : 8);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      __m256 x = _mm256_maskload_ps(p + r * n + j, m);
      acc[r] = _mm256_max_ps(acc[r], _mm256_blendv_ps(ninf, x, _mm256_castsi256_ps(m)));
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) vm[r] = _mm256_set1_ps(train_hmax256(acc[r])), acc[r] = zero;
  for (int64_t j = 0; j < n; j += 8) {
    __m256i m = train_tail256(n - j < 8 ? n - j : 8);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      __m256 e = train_exp256(_mm256_sub_ps(_mm256_maskload_ps(p + r * n + j, m), vm[r]), zero);
      e = _mm256_and_ps(e, _mm256_castsi256_ps(m)); /* lanes past n add nothing */
      train_store256(p + r * n + j, e, n - j);
      acc[r] = _mm256_add_ps(acc[r], e);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) vm[r] = _mm256_set1_ps((float)(1.0 / (double)train_hsum256(acc[r])));
  for (int64_t j = 0; j < n; j += 8) {
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      float *pj = p + r * n + j;
      train_store256(pj, _mm256_mul_ps(train_load256(pj, n - j), vm[r]), n - j);
    }
  }
}

TRAIN_INLINE DISTAC_TARGET_AVX2 void att_dsoftmax_rows256(int NR, int64_t n, float alpha,
                                                          const float *p, float *ds) {
  __m256 t[ATT_RB];
  ATT_UNROLL
  for (int r = 0; r < NR; r++) t[r] = _mm256_setzero_ps();
  for (int64_t j = 0; j < n; j += 8) {
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      t[r] = _mm256_fmadd_ps(train_load256(ds + r * n + j, n - j), train_load256(p + r * n + j, n - j), t[r]);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) t[r] = _mm256_set1_ps(train_hsum256(t[r]));
  const __m256 va = _mm256_set1_ps(alpha);
  for (int64_t j = 0; j < n; j += 8) {
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      float *dj = ds + r * n + j;
      __m256 d = _mm256_mul_ps(train_load256(p + r * n + j, n - j), _mm256_sub_ps(train_load256(dj, n - j), t[r]));
      train_store256(dj, _mm256_mul_ps(va, d), n - j);
    }
  }
}

/* att_softmax_rows256 for rows of n <= 8 NV in registers (see
 * att_softmax_reg512: no masked tail stored and loaded back). */
TRAIN_INLINE DISTAC_TARGET_AVX2 void att_softmax_reg256(int NR, int NV, int64_t n, float *p) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY), zero = _mm256_setzero_ps();
  __m256 x[ATT_RB][4], acc[ATT_RB];
  __m256 mk[4];
  ATT_UNROLL
  for (int v = 0; v < NV; v++) mk[v] = _mm256_castsi256_ps(train_tail256(n - 8 * v < 8 ? n - 8 * v : 8));
  ATT_UNROLL
  for (int r = 0; r < NR; r++) {
    acc[r] = ninf;
    ATT_UNROLL
    for (int v = 0; v < NV; v++) {
      x[r][v] = train_load256(p + r * n + 8 * v, n - 8 * v); /* 0 past n */
      acc[r] = _mm256_max_ps(acc[r], _mm256_blendv_ps(ninf, x[r][v], mk[v]));
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) {
    __m256 vm = _mm256_set1_ps(train_hmax256(acc[r]));
    acc[r] = zero;
    ATT_UNROLL
    for (int v = 0; v < NV; v++) {
      /* Lanes past n take exp(0) (no subnormals) and add nothing. */
      x[r][v] = train_exp256(_mm256_and_ps(_mm256_sub_ps(x[r][v], vm), mk[v]), zero);
      acc[r] = _mm256_add_ps(acc[r], _mm256_and_ps(x[r][v], mk[v]));
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) {
    __m256 inv = _mm256_set1_ps((float)(1.0 / (double)train_hsum256(acc[r])));
    ATT_UNROLL
    for (int v = 0; v < NV; v++) train_store256(p + r * n + 8 * v, _mm256_mul_ps(x[r][v], inv), n - 8 * v);
  }
}

#define ATT_SOFTMAX_REG256(NR, NV) att_softmax_reg256(NR, NV, n, p)
#define ATT_SOFTMAX_NV256(NV) ATT_ROWS(ATT_SOFTMAX_REG256, nr, NV)

static DISTAC_TARGET_AVX2 void att_softmax_avx2(int64_t nr, int64_t n, float *p) {
  switch ((n + 7) / 8) {
    case 1: ATT_SOFTMAX_NV256(1) break;
    case 2: ATT_SOFTMAX_NV256(2) break;
    case 3: ATT_SOFTMAX_NV256(3) break;
    default: ATT_ROWS(att_softmax_rows256, nr, n, p)
  }
}
#undef ATT_SOFTMAX_REG256
#undef ATT_SOFTMAX_NV256

static DISTAC_TARGET_AVX2 void att_dsoftmax_avx2(int64_t nr, int64_t n, float alpha,
                                                 const float *p, float *ds) {
  ATT_ROWS(att_dsoftmax_rows256, nr, n, alpha, p, ds)
}

/* wsum over NR rows and NV vectors (of 8) of columns from c: constant NR and
 * NV make the accumulators registers; rem limits the last vector. */
TRAIN_INLINE DISTAC_TARGET_AVX2 void att_wsum_block256(int NR, int NV, int64_t rem, int64_t n,
                                                       const float *w, int64_t wsr, int64_t wsk,
                                                       const float *x, int64_t ldx, float *o,
                                                       int64_t ldo) {
  __m256 acc[ATT_RB][2];
  const __m256i tail = train_tail256(rem - 8 * (NV - 1));
  ATT_UNROLL
  for (int r = 0; r < NR; r++)
    ATT_UNROLL
    for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < n; k++) {
    const float *xk = x + k * ldx;
    __m256 xv[2];
    ATT_UNROLL
    for (int v = 0; v < NV; v++) {
      xv[v] = v < NV - 1 || rem >= 8 * NV ? _mm256_loadu_ps(xk + 8 * v) : _mm256_maskload_ps(xk + 8 * v, tail);
    }
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      __m256 wk = _mm256_broadcast_ss(w + r * wsr + k * wsk);
      ATT_UNROLL
      for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(wk, xv[v], acc[r][v]);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++)
    ATT_UNROLL
    for (int v = 0; v < NV; v++) train_store256(o + r * ldo + 8 * v, acc[r][v], rem - 8 * v);
}

#define ATT_WSUM_BLOCK att_wsum_block256

static DISTAC_TARGET_AVX2 void att_wsum_avx2(int64_t nr, int64_t n, int64_t dh, const float *w,
                                             int64_t wsr, int64_t wsk, const float *x,
                                             int64_t ldx, float *o, int64_t ldo) {
  for (int64_t c = 0; c < dh; c += 16) {
    int64_t rem = dh - c < 16 ? dh - c : 16;
    if (rem > 8) {
      ATT_WSUM_SWITCH(2)
    } else {
      ATT_WSUM_SWITCH(1)
    }
  }
}
#undef ATT_WSUM_BLOCK

const att_kernels distac_att_avx2 = {att_dots_avx2, att_softmax_avx2, att_dsoftmax_avx2,
                                     att_wsum_avx2};
