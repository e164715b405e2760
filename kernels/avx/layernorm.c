/*
 * layernorm.c — layernorm forward and backward over rows (distac_train.h).
 *
 * Forward statistics use the corrected two-pass algorithm (Chan, Golub &
 * LeVeque): m0 = mean(x) in fp32, then with d = x - m0,
 *   mean = m0 + sum(d)/n,  var = sum(d^2)/n - (sum(d)/n)^2,
 * which removes the rounding error of m0 to first order and never subtracts
 * two large sums (rows live in L1, so the extra pass is cheap). The SIMD
 * variants normalize as ((x - m0) - c) * rstd with c = mean - m0: x - m0 is
 * exact for x near the mean (Sterbenz), so rows with |mean| >> std keep
 * their accuracy instead of inheriting the rounding of mean to fp32.
 * Backward rows are processed in DISTAC_TRAIN_ROW_BLOCK blocks, each writing
 * its own fp32 dgamma/dbeta partial; the partials are reduced in block order.
 */
#include <math.h>
#include <stdlib.h>

#include "train_math.h"

/* mean and rstd from m0 and the sums of d = x - m0 and d^2 over n values. */
static void ln_stats(int64_t n, double m0, double s1, double s2, float eps, double *mean,
                     double *rstd) {
  double c = s1 / (double)n;
  double var = s2 / (double)n - c * c;
  if (var < 0) var = 0;
  *mean = m0 + c;
  *rstd = 1.0 / sqrt(var + (double)eps);
}

/* ---------------------------------------------------------------- forward */

typedef void (*ln_fwd_row_fn)(int64_t n, const float *x, const float *gamma, const float *beta,
                              float eps, float *y, float *mean, float *rstd);

typedef struct {
  int64_t cols, ldx, ldy;
  const float *x, *gamma, *beta;
  float eps;
  float *y, *mean, *rstd;
  ln_fwd_row_fn row;
} ln_fwd_ctx;

static void ln_fwd_range(void *p, int64_t r0, int64_t r1) {
  const ln_fwd_ctx *c = (const ln_fwd_ctx *)p;
  for (int64_t r = r0; r < r1; r++) {
    float mean, rstd;
    c->row(c->cols, c->x + r * c->ldx, c->gamma, c->beta, c->eps, c->y + r * c->ldy, &mean,
           &rstd);
    if (c->mean) c->mean[r] = mean;
    if (c->rstd) c->rstd[r] = rstd;
  }
}

static int ln_forward_run(int64_t rows, int64_t cols, const float *x, int64_t ldx,
                          const float *gamma, const float *beta, float eps, float *y, int64_t ldy,
                          float *mean, float *rstd, int threads, ln_fwd_row_fn row) {
  if (rows < 0 || cols < 1 || ldx < cols || ldy < cols || !x || !gamma || !beta || !y ||
      !(eps >= 0)) {
    return DISTAC_EINVAL;
  }
  ln_fwd_ctx c = {cols, ldx, ldy, x, gamma, beta, eps, y, mean, rstd, row};
  distac_parallel_for(threads, rows, train_grain(cols), ln_fwd_range, &c);
  return DISTAC_OK;
}

static void ln_fwd_row_scalar(int64_t n, const float *x, const float *gamma, const float *beta,
                              float eps, float *y, float *mean, float *rstd) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += x[i];
  double m0 = s / (double)n, s1 = 0, s2 = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = x[i] - m0;
    s1 += d, s2 += d * d;
  }
  double mu, rs;
  ln_stats(n, m0, s1, s2, eps, &mu, &rs);
  for (int64_t i = 0; i < n; i++) y[i] = (float)((x[i] - mu) * rs * gamma[i] + beta[i]);
  *mean = (float)mu, *rstd = (float)rs;
}

