/*
 * test_kl.c — distac_kl_distill_* against a float64 reference on every
 * instruction set this CPU runs: shapes around the SIMD widths and the
 * 1024-column chunk, strided rows, temperature pairs, logits up to 1e4, the
 * streaming-store path, thread-count independence, non-finite inputs and
 * argument errors (which must write nothing).
 */
#include "testutil.h"

#define SENTINEL 12345.0f /* written around and between output rows; must survive */

/* Float64 reference: loss and grad (rows x cols, dense) per the header. */
static double ref_kl(int64_t rows, int64_t cols, const float *zt, int64_t ldt, const float *zs,
                     int64_t lds, float tt, float ts, double *grad) {
  double total = 0;
  double *a = malloc(sizeof(double) * (size_t)cols), *b = malloc(sizeof(double) * (size_t)cols);
  for (int64_t r = 0; r < rows; r++) {
    double ma = -INFINITY, mb = -INFINITY, sa = 0, sb = 0, kl = 0;
    for (int64_t c = 0; c < cols; c++) {
      a[c] = (double)zt[r * ldt + c] / tt, b[c] = (double)zs[r * lds + c] / ts;
      ma = fmax(ma, a[c]), mb = fmax(mb, b[c]);
    }
    for (int64_t c = 0; c < cols; c++) sa += exp(a[c] - ma), sb += exp(b[c] - mb);
    double lsa = ma + log(sa), lsb = mb + log(sb);
    for (int64_t c = 0; c < cols; c++) {
      double lp = a[c] - lsa, lq = b[c] - lsb;
      kl += exp(lp) * (lp - lq);
      if (grad) grad[r * cols + c] = (double)tt / (double)rows * (exp(lq) - exp(lp));
    }
    total += kl;
  }
  free(a), free(b);
  return (double)tt * (double)ts / (double)rows * total;
}

typedef struct {
  int64_t rows, cols, ld, ldg;
  float tt, ts, scale;
} kl_case;

/* Runs one case on isa; returns 1 if loss and grad are within 1e-5 relative. */
static int run_case(tu_counts *cnt, distac_isa isa, kl_case k, uint64_t seed, int same) {
  uint64_t s = seed;
  size_t n = (size_t)(k.rows * k.ld), ng = (size_t)(k.rows * k.ldg + 16);
  float *zt = malloc(n * sizeof(float)), *zs = malloc(n * sizeof(float));
  float *g = malloc(ng * sizeof(float));
  double *want = malloc((size_t)(k.rows * k.cols) * sizeof(double));
  float *got = malloc((size_t)(k.rows * k.cols) * sizeof(float));
  tu_fill(&s, zt, (int64_t)n, k.scale);
  if (same) memcpy(zs, zt, n * sizeof(float));
  else tu_fill(&s, zs, (int64_t)n, k.scale);
  for (size_t i = 0; i < ng; i++) g[i] = SENTINEL;
  float *g0 = g + 3; /* an unaligned start */
  double wl = ref_kl(k.rows, k.cols, zt, k.ld, zs, k.ld, k.tt, k.ts, want), loss = NAN, loss2 = NAN;
  int rc = distac_kl_distill_isa(isa, k.rows, k.cols, zt, k.ld, zs, k.ld, k.tt, k.ts, &loss, g0,
                                 k.ldg, 0);
  int rc2 = distac_kl_distill_isa(isa, k.rows, k.cols, zt, k.ld, zs, k.ld, k.tt, k.ts, &loss2,
                                  NULL, 0, 1);
  int guards = tu_gather_guarded(g, ng, 3, k.rows, k.cols, k.ldg, SENTINEL, got);
  double gerr = tu_rel_err(got, want, k.rows * k.cols);
  /* Relative 1e-5, plus an absolute floor: for nearby distributions the KL is
   * a difference of O(1) float32 terms, so any float32 kernel is off by ~1e-7
   * per unit of KL (the loss carries a factor Tt*Ts). */
  double lerr = fabs(loss - wl) / (fabs(wl) + 0.1 * k.tt * k.ts);
  int ok = rc == 0 && rc2 == 0 && guards && lerr <= 1e-5 && gerr <= 1e-5 &&
           loss == loss2; /* loss-only and one thread give the same bits */
  char what[96];
  snprintf(what, sizeof what, "%s%lldx%lld ld%lld T(%g,%g) x%g", same ? "same " : "",
           (long long)k.rows, (long long)k.cols, (long long)k.ld, k.tt, k.ts, k.scale);
  tu_check(cnt, ok, distac_isa_name(isa), what, fmax(lerr, gerr));
  free(zt), free(zs), free(g), free(want), free(got);
  return ok;
}

