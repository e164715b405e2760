/*
 * l2norm.c — row L2 normalization, forward and backward (distac_train.h),
 * as torch.nn.functional.normalize(x, dim=-1, eps).
 * Forward: ss = sum x^2 in float64 (every finite fp32 square and sum of them
 * fits a double, so there is no overflow or underflow and the rounding is
 * ~1e-16), n = (float)sqrt(ss), d = max(n, eps), y = x * (1/d).
 * Backward: with d from the saved norm, dx = (dy - y <dy, y>) / d, or dy / eps
 * where the norm was clamped; <dy, y> is summed in float64 too. Both are two
 * passes over a row that stays in L1.
 */
#include "train_math.h"

typedef void (*l2_fwd_row_fn)(int64_t n, const float *x, float eps, float *y, float *norm);
typedef void (*l2_bwd_row_fn)(int64_t n, const float *dy, const float *y, float norm, float eps,
                              float *dx);

typedef struct {
  int64_t cols, lda, ldb, ldc;
  const float *a, *b; /* forward: x; backward: dy, y */
  const float *norm_in;
  float *c, *norm; /* forward: y, norm; backward: dx */
  float eps;
  l2_fwd_row_fn fwd;
  l2_bwd_row_fn bwd;
} l2_ctx;

static void l2_range(void *p, int64_t r0, int64_t r1) {
  const l2_ctx *c = (const l2_ctx *)p;
  for (int64_t r = r0; r < r1; r++) {
    if (c->fwd) {
      float n;
      c->fwd(c->cols, c->a + r * c->lda, c->eps, c->c + r * c->ldc, &n);
      if (c->norm) c->norm[r] = n;
    } else {
      c->bwd(c->cols, c->a + r * c->lda, c->b + r * c->ldb, c->norm_in[r], c->eps,
             c->c + r * c->ldc);
    }
  }
}

static int l2_eps_ok(float eps) { return eps > 0 && isfinite(eps); }

/* Rows per thread: at least ~64K elements, twice train_grain's. The op does
 * little per element (one thread streams 128 x 512 in ~10 us, about what a
 * thread start costs), so a second thread only pays off past that. */
static int64_t l2_grain(int64_t cols) { return 2 * train_grain(cols); }

static int l2_forward_run(int64_t rows, int64_t cols, const float *x, int64_t ldx, float eps,
                          float *y, int64_t ldy, float *norm, int threads, l2_fwd_row_fn fn) {
  if (rows < 0 || cols < 1 || ldx < cols || ldy < cols || !x || !y || !l2_eps_ok(eps)) {
    return DISTAC_EINVAL;
  }
  l2_ctx c = {.cols = cols, .lda = ldx, .ldc = ldy, .a = x, .c = y, .norm = norm, .eps = eps,
              .fwd = fn};
  distac_parallel_for(threads, rows, l2_grain(cols), l2_range, &c);
  return DISTAC_OK;
}

static int l2_backward_run(int64_t rows, int64_t cols, const float *dy, int64_t lddy,
                           const float *y, int64_t ldy, const float *norm, float eps, float *dx,
                           int64_t lddx, int threads, l2_bwd_row_fn fn) {
  if (rows < 0 || cols < 1 || lddy < cols || ldy < cols || lddx < cols || !dy || !y || !norm ||
      !dx || !l2_eps_ok(eps)) {
    return DISTAC_EINVAL;
  }
  l2_ctx c = {.cols = cols, .lda = lddy, .ldb = ldy, .ldc = lddx, .a = dy, .b = y,
              .norm_in = norm, .c = dx, .eps = eps, .bwd = fn};
  distac_parallel_for(threads, rows, l2_grain(cols), l2_range, &c);
  return DISTAC_OK;
}

/* The scale of a row: 1/max(n, eps) (NaN stays NaN). */
static inline float l2_inv(float n, float eps) { return (float)(1.0 / (double)(n <= eps ? eps : n)); }

/* The backward's scale: 1/n where n > eps (or NaN), else 1/eps, and whether
 * the projection term is used. */
static inline float l2_bwd_inv(float n, float eps, int *project) {
  *project = !(n <= eps);
  return l2_inv(n, eps);
}

/* ----------------------------------------------------------------- scalar */

static void l2_fwd_row_scalar(int64_t n, const float *x, float eps, float *y, float *norm) {
  double ss = 0;
  for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
  *norm = (float)sqrt(ss);
  float inv = l2_inv(*norm, eps);
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * inv;
}

static void l2_bwd_row_scalar(int64_t n, const float *dy, const float *y, float norm, float eps,
                              float *dx) {
  int project;
  float inv = l2_bwd_inv(norm, eps, &project);
  if (!project) {
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * inv;
    return;
  }
  double dot = 0;
  for (int64_t i = 0; i < n; i++) dot += (double)dy[i] * y[i];
  float t = (float)dot;
  for (int64_t i = 0; i < n; i++) dx[i] = (dy[i] - y[i] * t) * inv;
}

/* -------------------------------------------------------- AVX2, AVX-512 */

#define SIMD_TEMPLATE "l2norm_simd.h"
#include "simd_each.h"

/* ---------------------------------------------------------------- entries */

#define L2_FWD_PARAMS                                                                       \
  (int64_t rows, int64_t cols, const float *x, int64_t ldx, float eps, float *y, int64_t ldy, \
   float *norm, int threads)
#define L2_FWD_ARGS (rows, cols, x, ldx, eps, y, ldy, norm, threads)
#define L2_BWD_PARAMS                                                                      \
  (int64_t rows, int64_t cols, const float *dy, int64_t lddy, const float *y, int64_t ldy, \
   const float *norm, float eps, float *dx, int64_t lddx, int threads)
#define L2_BWD_ARGS (rows, cols, dy, lddy, y, ldy, norm, eps, dx, lddx, threads)

#define L2_FWD_CALL(isa) \
  l2_forward_run(rows, cols, x, ldx, eps, y, ldy, norm, threads, l2_fwd_row_##isa)
DISTAC_DEFINE_OP(l2norm_forward, L2_FWD_PARAMS, L2_FWD_ARGS, L2_FWD_CALL)

#define L2_BWD_CALL(isa) \
  l2_backward_run(rows, cols, dy, lddy, y, ldy, norm, eps, dx, lddx, threads, l2_bwd_row_##isa)
DISTAC_DEFINE_OP(l2norm_backward, L2_BWD_PARAMS, L2_BWD_ARGS, L2_BWD_CALL)