static DISTAC_TARGET_AVX2 void ln_fwd_row_avx2(int64_t n, const float *x, const float *gamma,
                                               const float *beta, float eps, float *y,
                                               float *mean, float *rstd) {
  int64_t nv = n & ~(int64_t)7;
  __m256i tail = train_tail256(n - nv);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
    a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
  }
  for (; i < nv; i += 8) a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
  if (nv < n) a1 = _mm256_add_ps(a1, _mm256_maskload_ps(x + nv, tail));
  float m0 = train_hsum256(_mm256_add_ps(a0, a1)) / (float)n;

  __m256 vm0 = _mm256_set1_ps(m0), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps();
  for (i = 0; i < nv; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm0);
    s1 = _mm256_add_ps(s1, d);
    s2 = _mm256_fmadd_ps(d, d, s2);
  }
  if (nv < n) {
    __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + nv, tail), vm0),
                             _mm256_castsi256_ps(tail));
    s1 = _mm256_add_ps(s1, d);
    s2 = _mm256_fmadd_ps(d, d, s2);
  }
  double mu, rs;
  ln_stats(n, m0, train_hsum256(s1), train_hsum256(s2), eps, &mu, &rs);
  *mean = (float)mu, *rstd = (float)rs;

  __m256 vc = _mm256_set1_ps((float)(mu - m0)), vrstd = _mm256_set1_ps(*rstd);
  for (i = 0; i < nv; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm0), vc);
    __m256 h = _mm256_mul_ps(d, vrstd);
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(h, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
  }
  if (nv < n) {
    __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(x + nv, tail), vm0), vc);
    __m256 h = _mm256_mul_ps(d, vrstd);
    __m256 g = _mm256_maskload_ps(gamma + nv, tail), b = _mm256_maskload_ps(beta + nv, tail);
    train_store_tail256(y + nv, _mm256_fmadd_ps(h, g, b), n - nv);
  }
}

static DISTAC_TARGET_AVX512 void ln_fwd_row_avx512(int64_t n, const float *x,
                                                   const float *gamma, const float *beta,
                                                   float eps, float *y, float *mean,
                                                   float *rstd) {
  int64_t nv = n & ~(int64_t)15;
  __mmask16 tail = train_tail512(n - nv);
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
  }
  for (; i < nv; i += 16) a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
  if (nv < n) a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(tail, x + nv));
  float m0 = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) / (float)n;

  __m512 vm0 = _mm512_set1_ps(m0), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps();
  for (i = 0; i < nv; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), vm0);
    s1 = _mm512_add_ps(s1, d);
    s2 = _mm512_fmadd_ps(d, d, s2);
  }
  if (nv < n) {
    __m512 d = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, x + nv), vm0);
    s1 = _mm512_add_ps(s1, d);
    s2 = _mm512_fmadd_ps(d, d, s2);
  }
  double mu, rs;
  ln_stats(n, m0, _mm512_reduce_add_ps(s1), _mm512_reduce_add_ps(s2), eps, &mu, &rs);
  *mean = (float)mu, *rstd = (float)rs;

  __m512 vc = _mm512_set1_ps((float)(mu - m0)), vrstd = _mm512_set1_ps(*rstd);
  for (i = 0; i < nv; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm0), vc);
    __m512 h = _mm512_mul_ps(d, vrstd);
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(h, _mm512_loadu_ps(gamma + i), _mm512_loadu_ps(beta + i)));
  }
  if (nv < n) {
    __m512 d = _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + nv), vm0), vc);
    __m512 h = _mm512_mul_ps(d, vrstd);
    __m512 g = _mm512_maskz_loadu_ps(tail, gamma + nv), b = _mm512_maskz_loadu_ps(tail, beta + nv);
    _mm512_mask_storeu_ps(y + nv, tail, _mm512_fmadd_ps(h, g, b));
  }
}

#define LN_FWD_PARAMS                                                                          \
  (int64_t rows, int64_t cols, const float *x, int64_t ldx, const float *gamma,               \
   const float *beta, float eps, float *y, int64_t ldy, float *mean, float *rstd, int threads)
#define LN_FWD_ARGS (rows, cols, x, ldx, gamma, beta, eps, y, ldy, mean, rstd, threads)

