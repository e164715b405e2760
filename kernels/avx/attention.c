/*
 * attention.c — the fused multi-head self-attention core, forward and
 * backward (distac_train.h): per (batch item b, head h), S = scale Q K^T,
 * P = softmax(S) by rows, out = P V.
 *
 * A (b, h) pair is one work item, computed start to end by one thread into
 * entries no other pair touches: same bits for any thread count.
 *
 * Each pair is built from four row kernels per ISA, vectorised over head_dim:
 *   dots:     s[j] = alpha * <q, X_j>, j < n        (rows of Q K^T, of dout V^T)
 *   softmax:  one row in place, max subtracted       (every exp <= 1)
 *   dsoftmax: ds = alpha * p * (dp - <dp, p>)        (dp in ds on entry)
 *   wsum:     o_r = sum_k w[r][k] X_k, r < nr <= 4   (P V, dS K, dS^T Q, P^T dout)
 * dots runs 8 (AVX2) or 16 (AVX-512) rows X_j at a time and folds their
 * accumulators into one vector of sums with a transpose-add tree: the
 * horizontal reduction costs ~3 instructions per dot instead of ~8. wsum
 * keeps nr x (1..4) vector accumulators, so each loaded chunk of X_k feeds nr
 * independent FMA chains.
 *
 * Backward, per pair: pass 1 over query rows i forms dP_i = dout_i V^T and
 * dS_i (times scale) into a seq x seq scratch, then dQ = dS K by row blocks;
 * pass 2 reads dS and P by columns for dK = dS^T Q and dV = P^T dout. Every
 * output row is written once, never read.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "train_math.h"

#define ATT_RB 4 /* rows per wsum block */
/* Scratch floats a thread keeps on its stack (16 KiB); more is allocated. */
#define ATT_STACK_FLOATS 4096

typedef struct {
  void (*dots)(int64_t n, int64_t dh, float alpha, const float *q, const float *x, int64_t ldx,
               float *s);
  void (*softmax)(int64_t n, float *p);
  void (*dsoftmax)(int64_t n, float alpha, const float *p, float *ds);
  void (*wsum)(int64_t nr, int64_t n, int64_t dh, const float *w, int64_t wsr, int64_t wsk,
               const float *x, int64_t ldx, float *o, int64_t ldo);
} att_kernels;

typedef struct {
  int64_t seq, heads, dh, d; /* d = heads * dh */
  float scale;
  const float *qkv, *probs_in, *dout;
  float *probs, *out, *dqkv;
  int64_t ldqkv, ldout, lddout, lddqkv;
  const att_kernels *k;
  /* Per-thread scratch of slot floats each: heap slots claimed one per range
   * call (distac_parallel_for makes at most distac_threads_for calls), or
   * NULL for a stack buffer; need: floats a pair uses (0: none). */
  float *heap;
  int64_t need;
  atomic_int next_slot;
} att_ctx;

static void att_fwd_pair(const att_ctx *c, int64_t pair, float *scratch) {
  const int64_t seq = c->seq, b = pair / c->heads, h = pair % c->heads;
  const float *q = c->qkv + b * seq * c->ldqkv + h * c->dh;
  const float *k = q + c->d, *v = q + 2 * c->d;
  float *o = c->out + b * seq * c->ldout + h * c->dh;
  float *pp = c->probs ? c->probs + pair * seq * seq : NULL;
  for (int64_t i0 = 0; i0 < seq; i0 += ATT_RB) {
    int64_t nr = seq - i0 < ATT_RB ? seq - i0 : ATT_RB;
    float *p = pp ? pp + i0 * seq : scratch; /* nr rows of P, stride seq */
    for (int64_t r = 0; r < nr; r++) {
      c->k->dots(seq, c->dh, c->scale, q + (i0 + r) * c->ldqkv, k, c->ldqkv, p + r * seq);
      c->k->softmax(seq, p + r * seq);
    }
    c->k->wsum(nr, seq, c->dh, p, seq, 1, v, c->ldqkv, o + i0 * c->ldout, c->ldout);
  }
}