/* NaN, +Inf or -Inf anywhere in either matrix makes the loss NaN. */
static void check_nonfinite(tu_counts *cnt, distac_isa isa) {
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  const int64_t rows = 3, cols = 1100; /* two chunks, the second a short one */
  const int64_t where[4] = {0, 17, 1030, 1099};
  float *zt = malloc(sizeof(float) * rows * cols), *zs = malloc(sizeof(float) * rows * cols);
  float *g = malloc(sizeof(float) * rows * cols);
  int ok = 1;
  for (int m = 0; m < 2; m++)
    for (int b = 0; b < 3; b++)
      for (int w = 0; w < 4; w++) {
        uint64_t s = 7;
        tu_fill(&s, zt, rows * cols, 3), tu_fill(&s, zs, rows * cols, 3);
        (m ? zs : zt)[cols + where[w]] = bad[b];
        double loss = 0;
        int rc =
            distac_kl_distill_isa(isa, rows, cols, zt, cols, zs, cols, 2, 3, &loss, g, cols, 0);
        ok &= rc == 0 && isnan(loss);
      }
  tu_check(cnt, ok, distac_isa_name(isa), "NaN/+Inf/-Inf in zt or zs -> NaN loss", 0);
  free(zt), free(zs), free(g);
}

/* Bad arguments return EINVAL and write neither loss nor grad. */
static void check_einval(tu_counts *cnt, distac_isa isa) {
  float zt[12] = {0}, zs[12] = {0}, g[12];
  for (int i = 0; i < 12; i++) g[i] = SENTINEL;
  double loss = 7;
  int ok = 1;
#define KL_BAD(...) ok &= distac_kl_distill_isa(isa, __VA_ARGS__, 0) == DISTAC_EINVAL
  KL_BAD(3, 4, zt, 4, zs, 4, 0.0f, 1.0f, &loss, g, 4);
  KL_BAD(3, 4, zt, 4, zs, 4, 1.0f, -1.0f, &loss, g, 4);
  KL_BAD(3, 4, zt, 4, zs, 4, NAN, 1.0f, &loss, g, 4);
  KL_BAD(3, 4, zt, 4, zs, 4, 1.0f, INFINITY, &loss, g, 4);
  KL_BAD(0, 4, zt, 4, zs, 4, 1.0f, 1.0f, &loss, g, 4);
  KL_BAD(3, 0, zt, 4, zs, 4, 1.0f, 1.0f, &loss, g, 4);
  KL_BAD(3, 4, zt, 3, zs, 4, 1.0f, 1.0f, &loss, g, 4);
  KL_BAD(3, 4, zt, 4, zs, 3, 1.0f, 1.0f, &loss, g, 4);
  KL_BAD(3, 4, zt, 4, zs, 4, 1.0f, 1.0f, &loss, g, 3);
  KL_BAD(3, 4, NULL, 4, zs, 4, 1.0f, 1.0f, &loss, g, 4);
  KL_BAD(3, 4, zt, 4, NULL, 4, 1.0f, 1.0f, &loss, g, 4);
  KL_BAD(3, 4, zt, 4, zs, 4, 1.0f, 1.0f, NULL, g, 4);
#undef KL_BAD
  ok &= tu_all_equal(g, 12, SENTINEL) && loss == 7;
  tu_check(cnt, ok, distac_isa_name(isa), "invalid arguments -> EINVAL, no writes", 0);
}

static void test_isa(tu_counts *cnt, distac_isa isa) {
  const kl_case cases[] = {
      {1, 1, 1, 1, 1, 1, 1},           {1, 2, 2, 2, 10, 10, 5},
      {3, 7, 7, 9, 2.5f, 0.7f, 4},     {17, 10, 13, 11, 1, 10, 8},
      {5, 1023, 1023, 1030, 1, 1, 6},  {4, 1024, 1030, 1024, 10, 10, 20},
      {3, 1025, 1025, 1027, 1, 10, 3}, {64, 1000, 1000, 1000, 2.5f, 0.7f, 10},
      {2, 32000, 32005, 32001, 1, 10, 10}, {17, 10, 10, 10, 1, 1, 1e4f},
      {9, 3001, 3001, 3005, 2.5f, 0.7f, 1e4f},
      {80, 16411, 16411, 16413, 10, 10, 5}, /* > 4 MiB of grad: NT stores */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) run_case(cnt, isa, cases[c], 11 + c, 0);
  run_case(cnt, isa, (kl_case){6, 2049, 2049, 2049, 10, 10, 30}, 3, 1);
  run_case(cnt, isa, (kl_case){6, 77, 80, 77, 1, 1, 1e4f}, 4, 1);
  check_nonfinite(cnt, isa);
  check_einval(cnt, isa);
}

TU_MAIN_EACH_ISA(test_isa)