int distac_layernorm_forward_scalar LN_FWD_PARAMS {
  return ln_forward_run(rows, cols, x, ldx, gamma, beta, eps, y, ldy, mean, rstd, threads,
                        ln_fwd_row_scalar);
}
int distac_layernorm_forward_avx2 LN_FWD_PARAMS {
  return ln_forward_run(rows, cols, x, ldx, gamma, beta, eps, y, ldy, mean, rstd, threads,
                        ln_fwd_row_avx2);
}
int distac_layernorm_forward_avx512 LN_FWD_PARAMS {
  return ln_forward_run(rows, cols, x, ldx, gamma, beta, eps, y, ldy, mean, rstd, threads,
                        ln_fwd_row_avx512);
}
DISTAC_DEFINE_DISPATCH(layernorm_forward, LN_FWD_PARAMS, LN_FWD_ARGS)

/* --------------------------------------------------------------- backward */

/* One row: writes (or adds to) dx, adds dy*xhat into pg and dy into pb
 * (either may be NULL). */
typedef void (*ln_bwd_row_fn)(int64_t n, const float *dy, const float *x, float mean, float rstd,
                              const float *gamma, float *dx, int accumulate, float *pg,
                              float *pb);

typedef struct {
  int64_t rows, cols, lddy, ldx, lddx;
  const float *dy, *x, *mean, *rstd, *gamma;
  float *dx;
  int accumulate;
  float *part; /* per block: dgamma partial [cols], dbeta partial [cols]; NULL: none */
  int want_g, want_b;
  ln_bwd_row_fn row;
} ln_bwd_ctx;

static void ln_bwd_range(void *p, int64_t b0, int64_t b1) {
  const ln_bwd_ctx *c = (const ln_bwd_ctx *)p;
  for (int64_t b = b0; b < b1; b++) {
    float *pg = NULL, *pb = NULL;
    if (c->part) {
      float *blk = c->part + b * 2 * c->cols;
      for (int64_t j = 0; j < 2 * c->cols; j++) blk[j] = 0;
      pg = c->want_g ? blk : NULL;
      pb = c->want_b ? blk + c->cols : NULL;
    }
    int64_t r1 = (b + 1) * DISTAC_TRAIN_ROW_BLOCK;
    if (r1 > c->rows) r1 = c->rows;
    for (int64_t r = b * DISTAC_TRAIN_ROW_BLOCK; r < r1; r++) {
      c->row(c->cols, c->dy + r * c->lddy, c->x + r * c->ldx, c->mean[r], c->rstd[r], c->gamma,
             c->dx + r * c->lddx, c->accumulate, pg, pb);
    }
  }
}

static int ln_backward_run(int64_t rows, int64_t cols, const float *dy, int64_t lddy,
                           const float *x, int64_t ldx, const float *mean, const float *rstd,
                           const float *gamma, float *dx, int64_t lddx, int accumulate,
                           float *dgamma, float *dbeta, int threads, ln_bwd_row_fn row) {
  if (rows < 0 || cols < 1 || lddy < cols || ldx < cols || lddx < cols || !dy || !x || !mean ||
      !rstd || !gamma || !dx) {
    return DISTAC_EINVAL;
  }
  int64_t nb = train_row_blocks(rows);
  ln_bwd_ctx c = {rows, cols, lddy, ldx, lddx, dy, x, mean, rstd, gamma, dx, accumulate,
                  NULL, dgamma != NULL, dbeta != NULL, row};
  double *acc = NULL;
  if ((dgamma || dbeta) && nb > 0) {
    c.part = (float *)malloc((size_t)(nb * 2 * cols) * sizeof(float));
    acc = (double *)malloc((size_t)cols * sizeof(double));
    if (!c.part || !acc) {
      free(c.part), free(acc);
      return DISTAC_ENOMEM;
    }
  }
  distac_parallel_for(threads, nb, train_grain(DISTAC_TRAIN_ROW_BLOCK * cols), ln_bwd_range, &c);
  if (c.part) {
    if (dgamma) train_reduce_blocks(c.part, nb, 2 * cols, cols, acc, dgamma);
    if (dbeta) train_reduce_blocks(c.part + cols, nb, 2 * cols, cols, acc, dbeta);
  }
  free(c.part), free(acc);
  return DISTAC_OK;
}

