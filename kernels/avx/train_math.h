/*
 * train_math.h — helpers shared by the training kernels (not part of the
 * ABI): work split, row-block reduction, the GELU constants. Their SIMD
 * code is written once for AVX2 and AVX-512 with simd_map.h and uses the
 * vector exp and erf-GELU tail of simd_math.h.
 */
#ifndef DISTAC_TRAIN_MATH_H
#define DISTAC_TRAIN_MATH_H

#include <math.h>
#include <stdint.h>

#include "distac_train.h"
#include "internal.h"
#include "simd_map.h"

/* For per-vector bodies called with a constant lane count in the main loop
 * (so their tail handling folds away) and once more for the tail. */
#define TRAIN_INLINE static inline __attribute__((always_inline))

/* Items per thread so that each thread gets at least ~32K elements of work
 * (a thread start costs about as much as streaming that much memory). */
static inline int64_t train_grain(int64_t elems_per_item) {
  const int64_t min_elems = 32768;
  if (elems_per_item < 1) elems_per_item = 1;
  return (min_elems + elems_per_item - 1) / elems_per_item;
}

/* Number of DISTAC_TRAIN_ROW_BLOCK-row blocks covering rows. */
static inline int64_t train_row_blocks(int64_t rows) {
  return (rows + DISTAC_TRAIN_ROW_BLOCK - 1) / DISTAC_TRAIN_ROW_BLOCK;
}

/* out[c] += sum_b part[b*stride + c] for b = 0..nb-1, summed in float64 in
 * block order (acc: cols doubles of scratch). The order never depends on how
 * the blocks were spread over threads. */
static inline void train_reduce_blocks(const float *part, int64_t nb, int64_t stride,
                                       int64_t cols, double *acc, float *out) {
  for (int64_t c = 0; c < cols; c++) acc[c] = 0;
  for (int64_t b = 0; b < nb; b++) {
    const float *p = part + b * stride;
    for (int64_t c = 0; c < cols; c++) acc[c] += (double)p[c];
  }
  for (int64_t c = 0; c < cols; c++) out[c] = (float)((double)out[c] + acc[c]);
}

/* The scalar softmax of one row of n (y may equal x): max, exp(x - max)
 * with the sum in double, then y *= 1/sum (softmax.c, attention.c). */
static inline void train_softmax_row_scalar(int64_t n, const float *x, float *y) {
  float m = x[0];
  for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  double s = 0;
  for (int64_t i = 0; i < n; i++) {
    y[i] = expf(x[i] - m);
    s += y[i];
  }
  float inv = (float)(1.0 / s);
  for (int64_t i = 0; i < n; i++) y[i] *= inv;
}

#define TRAIN_INV_SQRT_2PI 0.398942280401432678f /* erf GELU': exp(-x^2/2) / sqrt(2 pi) */

/* QuickGELU: sigmoid(1.702 x) = 1 / (1 + exp(-1.702 x)); the exp argument is
 * capped at 80 so that e * s (= 1 - s) stays finite for very negative x.
 * 1.702 = TRAIN_QGELU_A + TRAIN_QGELU_A_LO to ~1e-16. */
#define TRAIN_QGELU_A 1.702f
#define TRAIN_QGELU_A_LO (-2.19345093e-08f) /* 1.702 - (double)1.702f */
#define TRAIN_QGELU_UMAX 80.0f

#endif
