/*
 * test_xent.c — distac_xent_ls_* against a float64 reference on every
 * instruction set this CPU runs: shapes around the SIMD widths and the
 * 2048-column chunk, strided rows, eps in {0, 0.1, 1}, logits up to 1e4, the
 * streaming-store path, thread-count independence, non-finite logits and
 * argument errors (bad labels included), which must write nothing.
 */
#include "testutil.h"

#define SENTINEL 12345.0f /* written around and between output rows; must survive */

/* Float64 reference: loss and grad (rows x cols, dense) per the header. */
static double ref_xent(int64_t rows, int64_t cols, const float *z, int64_t ld,
                       const int32_t *labels, float eps, double *grad) {
  double total = 0;
  for (int64_t r = 0; r < rows; r++) {
    const float *x = z + r * ld;
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < cols; c++) m = fmax(m, x[c]);
    for (int64_t c = 0; c < cols; c++) s += exp(x[c] - m);
    double lse = m + log(s);
    for (int64_t c = 0; c < cols; c++) {
      double y = (c == labels[r] ? 1.0 - eps : 0.0) + (double)eps / (double)cols;
      total -= y * (x[c] - lse);
      if (grad) grad[r * cols + c] = (exp(x[c] - lse) - y) / (double)rows;
    }
  }
  return total / (double)rows;
}

typedef struct {
  int64_t rows, cols, ld, ldg;
  float eps, scale;
} xent_case;

static void run_case(tu_counts *cnt, distac_isa isa, xent_case k, uint64_t seed) {
  uint64_t s = seed;
  size_t n = (size_t)(k.rows * k.ld), ng = (size_t)(k.rows * k.ldg + 16);
  float *z = malloc(n * sizeof(float)), *g = malloc(ng * sizeof(float));
  int32_t *labels = malloc((size_t)k.rows * sizeof(int32_t));
  double *want = malloc((size_t)(k.rows * k.cols) * sizeof(double));
  float *got = malloc((size_t)(k.rows * k.cols) * sizeof(float));
  tu_fill(&s, z, (int64_t)n, k.scale);
  for (int64_t r = 0; r < k.rows; r++) labels[r] = (int32_t)(tu_next(&s) % (uint64_t)k.cols);
  if (k.rows > 1) labels[1] = (int32_t)(k.cols - 1); /* the last column, in a tail */
  for (size_t i = 0; i < ng; i++) g[i] = SENTINEL;
  float *g0 = g + 5; /* an unaligned start */
  double wl = ref_xent(k.rows, k.cols, z, k.ld, labels, k.eps, want), loss = NAN, loss2 = NAN;
  int rc = distac_xent_ls_isa(isa, k.rows, k.cols, z, k.ld, labels, k.eps, &loss, g0, k.ldg, 0);
  int rc2 = distac_xent_ls_isa(isa, k.rows, k.cols, z, k.ld, labels, k.eps, &loss2, NULL, 0, 1);
  int guards = tu_gather_guarded(g, ng, 5, k.rows, k.cols, k.ldg, SENTINEL, got);
  double gerr = tu_rel_err(got, want, k.rows * k.cols);
  double lerr = fabs(loss - wl) / fmax(fabs(wl), 1e-3);
  int ok = rc == 0 && rc2 == 0 && guards && lerr <= 1e-5 && gerr <= 1e-5 && loss == loss2;
  char what[96];
  snprintf(what, sizeof what, "%lldx%lld ld%lld eps%g x%g", (long long)k.rows, (long long)k.cols,
           (long long)k.ld, k.eps, k.scale);
  tu_check(cnt, ok, distac_isa_name(isa), what, fmax(lerr, gerr));
  free(z), free(g), free(labels), free(want), free(got);
}

static void check_nonfinite(tu_counts *cnt, distac_isa isa) {
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  const int64_t rows = 3, cols = 2100, where[4] = {0, 9, 2050, 2099};
  float *z = malloc(sizeof(float) * rows * cols), *g = malloc(sizeof(float) * rows * cols);
  int32_t labels[3] = {0, 5, 2099};
  int ok = 1;
  for (int e = 0; e < 2; e++)
    for (int b = 0; b < 3; b++)
      for (int w = 0; w < 4; w++) {
        uint64_t s = 9;
        tu_fill(&s, z, rows * cols, 3);
        z[cols + where[w]] = bad[b];
        double loss = 0;
        float eps = e ? 0.1f : 0.0f;
        int rc = distac_xent_ls_isa(isa, rows, cols, z, cols, labels, eps, &loss, g, cols, 0);
        ok &= rc == 0 && isnan(loss);
      }
  tu_check(cnt, ok, distac_isa_name(isa), "NaN/+Inf/-Inf logits -> NaN loss", 0);
  free(z), free(g);
}

static void check_einval(tu_counts *cnt, distac_isa isa) {
  float z[12] = {0}, g[12];
  int32_t good[3] = {0, 1, 3}, neg[3] = {0, -1, 2}, big[3] = {0, 4, 1};
  for (int i = 0; i < 12; i++) g[i] = SENTINEL;
  double loss = 7;
  int ok = 1;
#define XENT_BAD(...) ok &= distac_xent_ls_isa(isa, __VA_ARGS__, 0) == DISTAC_EINVAL
  XENT_BAD(3, 4, z, 4, neg, 0.1f, &loss, g, 4);
  XENT_BAD(3, 4, z, 4, big, 0.1f, &loss, g, 4);
  XENT_BAD(3, 4, z, 4, good, -0.1f, &loss, g, 4);
  XENT_BAD(3, 4, z, 4, good, 1.5f, &loss, g, 4);
  XENT_BAD(3, 4, z, 4, good, NAN, &loss, g, 4);
  XENT_BAD(0, 4, z, 4, good, 0.1f, &loss, g, 4);
  XENT_BAD(3, 0, z, 4, good, 0.1f, &loss, g, 4);
  XENT_BAD(3, 4, z, 3, good, 0.1f, &loss, g, 4);
  XENT_BAD(3, 4, z, 4, good, 0.1f, &loss, g, 3);
  XENT_BAD(3, 4, NULL, 4, good, 0.1f, &loss, g, 4);
  XENT_BAD(3, 4, z, 4, NULL, 0.1f, &loss, g, 4);
  XENT_BAD(3, 4, z, 4, good, 0.1f, NULL, g, 4);
#undef XENT_BAD
  ok &= tu_all_equal(g, 12, SENTINEL) && loss == 7;
  tu_check(cnt, ok, distac_isa_name(isa), "invalid arguments -> EINVAL, no writes", 0);
}

static void test_isa(tu_counts *cnt, distac_isa isa) {
  const xent_case cases[] = {
      {1, 1, 1, 1, 0.1f, 1},          {1, 2, 2, 2, 0, 5},
      {3, 7, 7, 9, 0.1f, 4},          {17, 10, 13, 11, 1, 8},
      {5, 2047, 2047, 2050, 0.1f, 6}, {4, 2048, 2052, 2048, 0, 20},
      {3, 2049, 2049, 2051, 0.1f, 3}, {64, 1000, 1000, 1000, 0.1f, 10},
      {2, 32000, 32005, 32001, 0.1f, 10}, {17, 10, 10, 10, 0.1f, 1e4f},
      {9, 3001, 3001, 3005, 0, 1e4f},
      {80, 16411, 16411, 16413, 0.1f, 5}, /* > 4 MiB of grad: NT stores */
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) run_case(cnt, isa, cases[c], 21 + c);
  check_nonfinite(cnt, isa);
  check_einval(cnt, isa);
}

TU_MAIN_EACH_ISA(test_isa)