static void ln_bwd_row_scalar(int64_t n, const float *dy, const float *x, float mean, float rstd,
                              const float *gamma, float *dx, int accumulate, float *pg,
                              float *pb) {
  double sg = 0, sgx = 0;
  for (int64_t i = 0; i < n; i++) {
    float xh = (x[i] - mean) * rstd, g = dy[i] * gamma[i];
    sg += g, sgx += (double)g * xh;
    if (pg) pg[i] += dy[i] * xh;
    if (pb) pb[i] += dy[i];
  }
  float a = (float)(sg / (double)n), b = (float)(sgx / (double)n);
  for (int64_t i = 0; i < n; i++) {
    float xh = (x[i] - mean) * rstd, g = dy[i] * gamma[i];
    float d = rstd * (g - a - xh * b);
    dx[i] = accumulate ? dx[i] + d : d;
  }
}

/* One vector of the first backward pass: the row sums, and the dgamma and
 * dbeta partials. Called with rem = 8 in the main loop, so the loads and
 * stores fold to plain ones there, and once with rem < 8 for the tail. */
TRAIN_INLINE DISTAC_TARGET_AVX2 void ln_bwd_sums256(
    const float *dy, const float *x, const float *gamma, __m256 vmean, __m256 vrstd,
    float *pg, float *pb, int64_t rem, __m256 *sg, __m256 *sgx) {
  __m256 d = train_load256(dy, rem);
  __m256 xh = _mm256_mul_ps(_mm256_sub_ps(train_load256(x, rem), vmean), vrstd);
  __m256 g = _mm256_mul_ps(d, train_load256(gamma, rem));
  *sg = _mm256_add_ps(*sg, g);
  *sgx = _mm256_fmadd_ps(g, xh, *sgx);
  if (pg) train_store256(pg, _mm256_fmadd_ps(d, xh, train_load256(pg, rem)), rem);
  if (pb) train_store256(pb, _mm256_add_ps(d, train_load256(pb, rem)), rem);
}

/* One vector of the second pass: dx. */
TRAIN_INLINE DISTAC_TARGET_AVX2 void ln_bwd_dx256(
    const float *dy, const float *x, const float *gamma, __m256 vmean, __m256 vrstd, __m256 a,
    __m256 b, float *dx, int accumulate, int64_t rem) {
  __m256 xh = _mm256_mul_ps(_mm256_sub_ps(train_load256(x, rem), vmean), vrstd);
  __m256 g = _mm256_mul_ps(train_load256(dy, rem), train_load256(gamma, rem));
  __m256 d = _mm256_mul_ps(vrstd, _mm256_fnmadd_ps(xh, b, _mm256_sub_ps(g, a)));
  if (accumulate) d = _mm256_add_ps(d, train_load256(dx, rem));
  train_store256(dx, d, rem);
}

static DISTAC_TARGET_AVX2 void ln_bwd_row_avx2(int64_t n, const float *dy, const float *x,
                                               float mean, float rstd, const float *gamma,
                                               float *dx, int accumulate, float *pg,
                                               float *pb) {
  __m256 vmean = _mm256_set1_ps(mean), vrstd = _mm256_set1_ps(rstd);
  __m256 sg = _mm256_setzero_ps(), sgx = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    ln_bwd_sums256(dy + i, x + i, gamma + i, vmean, vrstd, pg ? pg + i : NULL,
                   pb ? pb + i : NULL, 8, &sg, &sgx);
  }
  if (i < n) { /* the tail loads 0 past n, so it adds nothing to the sums */
    ln_bwd_sums256(dy + i, x + i, gamma + i, vmean, vrstd, pg ? pg + i : NULL,
                   pb ? pb + i : NULL, n - i, &sg, &sgx);
  }
  __m256 a = _mm256_set1_ps(train_hsum256(sg) / (float)n);
  __m256 b = _mm256_set1_ps(train_hsum256(sgx) / (float)n);
  for (i = 0; i + 8 <= n; i += 8) {
    ln_bwd_dx256(dy + i, x + i, gamma + i, vmean, vrstd, a, b, dx + i, accumulate, 8);
  }
  if (i < n) ln_bwd_dx256(dy + i, x + i, gamma + i, vmean, vrstd, a, b, dx + i, accumulate, n - i);
}