static void att_bwd_pair(const att_ctx *c, int64_t pair, float *ds) {
  const int64_t seq = c->seq, b = pair / c->heads, h = pair % c->heads, dh = c->dh;
  const float *q = c->qkv + b * seq * c->ldqkv + h * dh;
  const float *k = q + c->d, *v = q + 2 * c->d;
  const float *go = c->dout + b * seq * c->lddout + h * dh;
  const float *p = c->probs_in + pair * seq * seq;
  float *dq = c->dqkv + b * seq * c->lddqkv + h * dh;
  float *dk = dq + c->d, *dv = dq + 2 * c->d;
  for (int64_t i = 0; i < seq; i++) {
    c->k->dots(seq, dh, 1.0f, go + i * c->lddout, v, c->ldqkv, ds + i * seq);
    c->k->dsoftmax(seq, c->scale, p + i * seq, ds + i * seq);
  }
  for (int64_t i0 = 0; i0 < seq; i0 += ATT_RB) {
    int64_t nr = seq - i0 < ATT_RB ? seq - i0 : ATT_RB;
    c->k->wsum(nr, seq, dh, ds + i0 * seq, seq, 1, k, c->ldqkv, dq + i0 * c->lddqkv, c->lddqkv);
    /* Columns j0.. of dS and P: w[r][i] = dS[i][j0 + r]. */
    c->k->wsum(nr, seq, dh, ds + i0, 1, seq, q, c->ldqkv, dk + i0 * c->lddqkv, c->lddqkv);
    c->k->wsum(nr, seq, dh, p + i0, 1, seq, go, c->lddout, dv + i0 * c->lddqkv, c->lddqkv);
  }
}

static float *att_scratch(att_ctx *c, float *stack) {
  if (!c->heap) return stack;
  return c->heap + (int64_t)atomic_fetch_add(&c->next_slot, 1) * c->need;
}

static void att_fwd_range(void *p, int64_t p0, int64_t p1) {
  att_ctx *c = (att_ctx *)p;
  float stack[ATT_STACK_FLOATS];
  float *scratch = c->need ? att_scratch(c, stack) : NULL;
  for (int64_t pair = p0; pair < p1; pair++) att_fwd_pair(c, pair, scratch);
}

static void att_bwd_range(void *p, int64_t p0, int64_t p1) {
  att_ctx *c = (att_ctx *)p;
  float stack[ATT_STACK_FLOATS];
  float *scratch = att_scratch(c, stack);
  for (int64_t pair = p0; pair < p1; pair++) att_bwd_pair(c, pair, scratch);
}

/* a * b without int64 overflow (both >= 0). */
static int att_fits(int64_t a, int64_t b) {
  int64_t t;
  return !__builtin_mul_overflow(a, b, &t);
}

/* The shape checks both directions share; *d = heads * head_dim. Every
 * product that indexes memory must fit in int64. */
static int att_shape_ok(int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, float scale,
                        int64_t *d) {
  if (batch < 0 || seq < 1 || heads < 1 || head_dim < 1 || !isfinite(scale)) return 0;
  if (!att_fits(heads, head_dim) || !att_fits(3, heads * head_dim)) return 0;
  *d = heads * head_dim;
  return att_fits(batch, seq) && att_fits(batch, heads) && att_fits(seq, seq) &&
         att_fits(batch * heads, seq * seq);
}

/* A leading dimension of at least `least` for batch*seq rows. */
static int att_ld_ok(int64_t rows, int64_t ld, int64_t least) {
  return ld >= least && att_fits(rows, ld);
}

/* Runs fn over the pairs with `need` scratch floats per thread. */
static int att_run(att_ctx *c, int64_t pairs, int threads, distac_range_fn fn) {
  if (pairs == 0) return DISTAC_OK;
  /* A thread start costs ~10 us; a pair does ~4 seq^2 dh flops. */
  int64_t grain = train_grain(c->seq * c->seq * c->dh / 2);
  if (c->need > ATT_STACK_FLOATS) {
    int t = distac_threads_for(threads, pairs, grain);
    c->heap = (float *)malloc((size_t)t * (size_t)c->need * sizeof(float));
    if (!c->heap) return DISTAC_ENOMEM;
  }
  atomic_init(&c->next_slot, 0);
  distac_parallel_for(threads, pairs, grain, fn, c);
  free(c->heap);
  return DISTAC_OK;
}

