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

/* -------------------------------------------------------- AVX2, AVX-512 */

#define SIMD_TEMPLATE "layernorm_simd.h"
#include "simd_each.h"

/* ---------------------------------------------------------------- entries */

#define LN_FWD_PARAMS                                                                          \
  (int64_t rows, int64_t cols, const float *x, int64_t ldx, const float *gamma,               \
   const float *beta, float eps, float *y, int64_t ldy, float *mean, float *rstd, int threads)
#define LN_FWD_ARGS (rows, cols, x, ldx, gamma, beta, eps, y, ldy, mean, rstd, threads)

#define LN_FWD_CALL(isa)                                                                  \
  ln_forward_run(rows, cols, x, ldx, gamma, beta, eps, y, ldy, mean, rstd, threads, \
                 ln_fwd_row_##isa)
DISTAC_DEFINE_OP(layernorm_forward, LN_FWD_PARAMS, LN_FWD_ARGS, LN_FWD_CALL)

#define LN_BWD_PARAMS                                                                      \
  (int64_t rows, int64_t cols, const float *dy, int64_t lddy, const float *x, int64_t ldx, \
   const float *mean, const float *rstd, const float *gamma, float *dx, int64_t lddx,      \
   int accumulate, float *dgamma, float *dbeta, int threads)
#define LN_BWD_ARGS \
  (rows, cols, dy, lddy, x, ldx, mean, rstd, gamma, dx, lddx, accumulate, dgamma, dbeta, threads)

#define LN_BWD_CALL(isa)                                                                   \
  ln_backward_run(rows, cols, dy, lddy, x, ldx, mean, rstd, gamma, dx, lddx, accumulate, dgamma, \
                  dbeta, threads, ln_bwd_row_##isa)
DISTAC_DEFINE_OP(layernorm_backward, LN_BWD_PARAMS, LN_BWD_ARGS, LN_BWD_CALL)