static DISTAC_TARGET_AVX512 void ln_bwd_row_avx512(int64_t n, const float *dy, const float *x,
                                                   float mean, float rstd, const float *gamma,
                                                   float *dx, int accumulate, float *pg,
                                                   float *pb) {
  int64_t nv = n & ~(int64_t)15;
  __mmask16 tail = train_tail512(n - nv);
  __m512 vmean = _mm512_set1_ps(mean), vrstd = _mm512_set1_ps(rstd);
  __m512 sg = _mm512_setzero_ps(), sgx = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = i < nv ? (__mmask16)0xffff : tail;
    __m512 d = _mm512_maskz_loadu_ps(m, dy + i);
    __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmean), vrstd);
    __m512 g = _mm512_mul_ps(d, _mm512_maskz_loadu_ps(m, gamma + i));
    sg = _mm512_add_ps(sg, g);
    sgx = _mm512_fmadd_ps(g, xh, sgx);
    if (pg) _mm512_mask_storeu_ps(pg + i, m, _mm512_fmadd_ps(d, xh, _mm512_maskz_loadu_ps(m, pg + i)));
    if (pb) _mm512_mask_storeu_ps(pb + i, m, _mm512_add_ps(d, _mm512_maskz_loadu_ps(m, pb + i)));
  }
  __m512 a = _mm512_set1_ps(_mm512_reduce_add_ps(sg) / (float)n);
  __m512 b = _mm512_set1_ps(_mm512_reduce_add_ps(sgx) / (float)n);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = i < nv ? (__mmask16)0xffff : tail;
    __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmean), vrstd);
    __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), _mm512_maskz_loadu_ps(m, gamma + i));
    __m512 d = _mm512_mul_ps(vrstd, _mm512_fnmadd_ps(xh, b, _mm512_sub_ps(g, a)));
    if (accumulate) d = _mm512_add_ps(d, _mm512_maskz_loadu_ps(m, dx + i));
    _mm512_mask_storeu_ps(dx + i, m, d);
  }
}

#define LN_BWD_PARAMS                                                                      \
  (int64_t rows, int64_t cols, const float *dy, int64_t lddy, const float *x, int64_t ldx, \
   const float *mean, const float *rstd, const float *gamma, float *dx, int64_t lddx,      \
   int accumulate, float *dgamma, float *dbeta, int threads)
#define LN_BWD_ARGS \
  (rows, cols, dy, lddy, x, ldx, mean, rstd, gamma, dx, lddx, accumulate, dgamma, dbeta, threads)

int distac_layernorm_backward_scalar LN_BWD_PARAMS {
  return ln_backward_run(rows, cols, dy, lddy, x, ldx, mean, rstd, gamma, dx, lddx, accumulate,
                         dgamma, dbeta, threads, ln_bwd_row_scalar);
}
int distac_layernorm_backward_avx2 LN_BWD_PARAMS {
  return ln_backward_run(rows, cols, dy, lddy, x, ldx, mean, rstd, gamma, dx, lddx, accumulate,
                         dgamma, dbeta, threads, ln_bwd_row_avx2);
}
int distac_layernorm_backward_avx512 LN_BWD_PARAMS {
  return ln_backward_run(rows, cols, dy, lddy, x, ldx, mean, rstd, gamma, dx, lddx, accumulate,
                         dgamma, dbeta, threads, ln_bwd_row_avx512);
}
DISTAC_DEFINE_DISPATCH(layernorm_backward, LN_BWD_PARAMS, LN_BWD_ARGS)