static int att_forward_run(int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                           float scale, const float *qkv, int64_t ldqkv, float *probs, float *out,
                           int64_t ldout, int threads, const att_kernels *k) {
  int64_t d;
  if (!att_shape_ok(batch, seq, heads, head_dim, scale, &d) ||
      !att_ld_ok(batch * seq, ldqkv, 3 * d) || !att_ld_ok(batch * seq, ldout, d) || !qkv ||
      !out) {
    return DISTAC_EINVAL;
  }
  att_ctx c = {.seq = seq, .heads = heads, .dh = head_dim, .d = d, .scale = scale, .qkv = qkv,
               .probs = probs, .out = out, .ldqkv = ldqkv, .ldout = ldout, .k = k,
               .need = probs ? 0 : ATT_RB * seq};
  return att_run(&c, batch * heads, threads, att_fwd_range);
}

static int att_backward_run(int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                            float scale, const float *qkv, int64_t ldqkv, const float *probs,
                            const float *dout, int64_t lddout, float *dqkv, int64_t lddqkv,
                            int threads, const att_kernels *k) {
  int64_t d, rows = batch * seq;
  if (!att_shape_ok(batch, seq, heads, head_dim, scale, &d) || !att_ld_ok(rows, ldqkv, 3 * d) ||
      !att_ld_ok(rows, lddout, d) || !att_ld_ok(rows, lddqkv, 3 * d) || !qkv || !probs || !dout ||
      !dqkv) {
    return DISTAC_EINVAL;
  }
  att_ctx c = {.seq = seq, .heads = heads, .dh = head_dim, .d = d, .scale = scale, .qkv = qkv,
               .probs_in = probs, .dout = dout, .dqkv = dqkv, .ldqkv = ldqkv, .lddout = lddout,
               .lddqkv = lddqkv, .k = k, .need = seq * seq};
  return att_run(&c, batch * heads, threads, att_bwd_range);
}

/* ----------------------------------------------------------------- scalar */

static void att_dots_scalar(int64_t n, int64_t dh, float alpha, const float *q, const float *x,
                            int64_t ldx, float *s) {
  for (int64_t j = 0; j < n; j++) {
    float acc = 0;
    for (int64_t c = 0; c < dh; c++) acc += q[c] * x[j * ldx + c];
    s[j] = alpha * acc;
  }
}

static void att_softmax_scalar(int64_t n, float *p) {
  float m = p[0];
  for (int64_t j = 1; j < n; j++) m = p[j] > m ? p[j] : m;
  double sum = 0;
  for (int64_t j = 0; j < n; j++) {
    p[j] = expf(p[j] - m);
    sum += p[j];
  }
  float inv = (float)(1.0 / sum);
  for (int64_t j = 0; j < n; j++) p[j] *= inv;
}

static void att_dsoftmax_scalar(int64_t n, float alpha, const float *p, float *ds) {
  double t = 0;
  for (int64_t j = 0; j < n; j++) t += (double)ds[j] * p[j];
  float tf = (float)t;
  for (int64_t j = 0; j < n; j++) ds[j] = alpha * (p[j] * (ds[j] - tf));
}

static void att_wsum_scalar(int64_t nr, int64_t n, int64_t dh, const float *w, int64_t wsr,
                            int64_t wsk, const float *x, int64_t ldx, float *o, int64_t ldo) {
  for (int64_t r = 0; r < nr; r++) {
    float *orow = o + r * ldo;
    for (int64_t c = 0; c < dh; c++) orow[c] = 0;
    for (int64_t k = 0; k < n; k++) {
      float wk = w[r * wsr + k * wsk];
      for (int64_t c = 0; c < dh; c++) orow[c] += wk * x[k * ldx + c];
    }
  }
}

static const att_kernels att_scalar = {att_dots_scalar, att_softmax_scalar, att_dsoftmax_scalar,
                                       att_wsum_scalar};

/* ------------------------------------------------------------------- AVX2 */

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

