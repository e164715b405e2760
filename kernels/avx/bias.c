/*
 * bias.c — bias add and bias gradient over rows (distac_train.h).
 * The gradient sums each DISTAC_TRAIN_ROW_BLOCK-row block into its own fp32
 * partial row, then adds the partials in float64 in block order, so db has
 * the same bits however the blocks were spread over threads.
 */
#include <stdlib.h>

#include "train_math.h"

/* y[c] += b[c] for one row; the gradient calls it with y = its block's partial
 * row and b = a row of dy. */
typedef void (*bias_row_fn)(int64_t n, float *y, const float *b);

typedef struct {
  int64_t rows, cols, ld;
  float *y;            /* add: the matrix; grad: unused */
  const float *b, *dy; /* add: the bias; grad: the matrix */
  float *part;         /* grad: one partial row per block */
  bias_row_fn row;
} bias_ctx;

static void bias_add_range(void *p, int64_t r0, int64_t r1) {
  const bias_ctx *c = (const bias_ctx *)p;
  for (int64_t r = r0; r < r1; r++) c->row(c->cols, c->y + r * c->ld, c->b);
}

static void bias_grad_range(void *p, int64_t b0, int64_t b1) {
  const bias_ctx *c = (const bias_ctx *)p;
  for (int64_t b = b0; b < b1; b++) {
    float *acc = c->part + b * c->cols;
    for (int64_t j = 0; j < c->cols; j++) acc[j] = 0;
    int64_t r1 = (b + 1) * DISTAC_TRAIN_ROW_BLOCK;
    if (r1 > c->rows) r1 = c->rows;
    for (int64_t r = b * DISTAC_TRAIN_ROW_BLOCK; r < r1; r++) {
      c->row(c->cols, acc, c->dy + r * c->ld);
    }
  }
}

static int bias_args_ok(int64_t rows, int64_t cols, int64_t ld, const void *m, const void *v) {
  return rows >= 0 && cols >= 0 && ld >= (cols > 1 ? cols : 1) && m && v;
}

static int bias_add_run(int64_t rows, int64_t cols, float *y, int64_t ldy, const float *b,
                        int threads, bias_row_fn row) {
  if (!bias_args_ok(rows, cols, ldy, y, b)) return DISTAC_EINVAL;
  if (cols == 0) return DISTAC_OK;
  bias_ctx c = {rows, cols, ldy, y, b, NULL, NULL, row};
  distac_parallel_for(threads, rows, train_grain(cols), bias_add_range, &c);
  return DISTAC_OK;
}

static int bias_grad_run(int64_t rows, int64_t cols, const float *dy, int64_t lddy, float *db,
                         int threads, bias_row_fn row) {
  if (!bias_args_ok(rows, cols, lddy, dy, db)) return DISTAC_EINVAL;
  int64_t nb = train_row_blocks(rows);
  if (cols == 0 || nb == 0) return DISTAC_OK;
  float *part = (float *)malloc((size_t)(nb * cols) * sizeof(float));
  double *acc = (double *)malloc((size_t)cols * sizeof(double));
  if (!part || !acc) {
    free(part), free(acc);
    return DISTAC_ENOMEM;
  }
  bias_ctx c = {rows, cols, lddy, NULL, NULL, dy, part, row};
  distac_parallel_for(threads, nb, train_grain(DISTAC_TRAIN_ROW_BLOCK * cols), bias_grad_range, &c);
  train_reduce_blocks(part, nb, cols, cols, acc, db);
  free(part), free(acc);
  return DISTAC_OK;
}

/* ----------------------------------------------------------------- scalar */

static void bias_row_scalar(int64_t n, float *y, const float *b) {
  for (int64_t i = 0; i < n; i++) y[i] += b[i];
}

/* -------------------------------------------------------- AVX2, AVX-512 */

#define SIMD_TEMPLATE "bias_simd.h"
#include "simd_each.h"

/* ---------------------------------------------------------------- entries */

#define BIAS_ADD_PARAMS \
  (int64_t rows, int64_t cols, float *y, int64_t ldy, const float *b, int threads)
#define BIAS_ADD_ARGS (rows, cols, y, ldy, b, threads)
#define BIAS_GRAD_PARAMS \
  (int64_t rows, int64_t cols, const float *dy, int64_t lddy, float *db, int threads)
#define BIAS_GRAD_ARGS (rows, cols, dy, lddy, db, threads)

#define BIAS_ADD_CALL(isa) bias_add_run(rows, cols, y, ldy, b, threads, bias_row_##isa)
DISTAC_DEFINE_OP(bias_add, BIAS_ADD_PARAMS, BIAS_ADD_ARGS, BIAS_ADD_CALL)

/* The gradient is a row add too: each dy row is added into its block's partial. */
#define BIAS_GRAD_CALL(isa) bias_grad_run(rows, cols, dy, lddy, db, threads, bias_row_##isa)
DISTAC_DEFINE_OP(bias_grad, BIAS_GRAD_PARAMS, BIAS_GRAD_ARGS, BIAS_GRAD_CALL)
