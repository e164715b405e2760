/*
 * attention.h — the row kernels of the attention core (attention.c), shared
 * by its per-ISA files; not part of the ABI. attention.c holds the driver,
 * the scalar reference and the entry points; attention_avx2.c and
 * attention_avx512.c each define one table of the same four kernels, from
 * the one template attention_simd.h.
 */
#ifndef DISTAC_ATTENTION_H
#define DISTAC_ATTENTION_H

#include "train_math.h"

#define ATT_RB 4 /* rows per wsum block */
/* Loops over a block's rows, vectors or register groups are unrolled fully,
 * so their accumulator arrays live in registers (GCC otherwise keeps them in
 * memory and stores every accumulator on every iteration). */
#define ATT_UNROLL _Pragma("GCC unroll 16")

/* The four row kernels of one ISA (see attention.c):
 *   dots:     s[j] = alpha * <q, X_j>, X_j = x + j*ldx, j < n
 *   softmax:  each of nr <= 4 rows of n (stride n) in place
 *   dsoftmax: ds = alpha * p * (ds - <ds, p>) per row, nr rows of n
 *   wsum:     o + r*ldo = sum_k w[r*wsr + k*wsk] * (x + k*ldx), r < nr <= 4,
 *             dh columns */
typedef struct {
  void (*dots)(int64_t n, int64_t dh, float alpha, const float *q, const float *x, int64_t ldx,
               float *s);
  void (*softmax)(int64_t nr, int64_t n, float *p);
  void (*dsoftmax)(int64_t nr, int64_t n, float alpha, const float *p, float *ds);
  void (*wsum)(int64_t nr, int64_t n, int64_t dh, const float *w, int64_t wsr, int64_t wsk,
               const float *x, int64_t ldx, float *o, int64_t ldo);
} att_kernels;

extern const att_kernels distac_att_avx2, distac_att_avx512;

/* Calls BODY(NR, ...) with a constant NR = nr in 1..4. */
#define ATT_ROWS(BODY, nr, ...)             \
  switch (nr) {                             \
    case 1: BODY(1, __VA_ARGS__); break;    \
    case 2: BODY(2, __VA_ARGS__); break;    \
    case 3: BODY(3, __VA_ARGS__); break;    \
    default: BODY(4, __VA_ARGS__); break;   \
  }

/* Inside a wsum, for its nr rows and the NV vectors of columns from c:
 * ATT_WSUM_BLOCK(NR, NV, ...) (the ISA's block function, #defined by the
 * includer) with both constant. */
#define ATT_WSUM_NR(NR, NV) ATT_WSUM_BLOCK(NR, NV, rem, n, w, wsr, wsk, x + c, ldx, o + c, ldo)
#define ATT_WSUM_SWITCH(NV)                \
  switch (nr) {                            \
    case 1: ATT_WSUM_NR(1, NV); break;     \
    case 2: ATT_WSUM_NR(2, NV); break;     \
    case 3: ATT_WSUM_NR(3, NV); break;     \
    default: ATT_WSUM_NR(4, NV); break;    \
  }

#endif