static DISTAC_TARGET_AVX2 void att_dots_avx2(int64_t n, int64_t dh, float alpha, const float *q,
                                             const float *x, int64_t ldx, float *s) {
  const int64_t dv = dh & ~(int64_t)7;
  const __m256i tail = train_tail256(dh - dv);
  const __m256 va = _mm256_set1_ps(alpha);
  int64_t j0 = 0;
  for (; n - j0 > 2; j0 += 8) {
    const float *xr[8];
    __m256 acc[8];
    /* Rows past n repeat the last one; their sums are not stored. */
    for (int g = 0; g < 8; g++) {
      xr[g] = x + (j0 + g < n ? j0 + g : n - 1) * ldx;
      acc[g] = _mm256_setzero_ps();
    }
    for (int64_t c = 0; c < dv; c += 8) {
      __m256 qv = _mm256_loadu_ps(q + c);
      for (int g = 0; g < 8; g++) acc[g] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(xr[g] + c), acc[g]);
    }
    if (dv < dh) {
      __m256 qv = _mm256_maskload_ps(q + dv, tail);
      for (int g = 0; g < 8; g++) {
        acc[g] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(xr[g] + dv, tail), acc[g]);
      }
    }
    train_store256(s + j0, _mm256_mul_ps(att_hsum8_avx2(acc), va), n - j0);
  }
  for (; j0 < n; j0++) s[j0] = alpha * att_dot_avx2(dh, q, x + j0 * ldx);
}

static DISTAC_TARGET_AVX2 void att_softmax_avx2(int64_t n, float *p) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY), zero = _mm256_setzero_ps();
  __m256 mx = ninf;
  for (int64_t j = 0; j < n; j += 8) {
    __m256i m = train_tail256(n - j < 8 ? n - j : 8);
    mx = _mm256_max_ps(mx, _mm256_blendv_ps(ninf, _mm256_maskload_ps(p + j, m), _mm256_castsi256_ps(m)));
  }
  __m256 vm = _mm256_set1_ps(train_hmax256(mx)), sum = zero;
  for (int64_t j = 0; j < n; j += 8) {
    __m256i m = train_tail256(n - j < 8 ? n - j : 8);
    __m256 e = train_exp256(_mm256_sub_ps(_mm256_maskload_ps(p + j, m), vm), zero);
    e = _mm256_and_ps(e, _mm256_castsi256_ps(m)); /* lanes past n add nothing */
    train_store256(p + j, e, n - j);
    sum = _mm256_add_ps(sum, e);
  }
  __m256 inv = _mm256_set1_ps((float)(1.0 / (double)train_hsum256(sum)));
  for (int64_t j = 0; j < n; j += 8) train_store256(p + j, _mm256_mul_ps(train_load256(p + j, n - j), inv), n - j);
}

static DISTAC_TARGET_AVX2 void att_dsoftmax_avx2(int64_t n, float alpha, const float *p,
                                                 float *ds) {
  __m256 t = _mm256_setzero_ps();
  for (int64_t j = 0; j < n; j += 8) t = _mm256_fmadd_ps(train_load256(ds + j, n - j), train_load256(p + j, n - j), t);
  const __m256 vt = _mm256_set1_ps(train_hsum256(t)), va = _mm256_set1_ps(alpha);
  for (int64_t j = 0; j < n; j += 8) {
    __m256 d = _mm256_mul_ps(train_load256(p + j, n - j), _mm256_sub_ps(train_load256(ds + j, n - j), vt));
    train_store256(ds + j, _mm256_mul_ps(va, d), n - j);
  }
}

/* wsum over NR rows and NV vectors (of 8) of columns from c: constant NR and
 * NV make the accumulators registers; rem limits the last vector. */
