/*
 * softmax.c — row softmax forward and backward (distac_train.h).
 * Forward: three passes over a row that lives in L1: max, exp(x - max) into y
 * with its sum, then y *= 1/sum. Subtracting the max keeps every exp <= 1,
 * and the sum of positive terms has no cancellation.
 * Backward: dx = y * (dy - <dy, y>), two passes.
 */
#include <math.h>

#include "train_math.h"

typedef void (*sm_fwd_row_fn)(int64_t n, const float *x, float *y);
typedef void (*sm_bwd_row_fn)(int64_t n, const float *y, const float *dy, float *dx);

typedef struct {
  int64_t cols, lda, ldb, ldc;
  const float *a, *b; /* forward: x; backward: y, dy */
  float *c;           /* forward: y; backward: dx */
  sm_fwd_row_fn fwd;
  sm_bwd_row_fn bwd;
} sm_ctx;

static void sm_range(void *p, int64_t r0, int64_t r1) {
  const sm_ctx *c = (const sm_ctx *)p;
  for (int64_t r = r0; r < r1; r++) {
    if (c->fwd) c->fwd(c->cols, c->a + r * c->lda, c->c + r * c->ldc);
    else c->bwd(c->cols, c->a + r * c->lda, c->b + r * c->ldb, c->c + r * c->ldc);
  }
}

static int sm_forward_run(int64_t rows, int64_t cols, const float *x, int64_t ldx, float *y,
                          int64_t ldy, int threads, sm_fwd_row_fn fn) {
  if (rows < 0 || cols < 1 || ldx < cols || ldy < cols || !x || !y) return DISTAC_EINVAL;
  sm_ctx c = {cols, ldx, 0, ldy, x, NULL, y, fn, NULL};
  distac_parallel_for(threads, rows, train_grain(cols), sm_range, &c);
  return DISTAC_OK;
}

static int sm_backward_run(int64_t rows, int64_t cols, const float *y, int64_t ldy,
                           const float *dy, int64_t lddy, float *dx, int64_t lddx, int threads,
                           sm_bwd_row_fn fn) {
  if (rows < 0 || cols < 1 || ldy < cols || lddy < cols || lddx < cols || !y || !dy || !dx) {
    return DISTAC_EINVAL;
  }
  sm_ctx c = {cols, ldy, lddy, lddx, y, dy, dx, NULL, fn};
  distac_parallel_for(threads, rows, train_grain(cols), sm_range, &c);
  return DISTAC_OK;
}

/* ----------------------------------------------------------------- scalar */

static void sm_fwd_row_scalar(int64_t n, const float *x, float *y) {
  train_softmax_row_scalar(n, x, y);
}

static void sm_bwd_row_scalar(int64_t n, const float *y, const float *dy, float *dx) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)dy[i] * y[i];
  float sf = (float)s;
  for (int64_t i = 0; i < n; i++) dx[i] = y[i] * (dy[i] - sf);
}

/* -------------------------------------------------------- AVX2, AVX-512 */

#define SIMD_TEMPLATE "softmax_simd.h"
#include "simd_each.h"

/* ---------------------------------------------------------------- entries */

#define SM_FWD_PARAMS \
  (int64_t rows, int64_t cols, const float *x, int64_t ldx, float *y, int64_t ldy, int threads)
#define SM_FWD_ARGS (rows, cols, x, ldx, y, ldy, threads)
#define SM_BWD_PARAMS                                                                     \
  (int64_t rows, int64_t cols, const float *y, int64_t ldy, const float *dy, int64_t lddy, \
   float *dx, int64_t lddx, int threads)
#define SM_BWD_ARGS (rows, cols, y, ldy, dy, lddy, dx, lddx, threads)

#define SM_FWD_CALL(isa) sm_forward_run(rows, cols, x, ldx, y, ldy, threads, sm_fwd_row_##isa)
DISTAC_DEFINE_OP(softmax_forward, SM_FWD_PARAMS, SM_FWD_ARGS, SM_FWD_CALL)

#define SM_BWD_CALL(isa) \
  sm_backward_run(rows, cols, y, ldy, dy, lddy, dx, lddx, threads, sm_bwd_row_##isa)
DISTAC_DEFINE_OP(softmax_backward, SM_BWD_PARAMS, SM_BWD_ARGS, SM_BWD_CALL)
