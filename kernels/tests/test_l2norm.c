/*
 * test_l2norm.c — row L2 normalization (distac_train.h) on every instruction
 * set this CPU runs, against float64 references: y and norm of the forward,
 * dx of the backward, rows clamped by eps (zero and tiny rows), rows whose
 * squares overflow fp32 (the sum is float64), in-place forms, the same bits
 * for 1, 2 and 3 threads, and bad arguments. Matrices have ld > cols with a
 * sentinel in the gaps that must survive.
 */
#include "distac_train.h"
#include "testutil.h"

#define SENTINEL TU_SENTINEL
#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const int64_t k_cols[] = {1, 3, 17, 64, 65, 512, 768, 3072};
static const int64_t k_rows[] = {1, 5, 70};


static float *alloc_mat(int64_t rows, int64_t cols, int64_t *ld) {
  *ld = cols + 3;
  float *m = tu_alloc_f(rows * *ld);
  for (int64_t i = 0; i < rows * *ld; i++) m[i] = SENTINEL;
  return m;
}



/* Row r's values: mostly uniform, then row 1 zero, row 2 tiny (norm < eps),
 * row 3 huge (its squares overflow fp32). */
static void fill_row(uint64_t *s, float *x, int64_t r, int64_t cols) {
  float mul = r == 1 ? 0.0f : r == 2 ? 1e-15f : r == 3 ? 1e30f : 1.0f;
  for (int64_t c = 0; c < cols; c++) x[c] = tu_uniform(s, 2.0f) * mul;
}

static void test_shape(tu_counts *tc, distac_isa isa, uint64_t *s, int64_t rows, int64_t cols) {
  const char *name = distac_isa_name(isa);
  const float eps = 1e-12f;
  int64_t ld;
  float *x = alloc_mat(rows, cols, &ld), *y = alloc_mat(rows, cols, &ld);
  float *dy = alloc_mat(rows, cols, &ld), *dx = alloc_mat(rows, cols, &ld);
  float *norm = tu_alloc_f(rows + 1);
  double *ry = tu_alloc_d(rows * cols), *rn = tu_alloc_d(rows), *rdx = tu_alloc_d(rows * cols), *rsc = tu_alloc_d(rows * cols);
  for (int64_t r = 0; r < rows; r++) {
    fill_row(s, x + r * ld, r, cols);
    for (int64_t c = 0; c < cols; c++) dy[r * ld + c] = tu_uniform(s, 1.0f);
  }
  norm[rows] = SENTINEL;
  for (int64_t r = 0; r < rows; r++) {
    double ss = 0;
    for (int64_t c = 0; c < cols; c++) ss += (double)x[r * ld + c] * x[r * ld + c];
    rn[r] = sqrt(ss);
    for (int64_t c = 0; c < cols; c++) ry[r * cols + c] = x[r * ld + c] / fmax(rn[r], eps);
  }
  char what[80];
  int rc = distac_l2norm_forward_isa(isa, rows, cols, x, ld, eps, y, ld, norm, 0);
  double e = fmax(tu_mat_err(y, ld, ry, NULL, rows, cols), tu_rel_err(norm, rn, rows));
  snprintf(what, sizeof what, "l2norm fwd %lldx%lld", (long long)rows, (long long)cols);
  tu_check(tc, rc == 0 && e < 1e-6 && tu_gaps_intact(y, rows, cols, ld) && norm[rows] == SENTINEL, name, what, e);

  /* The backward from the kernel's y and norm; dy - y <dy,y> cancels when dy
   * is close to parallel to y, so the error is against |dy| + |y <dy,y>|. */
  for (int64_t r = 0; r < rows; r++) {
    double dot = 0, d = norm[r] > eps ? norm[r] : eps;
    for (int64_t c = 0; c < cols; c++) dot += (double)dy[r * ld + c] * y[r * ld + c];
    for (int64_t c = 0; c < cols; c++) {
      double g = dy[r * ld + c], yc = y[r * ld + c];
      rdx[r * cols + c] = norm[r] > eps ? (g - yc * dot) / d : g / eps;
      rsc[r * cols + c] = norm[r] > eps ? (fabs(g) + fabs(yc * dot)) / d : fabs(g) / eps;
    }
  }
  rc = distac_l2norm_backward_isa(isa, rows, cols, dy, ld, y, ld, norm, eps, dx, ld, 0);
  e = tu_mat_err(dx, ld, rdx, rsc, rows, cols);
  snprintf(what, sizeof what, "l2norm bwd %lldx%lld", (long long)rows, (long long)cols);
  tu_check(tc, rc == 0 && e < 1e-6 && tu_gaps_intact(dx, rows, cols, ld), name, what, e);

  /* In place: y = x (no norm), dx = dy: the same bits as out of place. */
  rc = distac_l2norm_forward_isa(isa, rows, cols, x, ld, eps, x, ld, NULL, 0);
  rc |= distac_l2norm_backward_isa(isa, rows, cols, dy, ld, y, ld, norm, eps, dy, ld, 0);
  int same = memcmp(x, y, (size_t)(rows * ld) * 4) == 0 && memcmp(dy, dx, (size_t)(rows * ld) * 4) == 0;
  snprintf(what, sizeof what, "l2norm in place %lldx%lld", (long long)rows, (long long)cols);
  tu_check(tc, rc == 0 && same, name, what, 0);
  free(x), free(y), free(dy), free(dx), free(norm), free(ry), free(rn), free(rdx), free(rsc);
}