TRAIN_INLINE DISTAC_TARGET_AVX2 void att_wsum_block256(int NR, int NV, int64_t rem, int64_t n,
                                                       const float *w, int64_t wsr, int64_t wsk,
                                                       const float *x, int64_t ldx, float *o,
                                                       int64_t ldo) {
  __m256 acc[ATT_RB][2];
  const __m256i tail = train_tail256(rem - 8 * (NV - 1));
  for (int r = 0; r < NR; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < n; k++) {
    const float *xk = x + k * ldx;
    __m256 xv[2];
    for (int v = 0; v < NV; v++) {
      xv[v] = v < NV - 1 || rem >= 8 * NV ? _mm256_loadu_ps(xk + 8 * v) : _mm256_maskload_ps(xk + 8 * v, tail);
    }
    for (int r = 0; r < NR; r++) {
      __m256 wk = _mm256_broadcast_ss(w + r * wsr + k * wsk);
      for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(wk, xv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < NR; r++)
    for (int v = 0; v < NV; v++) train_store256(o + r * ldo + 8 * v, acc[r][v], rem - 8 * v);
}

#define ATT_WSUM_NR(NR, NV) \
  att_wsum_block256(NR, NV, rem, n, w, wsr, wsk, x + c, ldx, o + c, ldo)
#define ATT_WSUM_SWITCH(NV)        \
  switch (nr) {                    \
    case 1: ATT_WSUM_NR(1, NV); break; \
    case 2: ATT_WSUM_NR(2, NV); break; \
    case 3: ATT_WSUM_NR(3, NV); break; \
    default: ATT_WSUM_NR(4, NV); break; \
  }

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
#undef ATT_WSUM_NR

static const att_kernels att_avx2 = {att_dots_avx2, att_softmax_avx2, att_dsoftmax_avx2,
                                     att_wsum_avx2};

/* ---------------------------------------------------------------- AVX-512 */

/* The 16 sums of a[0..15] as one vector (lane g = sum of a[g]). */
static inline DISTAC_TARGET_AVX512 __m512 att_hsum16_avx512(const __m512 a[16]) {
  /* 1: 128-bit quarters 0,1 of r[m] hold the half-sums of a[2m], 2,3 those of a[2m+1]. */
  __m512 r[8], s[4];
  for (int m = 0; m < 8; m++) {
    r[m] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  /* 2: quarter L of s[m] holds 4 partial sums of a[4m + L]. */
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

static DISTAC_TARGET_AVX512 void att_dots_avx512(int64_t n, int64_t dh, float alpha,
                                                 const float *q, const float *x, int64_t ldx,
                                                 float *s) {
  const int64_t dv = dh & ~(int64_t)15;
  const __mmask16 tail = train_tail512(dh - dv);
  const __m512 va = _mm512_set1_ps(alpha);
  int64_t j0 = 0;
  for (; n - j0 > 4; j0 += 16) {
    const float *xr[16];
    __m512 acc[16];
    for (int g = 0; g < 16; g++) { /* rows past n repeat the last one */
      xr[g] = x + (j0 + g < n ? j0 + g : n - 1) * ldx;
      acc[g] = _mm512_setzero_ps();
    }
    for (int64_t c = 0; c < dv; c += 16) {
      __m512 qv = _mm512_loadu_ps(q + c);
      for (int g = 0; g < 16; g++) acc[g] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(xr[g] + c), acc[g]);
    }
    if (dv < dh) {
      __m512 qv = _mm512_maskz_loadu_ps(tail, q + dv);
      for (int g = 0; g < 16; g++) {
        acc[g] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(tail, xr[g] + dv), acc[g]);
      }
    }
    __mmask16 keep = n - j0 >= 16 ? (__mmask16)0xffff : train_tail512(n - j0);
    _mm512_mask_storeu_ps(s + j0, keep, _mm512_mul_ps(att_hsum16_avx512(acc), va));
  }
  for (; j0 < n; j0++) s[j0] = alpha * att_dot_avx512(dh, q, x + j0 * ldx);
}

static DISTAC_TARGET_AVX512 void att_softmax_avx512(int64_t n, float *p) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY), zero = _mm512_setzero_ps();
  __m512 mx = ninf;
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : train_tail512(n - j);
    mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(ninf, m, p + j));
  }
  __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sum = zero;
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : train_tail512(n - j);
    __m512 e = train_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + j), vm), zero);
    _mm512_mask_storeu_ps(p + j, m, e);
    sum = _mm512_mask_add_ps(sum, m, sum, e);
  }
  __m512 inv = _mm512_set1_ps((float)(1.0 / (double)_mm512_reduce_add_ps(sum)));
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : train_tail512(n - j);
    _mm512_mask_storeu_ps(p + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + j), inv));
  }
}

