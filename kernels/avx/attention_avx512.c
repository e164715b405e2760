/*
 * attention_avx512.c — the AVX-512 row kernels of the attention core (see
 * attention.c for the algorithm, attention.h for the kernels' contract).
 */
#include "attention.h"

/* The 16 sums of a[0..15] as one vector (lane g = sum of a[g]). */
static inline DISTAC_TARGET_AVX512 __m512 att_hsum16_avx512(const __m512 a[16]) {
  /* 1: 128-bit quarters 0,1 of r[m] hold the half-sums of a[2m], 2,3 those of a[2m+1]. */
  __m512 r[8], s[4];
  ATT_UNROLL
  for (int m = 0; m < 8; m++) {
    r[m] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  /* 2: quarter L of s[m] holds 4 partial sums of a[4m + L]. */
  ATT_UNROLL
  for (int m = 0; m < 4; m++) {
    s[m] = _mm512_add_ps(_mm512_shuffle_f32x4(r[2 * m], r[2 * m + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(r[2 * m], r[2 * m + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  /* 3: within quarters (as hadd): element e of quarter L = sum of a[4e + L]. */
  __m512 t0 = _mm512_add_ps(_mm512_shuffle_ps(s[0], s[1], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_ps(s[0], s[1], _MM_SHUFFLE(3, 1, 3, 1)));
  __m512 t1 = _mm512_add_ps(_mm512_shuffle_ps(s[2], s[3], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_ps(s[2], s[3], _MM_SHUFFLE(3, 1, 3, 1)));
  __m512 f = _mm512_add_ps(_mm512_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)),
                           _mm512_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1)));
  /* Lane 4L + e holds a[4e + L]: lane g comes from 4 (g % 4) + g / 4. */
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(idx, f);
}

static inline DISTAC_TARGET_AVX512 float att_dot_avx512(int64_t dh, const float *q,
                                                        const float *x) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t c = 0; c < dh; c += 16) {
    __mmask16 m = dh - c >= 16 ? (__mmask16)0xffff : train_tail512(dh - c);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + c), _mm512_maskz_loadu_ps(m, x + c), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

/* As att_dots8_avx2 for 16 rows. */
TRAIN_INLINE DISTAC_TARGET_AVX512 __m512 att_dots16_avx512(int64_t rows, int64_t dh,
                                                           const float *q, const float *x,
                                                           int64_t ldx) {
  const int64_t dv = dh & ~(int64_t)15;
  const __mmask16 tail = train_tail512(dh - dv);
  __m512 acc[16];
  ATT_UNROLL
  for (int g = 0; g < 16; g++) acc[g] = _mm512_setzero_ps();
  for (int64_t c = 0; c < dh; c += 16) {
    const __mmask16 m = c < dv ? (__mmask16)0xffff : tail;
    __m512 qv = _mm512_maskz_loadu_ps(m, q + c);
    const float *xp = x + c;
    ATT_UNROLL
    for (int g = 0; g < 16; g++) {
      acc[g] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, xp), acc[g]);
      if (g + 1 < rows) xp += ldx;
    }
  }
  return att_hsum16_avx512(acc);
}

static DISTAC_TARGET_AVX512 void att_dots_avx512(int64_t n, int64_t dh, float alpha,
                                                 const float *q, const float *x, int64_t ldx,
                                                 float *s) {
  const __m512 va = _mm512_set1_ps(alpha);
  int64_t j0 = 0;
  for (; j0 + 16 <= n; j0 += 16) _mm512_storeu_ps(s + j0, _mm512_mul_ps(att_dots16_avx512(16, dh, q, x + j0 * ldx, ldx), va));
  if (n - j0 > 4) {
    __m512 v = _mm512_mul_ps(att_dots16_avx512(n - j0, dh, q, x + j0 * ldx, ldx), va);
    _mm512_mask_storeu_ps(s + j0, train_tail512(n - j0), v);
    return;
  }
  for (; j0 < n; j0++) s[j0] = alpha * att_dot_avx512(dh, q, x + j0 * ldx);
}

/* As att_softmax_rows256. */
TRAIN_INLINE DISTAC_TARGET_AVX512 void att_softmax_rows512(int NR, int64_t n, float *p) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY), zero = _mm512_setzero_ps();
  __m512 acc[ATT_RB], vm[ATT_RB];
  ATT_UNROLL
  for (int r = 0; r < NR; r++) acc[r] = ninf;
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : train_tail512(n - j);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) acc[r] = _mm512_max_ps(acc[r], _mm512_mask_loadu_ps(ninf, m, p + r * n + j));
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) vm[r] = _mm512_set1_ps(_mm512_reduce_max_ps(acc[r])), acc[r] = zero;
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : train_tail512(n - j);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      __m512 e = train_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + r * n + j), vm[r]), zero);
      _mm512_mask_storeu_ps(p + r * n + j, m, e);
      acc[r] = _mm512_mask_add_ps(acc[r], m, acc[r], e);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) vm[r] = _mm512_set1_ps((float)(1.0 / (double)_mm512_reduce_add_ps(acc[r])));
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : train_tail512(n - j);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      float *pj = p + r * n + j;
      _mm512_mask_storeu_ps(pj, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, pj), vm[r]));
    }
  }
}

TRAIN_INLINE DISTAC_TARGET_AVX512 void att_dsoftmax_rows512(int NR, int64_t n, float alpha,
                                                            const float *p, float *ds) {
  __m512 t[ATT_RB];
  ATT_UNROLL
  for (int r = 0; r < NR; r++) t[r] = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : train_tail512(n - j);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      t[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ds + r * n + j), _mm512_maskz_loadu_ps(m, p + r * n + j), t[r]);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) t[r] = _mm512_set1_ps(_mm512_reduce_add_ps(t[r]));
  const __m512 va = _mm512_set1_ps(alpha);
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : train_tail512(n - j);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      float *dj = ds + r * n + j;
      __m512 d = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + r * n + j), _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dj), t[r]));
      _mm512_mask_storeu_ps(dj, m, _mm512_mul_ps(va, d));
    }
  }
}

