/*
 * testutil.h — helpers for the kernel test programs under ctest.
 * Each test_<family>.c is one program: it checks every instruction set this
 * CPU runs against a float64 reference, prints one line per check and a
 * closing "N passed, N failed, N skipped" line, and exits non-zero on failure.
 */
#ifndef DISTAC_TESTUTIL_H
#define DISTAC_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distac_kernels.h"

typedef struct {
  int passed, failed, skipped;
} tu_counts;

/* xorshift64*: deterministic, no global state. */
static inline uint64_t tu_next(uint64_t *s) {
  *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DULL;
}
/* uniform in [-scale, scale) */
static inline float tu_uniform(uint64_t *s, float scale) {
  return ((float)(tu_next(s) >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * scale;
}
static inline void tu_fill(uint64_t *s, float *x, int64_t n, float scale) {
  for (int64_t i = 0; i < n; i++) x[i] = tu_uniform(s, scale);
}

/* ||got - want|| / ||want||; +INFINITY if got has a non-finite value. */
static inline double tu_rel_err(const float *got, const double *want, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(got[i])) return INFINITY;
    double d = (double)got[i] - want[i];
    num += d * d, den += want[i] * want[i];
  }
  return den == 0 ? sqrt(num) : sqrt(num / den);
}

/* Records one check. */
static inline void tu_check(tu_counts *c, int ok, const char *isa, const char *what, double err) {
  if (ok) c->passed++;
  else c->failed++;
  printf("%-4s %-7s %-40s err=%.3g\n", ok ? "ok" : "FAIL", isa, what, err);
}

static inline int tu_isa_runs(tu_counts *c, distac_isa isa) {
  if (distac_isa_supported(isa)) return 1;
  c->skipped++;
  printf("skip %-7s not supported by this CPU/OS\n", distac_isa_name(isa));
  return 0;
}

static inline int tu_finish(const tu_counts *c) {
  printf("%d passed, %d failed, %d skipped\n", c->passed, c->failed, c->skipped);
  return c->failed ? 1 : 0;
}

#define TU_ISAS {DISTAC_ISA_SCALAR, DISTAC_ISA_AVX2, DISTAC_ISA_AVX512}

/* Matrices of the training-op tests: every rows x cols matrix has ld > cols
 * and TU_SENTINEL in the gaps between rows, which must survive. */
#define TU_SENTINEL (-12345.0f)

/* At least one element, so n == 0 still gives a pointer to free. */
static inline float *tu_alloc_f(int64_t n) { return (float *)malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }
static inline double *tu_alloc_d(int64_t n) { return (double *)calloc((size_t)(n > 0 ? n : 1), sizeof(double)); }

/* 1 if every gap element (columns cols..ld-1 of each row) still holds TU_SENTINEL. */
static inline int tu_gaps_intact(const float *m, int64_t rows, int64_t cols, int64_t ld) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = cols; c < ld; c++)
      if (m[r * ld + c] != TU_SENTINEL) return 0;
  return 1;
}

/* ||got - want|| / ||scale|| over a strided matrix against dense float64
 * want and scale (scale NULL: want; scale holds the size of the terms that
 * make up each value, where they may cancel). Non-finite got gives INFINITY. */
static inline double tu_mat_err(const float *got, int64_t ld, const double *want, const double *scale,
                                int64_t rows, int64_t cols) {
  double num = 0, den = 0;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      float g = got[r * ld + c];
      if (!isfinite(g)) return INFINITY;
      double d = g - want[r * cols + c], w = scale ? scale[r * cols + c] : want[r * cols + c];
      num += d * d, den += w * w;
    }
  return den == 0 ? sqrt(num) : sqrt(num / den);
}

#endif
