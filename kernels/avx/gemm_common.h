/*
 * gemm_common.h — what gemm.c (fp32) and gemm_bf16.c (bf16 operands) share:
 * the problem and its checks, C's scaling and edge stores, the threading
 * grain and tile splits, and the entry points' parameter lists.
 */
#ifndef DISTAC_GEMM_COMMON_H
#define DISTAC_GEMM_COMMON_H

#include <sched.h>
#include <string.h>

#include "simd_map.h" /* internal.h; the x86 intrinsics on x86 */

typedef struct {
  int trans_a, trans_b;
  int64_t m, n, k;
  float alpha, beta;
  const float *a, *b;
  float *c;
  int64_t lda, ldb, ldc;
} gemm_problem;

static inline int64_t gemm_max1(int64_t x) { return x > 1 ? x : 1; }
static inline int64_t gemm_min(int64_t x, int64_t y) { return x < y ? x : y; }
static inline int64_t gemm_round_up(int64_t x, int64_t unit) { return (x + unit - 1) / unit * unit; }
static inline int64_t gemm_ceil_div(int64_t x, int64_t y) { return (x + y - 1) / y; }

/* 1 when A and B are read: there is output and a non-empty, non-zero product. */
static inline int gemm_reads_ab(const gemm_problem *g) {
  return g->m > 0 && g->n > 0 && g->k > 0 && g->alpha != 0.0f;
}

static inline int gemm_check(const gemm_problem *g) {
  if (g->m < 0 || g->n < 0 || g->k < 0) return DISTAC_EINVAL;
  if (g->lda < gemm_max1(g->trans_a ? g->m : g->k)) return DISTAC_EINVAL;
  if (g->ldb < gemm_max1(g->trans_b ? g->k : g->n)) return DISTAC_EINVAL;
  if (g->ldc < gemm_max1(g->n)) return DISTAC_EINVAL;
  if (g->m > 0 && g->n > 0 && !g->c) return DISTAC_EINVAL;
  if (gemm_reads_ab(g) && (!g->a || !g->b)) return DISTAC_EINVAL;
  return DISTAC_OK;
}

/* C = beta * C over rows [i0, i1), columns [j0, j1); beta == 0 writes zeros. */
static inline void gemm_scale_c(const gemm_problem *g, int64_t i0, int64_t i1, int64_t j0,
                                int64_t j1) {
  for (int64_t i = i0; i < i1; i++) {
    float *c = g->c + i * g->ldc;
    if (g->beta == 0.0f)
      memset(c + j0, 0, (size_t)(j1 - j0) * sizeof(float));
    else if (g->beta != 1.0f)
      for (int64_t j = j0; j < j1; j++) c[j] *= g->beta;
  }
}

/* Stores an edge tile computed into `t` (MR x NR, alpha = 1, beta = 0). */
static inline void gemm_store_edge(const gemm_problem *g, const float *t, int nr, float beta,
                                   int64_t i0, int64_t rows, int64_t j0, int64_t cols) {
  for (int64_t r = 0; r < rows; r++) {
    float *c = g->c + (i0 + r) * g->ldc + j0;
    for (int64_t j = 0; j < cols; j++)
      c[j] = beta == 0.0f ? g->alpha * t[r * nr + j] : g->alpha * t[r * nr + j] + beta * c[j];
  }
}

/* Multiply-adds below which a GEMM stays on one thread: starting a thread
 * costs tens of microseconds, about 4M multiply-adds on one core. */
#define GEMM_MT_GRAIN ((int64_t)1 << 22)

/* m*n*k clamped to int64 (the product of three sizes may overflow). */
static inline int64_t gemm_macs(const gemm_problem *g) {
  double macs = (double)g->m * (double)g->n * (double)g->k;
  return macs > 1e18 ? (int64_t)1e18 : (int64_t)macs;
}

/* Threads for a checked problem with k > 0 and alpha != 0. */
static inline int gemm_threads(const gemm_problem *g, int threads) {
  return distac_threads_for(threads, gemm_macs(g), GEMM_MT_GRAIN);
}

/* Start of part idx of parts when [0, total) is cut at multiples of unit
 * into parts that differ by at most one unit. */
static inline int64_t gemm_split(int64_t total, int64_t parts, int64_t unit, int64_t idx) {
  return gemm_min(total, gemm_ceil_div(total, unit) * idx / parts * unit);
}

#if DISTAC_HAVE_X86
/* Waits politely for another thread's packing: spin briefly (the packer is
 * usually mid-panel), then hand the core over in case it was preempted. */
static inline void gemm_backoff(int64_t *spins) {
  if (++*spins < 1000)
    _mm_pause();
  else
    sched_yield();
}
#endif

#define GEMM_PARAMS                                                                         \
  (int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, \
   int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int threads)
#define GEMM_ARGS (trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads)
#define GEMM_BATCHED_PARAMS                                                                   \
  (int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, int64_t batch, float alpha,    \
   const float *a, int64_t lda, int64_t stride_a, const float *b, int64_t ldb,               \
   int64_t stride_b, float beta, float *c, int64_t ldc, int64_t stride_c, int threads)
#define GEMM_BATCHED_ARGS                                                                  \
  (trans_a, trans_b, m, n, k, batch, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc, \
   stride_c, threads)
#define GEMM_PROBLEM                                                                \
  {.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k, .alpha = alpha, \
   .beta = beta, .a = a, .b = b, .c = c, .lda = lda, .ldb = ldb, .ldc = ldc}

#endif
