/*
 * loss_rows.h — the row driver of the loss kernels (kl.c, xent.c), not part
 * of the ABI: a loss that is a sum of per-row values, computed by threads
 * that take blocks of rows from a shared counter and summed in row order
 * afterwards, so the loss has the same bits for any thread count.
 */
#ifndef DISTAC_LOSS_ROWS_H
#define DISTAC_LOSS_ROWS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

/* The shared part of a loss job (the last member of kl_job and xent_job). */
typedef struct {
  double *vals;         /* the value of each row */
  int64_t block;        /* rows a thread takes at a time */
  _Atomic int64_t next; /* the first row no thread has taken */
} loss_rows;

/* Takes the next block [*b, *e) of the *rows rows; 0 when none is left. */
static inline int loss_rows_take(loss_rows *q, const int64_t *rows, int64_t *b, int64_t *e) {
  *b = atomic_fetch_add_explicit(&q->next, q->block, memory_order_relaxed);
  *e = *b + q->block < *rows ? *b + q->block : *rows;
  return *b < *rows;
}

/* for (each row r this thread takes) BODY, for a job j with members rows
 * and q: the loop of a range function. */
#define LOSS_ROWS_FOR(j, r)                                                           \
  for (int64_t loss_b_, loss_e_; loss_rows_take(&(j)->q, &(j)->rows, &loss_b_, &loss_e_);) \
    for (int64_t r = loss_b_; r < loss_e_; r++)

/* Allocates q->vals, runs range(job) as one work item on each of
 * distac_threads_for(threads, rows, grain) threads, each taking blocks of
 * rows until none are left (a thread slowed by a busy core does less of the
 * work; which thread does a row does not change its value), then sums the
 * values in row order into *sum and frees them. */
static inline int loss_rows_run(loss_rows *q, int64_t rows, int threads, int64_t grain,
                                distac_range_fn range, void *job, double *sum) {
  q->vals = (double *)malloc((size_t)rows * sizeof(double));
  if (!q->vals) return DISTAC_ENOMEM;
  int t = distac_threads_for(threads, rows, grain);
  distac_parallel_for(t, t, 1, range, job);
  double s = 0;
  for (int64_t r = 0; r < rows; r++) s += q->vals[r];
  free(q->vals);
  *sum = s;
  return DISTAC_OK;
}

/* The gradient row of a loss kernel's SIMD variant: g[0, n) = VEC(c), the
 * vector at column c (VEC_MASK(c, m) under mask m). With STREAM and g
 * 4-byte aligned: a masked head up to the vector alignment, then
 * non-temporal stores; a masked tail. For kl_simd.h and xent_simd.h (it
 * uses the simd_map.h names). */
#define LOSS_GRAD_ROW(STREAM, g, n, VEC, VEC_MASK)                                          \
  do {                                                                                     \
    int64_t c = 0;                                                                         \
    if ((STREAM) && ((uintptr_t)(g) & 3) == 0) {                                           \
      int64_t head =                                                                       \
          (int64_t)((4 * SIMD_W - ((uintptr_t)(g) & (4 * SIMD_W - 1))) & (4 * SIMD_W - 1)) / 4; \
      if (head > n) head = n;                                                              \
      if (head) {                                                                          \
        VMASK m = vmask_head(head);                                                        \
        vf_store_mask(g, m, VEC_MASK(0, m));                                               \
      }                                                                                    \
      for (c = head; c + SIMD_W <= n; c += SIMD_W) vf_stream(g + c, VEC(c));               \
    }                                                                                      \
    for (; c + SIMD_W <= n; c += SIMD_W) vf_storeu(g + c, VEC(c));                         \
    if (c < n) {                                                                           \
      VMASK m = vmask_head(n - c);                                                         \
      vf_store_mask(g + c, m, VEC_MASK(c, m));                                             \
    }                                                                                      \
  } while (0)

#endif
