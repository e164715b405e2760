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

#endif