static DISTAC_TARGET_AVX512 void att_dsoftmax_avx512(int64_t n, float alpha, const float *p,
                                                     float *ds) {
  __m512 t = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : train_tail512(n - j);
    t = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, ds + j), _mm512_maskz_loadu_ps(m, p + j), t);
  }
  const __m512 vt = _mm512_set1_ps(_mm512_reduce_add_ps(t)), va = _mm512_set1_ps(alpha);
  for (int64_t j = 0; j < n; j += 16) {
    __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : train_tail512(n - j);
    __m512 d = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + j), _mm512_sub_ps(_mm512_maskz_loadu_ps(m, ds + j), vt));
    _mm512_mask_storeu_ps(ds + j, m, _mm512_mul_ps(va, d));
  }
}

/* As att_wsum_block256 with NV vectors of 16; the last one masked by rem. */
TRAIN_INLINE DISTAC_TARGET_AVX512 void att_wsum_block512(int NR, int NV, int64_t rem, int64_t n,
                                                         const float *w, int64_t wsr,
                                                         int64_t wsk, const float *x,
                                                         int64_t ldx, float *o, int64_t ldo) {
  __m512 acc[ATT_RB][4];
  __mmask16 mk[4];
  for (int v = 0; v < NV; v++) {
    int64_t left = rem - 16 * v;
    mk[v] = left >= 16 ? (__mmask16)0xffff : train_tail512(left);
  }
  for (int r = 0; r < NR; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < n; k++) {
    const float *xk = x + k * ldx;
    __m512 xv[4];
    for (int v = 0; v < NV; v++) xv[v] = _mm512_maskz_loadu_ps(mk[v], xk + 16 * v);
    for (int r = 0; r < NR; r++) {
      __m512 wk = _mm512_set1_ps(w[r * wsr + k * wsk]);
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(wk, xv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < NR; r++)
    for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(o + r * ldo + 16 * v, mk[v], acc[r][v]);
}

#define ATT_WSUM_NR(NR, NV) \
  att_wsum_block512(NR, NV, rem, n, w, wsr, wsk, x + c, ldx, o + c, ldo)

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
#undef ATT_WSUM_NR
#undef ATT_WSUM_SWITCH

static const att_kernels att_avx512 = {att_dots_avx512, att_softmax_avx512, att_dsoftmax_avx512,
                                       att_wsum_avx512};

/* ---------------------------------------------------------------- entries */

#define ATT_FWD_PARAMS                                                                   \
  (int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, float scale,             \
   const float *qkv, int64_t ldqkv, float *probs, float *out, int64_t ldout, int threads)
#define ATT_FWD_ARGS (batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, out, ldout, threads)
#define ATT_BWD_PARAMS                                                                    \
  (int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, float scale,              \
   const float *qkv, int64_t ldqkv, const float *probs, const float *dout, int64_t lddout, \
   float *dqkv, int64_t lddqkv, int threads)
#define ATT_BWD_ARGS \
  (batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, dout, lddout, dqkv, lddqkv, threads)

int distac_attention_forward_scalar ATT_FWD_PARAMS {
  return att_forward_run(batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, out, ldout,
                         threads, &att_scalar);
}
int distac_attention_forward_avx2 ATT_FWD_PARAMS {
  return att_forward_run(batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, out, ldout,
                         threads, &att_avx2);
}
int distac_attention_forward_avx512 ATT_FWD_PARAMS {
  return att_forward_run(batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, out, ldout,
                         threads, &att_avx512);
}
DISTAC_DEFINE_DISPATCH(attention_forward, ATT_FWD_PARAMS, ATT_FWD_ARGS)

int distac_attention_backward_scalar ATT_BWD_PARAMS {
  return att_backward_run(batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, dout, lddout,
                          dqkv, lddqkv, threads, &att_scalar);
}
int distac_attention_backward_avx2 ATT_BWD_PARAMS {
  return att_backward_run(batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, dout, lddout,
                          dqkv, lddqkv, threads, &att_avx2);
}
int distac_attention_backward_avx512 ATT_BWD_PARAMS {
  return att_backward_run(batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, dout, lddout,
                          dqkv, lddqkv, threads, &att_avx512);
}
DISTAC_DEFINE_DISPATCH(attention_backward, ATT_BWD_PARAMS, ATT_BWD_ARGS)