/* att_softmax_rows512 for rows of n <= 16 NV held in registers: each value
 * is loaded and stored once. (The passes of the general form store a
 * masked tail and load it back, and a masked store does not forward to a
 * load: every row would wait for its stores to retire.) Same arithmetic in
 * the same order, so the same bits. */
TRAIN_INLINE DISTAC_TARGET_AVX512 void att_softmax_reg512(int NR, int NV, int64_t n, float *p) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY), zero = _mm512_setzero_ps();
  __m512 x[ATT_RB][4], acc[ATT_RB];
  __mmask16 mk[4];
  ATT_UNROLL
  for (int v = 0; v < NV; v++) mk[v] = n - 16 * v >= 16 ? (__mmask16)0xffff : train_tail512(n - 16 * v);
  ATT_UNROLL
  for (int r = 0; r < NR; r++) {
    acc[r] = ninf;
    ATT_UNROLL
    for (int v = 0; v < NV; v++) {
      x[r][v] = _mm512_maskz_loadu_ps(mk[v], p + r * n + 16 * v);
      acc[r] = _mm512_mask_max_ps(acc[r], mk[v], acc[r], x[r][v]);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) {
    __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(acc[r]));
    acc[r] = zero;
    ATT_UNROLL
    for (int v = 0; v < NV; v++) {
      /* Lanes past n take exp(0): a subnormal there would cost an assist. */
      x[r][v] = train_exp512(_mm512_maskz_sub_ps(mk[v], x[r][v], vm), zero);
      acc[r] = _mm512_mask_add_ps(acc[r], mk[v], acc[r], x[r][v]);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++) {
    __m512 inv = _mm512_set1_ps((float)(1.0 / (double)_mm512_reduce_add_ps(acc[r])));
    ATT_UNROLL
    for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(p + r * n + 16 * v, mk[v], _mm512_mul_ps(x[r][v], inv));
  }
}

#define ATT_SOFTMAX_REG512(NR, NV) att_softmax_reg512(NR, NV, n, p)
#define ATT_SOFTMAX_NV512(NV) ATT_ROWS(ATT_SOFTMAX_REG512, nr, NV)

static DISTAC_TARGET_AVX512 void att_softmax_avx512(int64_t nr, int64_t n, float *p) {
  switch ((n + 15) / 16) {
    case 1: ATT_SOFTMAX_NV512(1) break;
    case 2: ATT_SOFTMAX_NV512(2) break;
    case 3: ATT_SOFTMAX_NV512(3) break;
    case 4: ATT_SOFTMAX_NV512(4) break;
    default: ATT_ROWS(att_softmax_rows512, nr, n, p)
  }
}
#undef ATT_SOFTMAX_REG512
#undef ATT_SOFTMAX_NV512

static DISTAC_TARGET_AVX512 void att_dsoftmax_avx512(int64_t nr, int64_t n, float alpha,
                                                     const float *p, float *ds) {
  ATT_ROWS(att_dsoftmax_rows512, nr, n, alpha, p, ds)
}

/* As att_wsum_block256 with NV vectors of 16; the last one masked by rem. */
TRAIN_INLINE DISTAC_TARGET_AVX512 void att_wsum_block512(int NR, int NV, int64_t rem, int64_t n,
                                                         const float *w, int64_t wsr,
                                                         int64_t wsk, const float *x,
                                                         int64_t ldx, float *o, int64_t ldo) {
  __m512 acc[ATT_RB][4];
  __mmask16 mk[4];
  ATT_UNROLL
  for (int v = 0; v < NV; v++) {
    int64_t left = rem - 16 * v;
    mk[v] = left >= 16 ? (__mmask16)0xffff : train_tail512(left);
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++)
    ATT_UNROLL
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < n; k++) {
    const float *xk = x + k * ldx;
    __m512 xv[4];
    ATT_UNROLL
    for (int v = 0; v < NV; v++) xv[v] = _mm512_maskz_loadu_ps(mk[v], xk + 16 * v);
    ATT_UNROLL
    for (int r = 0; r < NR; r++) {
      __m512 wk = _mm512_set1_ps(w[r * wsr + k * wsk]);
      ATT_UNROLL
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(wk, xv[v], acc[r][v]);
    }
  }
  ATT_UNROLL
  for (int r = 0; r < NR; r++)
    ATT_UNROLL
    for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(o + r * ldo + 16 * v, mk[v], acc[r][v]);
}

#define ATT_WSUM_BLOCK att_wsum_block512

static DISTAC_TARGET_AVX512 void att_wsum_avx512(int64_t nr, int64_t n, int64_t dh,
                                                 const float *w, int64_t wsr, int64_t wsk,
                                                 const float *x, int64_t ldx, float *o,
                                                 int64_t ldo) {
  for (int64_t c = 0; c < dh; c += 64) {
    int64_t rem = dh - c < 64 ? dh - c : 64;
    switch ((rem + 15) / 16) {
      case 1: ATT_WSUM_SWITCH(1) break;
      case 2: ATT_WSUM_SWITCH(2) break;
      case 3: ATT_WSUM_SWITCH(3) break;
      default: ATT_WSUM_SWITCH(4) break;
    }
  }
}
#undef ATT_WSUM_BLOCK

const att_kernels distac_att_avx512 = {att_dots_avx512, att_softmax_avx512, att_dsoftmax_avx512,
                                       att_wsum_avx512};
