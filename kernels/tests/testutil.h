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

/* fn(c, isa) for each instruction set of TU_ISAS that this CPU runs; the
 * others are counted and printed as skipped. */
typedef void (*tu_isa_fn)(tu_counts *c, distac_isa isa);
static inline void tu_each_isa(tu_counts *c, tu_isa_fn fn) {
  const distac_isa isas[] = TU_ISAS;
  for (int k = 0; k < 3; k++)
    if (tu_isa_runs(c, isas[k])) fn(c, isas[k]);
}

/* The main() of a test program whose checks all run per instruction set. */
#define TU_MAIN_EACH_ISA(fn)   \
  int main(void) {             \
    tu_counts c = {0, 0, 0};   \
    tu_each_isa(&c, fn);       \
    return tu_finish(&c);      \
  }

/* 1 if the n floats at p all still hold v (outputs an error left alone). */
static inline int tu_all_equal(const float *p, int64_t n, float v) {
  int ok = 1;
  for (int64_t i = 0; i < n; i++) ok &= p[i] == v;
  return ok;
}

/* Task-vector-like data: small values, exact zeros, ties at +-0.005 (the
 * merge tests' threshold) and, with specials, a few NaNs and Infs. */
static inline void tu_fill_taskvec(uint64_t *s, float *x, int64_t n, int specials) {
  tu_fill(s, x, n, 0.01f);
  for (int64_t i = 0; i < n; i++) {
    uint64_t r = tu_next(s) % 64;
    if (r == 0) x[i] = 0.0f;
    else if (r == 1) x[i] = -0.0f;
    else if (r == 2) x[i] = 0.005f;
    else if (r == 3) x[i] = -0.005f;
    else if (specials && r == 4) x[i] = NAN;
    else if (specials && r == 5) x[i] = (tu_next(s) & 1) ? INFINITY : -INFINITY;
  }
}

/* Copies the rows x cols matrix at buf + off (leading dimension ld) into
 * dense; 1 if every other element of buf[0, n) (before off, in the gaps
 * between rows, after the last row) still holds sentinel. */
static inline int tu_gather_guarded(const float *buf, size_t n, size_t off, int64_t rows,
                                    int64_t cols, int64_t ld, float sentinel, float *dense) {
  const float *m = buf + off;
  int ok = 1;
  for (int64_t r = 0; r < rows; r++) {
    memcpy(dense + r * cols, m + r * ld, (size_t)cols * sizeof(float));
    for (int64_t c = cols; c < ld && r + 1 < rows; c++) ok &= m[r * ld + c] == sentinel;
  }
  for (size_t i = 0; i < off; i++) ok &= buf[i] == sentinel;
  for (size_t i = off + (size_t)((rows - 1) * ld + cols); i < n; i++) ok &= buf[i] == sentinel;
  return ok;
}

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