static void test_threads(tu_counts *tc, distac_isa isa, uint64_t *s) {
  const int64_t rows = 3000, cols = 65;
  float *x = tu_alloc_f(rows * cols), *dy = tu_alloc_f(rows * cols), *y[3], *n[3], *dx[3];
  tu_fill(s, x, rows * cols, 1.0f), tu_fill(s, dy, rows * cols, 1.0f);
  int ok = 1;
  for (int t = 0; t < 3; t++) {
    y[t] = tu_alloc_f(rows * cols), n[t] = tu_alloc_f(rows), dx[t] = tu_alloc_f(rows * cols);
    ok &= distac_l2norm_forward_isa(isa, rows, cols, x, cols, 1e-12f, y[t], cols, n[t], t + 1) == 0;
    ok &= distac_l2norm_backward_isa(isa, rows, cols, dy, cols, y[t], cols, n[t], 1e-12f, dx[t], cols, t + 1) == 0;
  }
  for (int t = 1; t < 3; t++) {
    ok &= !memcmp(y[0], y[t], (size_t)(rows * cols) * 4) && !memcmp(n[0], n[t], (size_t)rows * 4) &&
          !memcmp(dx[0], dx[t], (size_t)(rows * cols) * 4);
  }
  tu_check(tc, ok, distac_isa_name(isa), "l2norm 3000x65 1,2,3 threads", 0);
  free(x), free(dy);
  for (int t = 0; t < 3; t++) free(y[t]), free(n[t]), free(dx[t]);
}

static void test_nan(tu_counts *tc, distac_isa isa) {
  float x[3] = {1, NAN, 2}, y[3], n, dy[3] = {1, 1, 1}, dx[3];
  int rc = distac_l2norm_forward_isa(isa, 1, 3, x, 3, 1e-12f, y, 3, &n, 1);
  rc |= distac_l2norm_backward_isa(isa, 1, 3, dy, 3, y, 3, &n, 1e-12f, dx, 3, 1);
  int nan = isnan(n) && isnan(y[0]) && isnan(y[2]) && isnan(dx[0]) && isnan(dx[2]);
  tu_check(tc, rc == 0 && nan, distac_isa_name(isa), "l2norm NaN row gives NaN", 0);
}

static void test_errors(tu_counts *tc, distac_isa isa) {
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8], n[2];
  for (int i = 0; i < 8; i++) y[i] = SENTINEL;
  n[0] = n[1] = SENTINEL;
  int bad = 0;
  bad += distac_l2norm_forward_isa(isa, 2, 4, x, 3, 1e-12f, y, 4, n, 1) != DISTAC_EINVAL;
  bad += distac_l2norm_forward_isa(isa, 2, 4, x, 4, 1e-12f, y, 3, n, 1) != DISTAC_EINVAL;
  bad += distac_l2norm_forward_isa(isa, 2, 0, x, 4, 1e-12f, y, 4, n, 1) != DISTAC_EINVAL;
  bad += distac_l2norm_forward_isa(isa, -1, 4, x, 4, 1e-12f, y, 4, n, 1) != DISTAC_EINVAL;
  bad += distac_l2norm_forward_isa(isa, 2, 4, x, 4, 0.0f, y, 4, n, 1) != DISTAC_EINVAL;
  bad += distac_l2norm_forward_isa(isa, 2, 4, x, 4, NAN, y, 4, n, 1) != DISTAC_EINVAL;
  bad += distac_l2norm_forward_isa(isa, 2, 4, x, 4, INFINITY, y, 4, n, 1) != DISTAC_EINVAL;
  bad += distac_l2norm_forward_isa(isa, 2, 4, NULL, 4, 1e-12f, y, 4, n, 1) != DISTAC_EINVAL;
  bad += distac_l2norm_backward_isa(isa, 2, 4, x, 4, x, 4, NULL, 1e-12f, y, 4, 1) != DISTAC_EINVAL;
  bad += distac_l2norm_backward_isa(isa, 2, 4, x, 4, x, 4, x, 1e-12f, y, 3, 1) != DISTAC_EINVAL;
  bad += distac_l2norm_backward_isa(isa, 2, 4, x, 4, x, 4, x, -1.0f, y, 4, 1) != DISTAC_EINVAL;
  int untouched = n[0] == SENTINEL && n[1] == SENTINEL;
  for (int i = 0; i < 8; i++) untouched &= y[i] == SENTINEL;
  tu_check(tc, bad == 0 && untouched, distac_isa_name(isa), "l2norm bad arguments: EINVAL, nothing written", bad);
}

static void test_isa(tu_counts *tc, distac_isa isa) {
  uint64_t s = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(isa + 1);
  for (int ri = 0; ri < LEN(k_rows); ri++)
    for (int ci = 0; ci < LEN(k_cols); ci++) test_shape(tc, isa, &s, k_rows[ri], k_cols[ci]);
  test_threads(tc, isa, &s);
  test_nan(tc, isa);
  test_errors(tc, isa);
}

TU_MAIN_EACH_ISA(test_isa)
