/*
 * test_train.c — the training ops (distac_train.h) on every instruction set
 * this CPU runs, against float64 references: layernorm, GELU/QuickGELU,
 * softmax, bias, Adam with the anchor and the anchored sum of squares.
 * Matrices use ld > cols with a sentinel in the gaps that must survive;
 * gradient accumulators must have the same bits for 1, 2 and 3 threads.
 */
#include "distac_train.h"
#include "testutil.h"

#define SENTINEL TU_SENTINEL

static const int64_t k_cols[] = {1, 3, 17, 64, 65, 768, 3072};
static const int64_t k_rows[] = {1, 5, 70};
static const int64_t k_lens[] = {0, 1, 7, 16, 17, 33, 1000, 65537, 140001};

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))


/* A rows x cols matrix with leading dimension cols + 3; gaps hold SENTINEL. */
static float *alloc_mat(int64_t rows, int64_t cols, int64_t *ld) {
  *ld = cols + 3;
  float *m = tu_alloc_f(rows * *ld);
  for (int64_t i = 0; i < rows * *ld; i++) m[i] = SENTINEL;
  return m;
}

static void fill_mat(uint64_t *s, float *m, int64_t rows, int64_t cols, int64_t ld, float scale,
                     float offset) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) m[r * ld + c] = tu_uniform(s, scale) + offset;
}




/* ---------------------------------------------------------------- layernorm */

static void ref_layernorm_fwd(const float *x, int64_t ld, int64_t rows, int64_t cols,
                              const float *gamma, const float *beta, float eps, double *y,
                              double *mean, double *rstd) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * ld;
    double mu = 0, var = 0;
    for (int64_t c = 0; c < cols; c++) mu += xr[c];
    mu /= cols;
    for (int64_t c = 0; c < cols; c++) var += (xr[c] - mu) * (xr[c] - mu);
    double rs = 1 / sqrt(var / cols + eps);
    mean[r] = mu, rstd[r] = rs;
    for (int64_t c = 0; c < cols; c++) y[r * cols + c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
  }
}

/* The backward from its inputs: x and the forward's saved fp32 mean and rstd.
 * scale is the size rstd * (|g| + |mean g| + |xhat mean(g xhat)|) of the terms
 * that dx subtracts: they cancel completely for cols = 1 (dx = 0), where an
 * FMA-contracted build leaves rounding-sized residues, so dx's error is
 * measured against them. */
static void ref_layernorm_bwd(const float *x, const float *dy, int64_t ld, int64_t rows,
                              int64_t cols, const float *mean, const float *rstd,
                              const float *gamma, double *dx, double *scale, double *dgamma,
                              double *dbeta) {
  for (int64_t r = 0; r < rows; r++) {
    double mu = mean[r], rs = rstd[r], sg = 0, sgx = 0;
    for (int64_t c = 0; c < cols; c++) {
      double xh = (x[r * ld + c] - mu) * rs, g = (double)dy[r * ld + c] * gamma[c];
      sg += g, sgx += g * xh;
      dgamma[c] += dy[r * ld + c] * xh, dbeta[c] += dy[r * ld + c];
    }
    for (int64_t c = 0; c < cols; c++) {
      double xh = (x[r * ld + c] - mu) * rs, g = (double)dy[r * ld + c] * gamma[c];
      dx[r * cols + c] = rs * (g - sg / cols - xh * sgx / cols);
      scale[r * cols + c] = rs * (fabs(g) + fabs(sg / cols) + fabs(xh * sgx / cols));
    }
  }
}

/* One rows x cols shape; offset is added to x (an offset mean tests the
 * variance; |mean| >> std tests the normalization). */
static void test_layernorm(tu_counts *tc, distac_isa isa, uint64_t *s, int64_t rows,
                           int64_t cols, float offset) {
  const char *name = distac_isa_name(isa);
  int64_t ld;
  float *x = alloc_mat(rows, cols, &ld), *y = alloc_mat(rows, cols, &ld);
  float *dy = alloc_mat(rows, cols, &ld), *dx = alloc_mat(rows, cols, &ld);
  float *gamma = tu_alloc_f(cols), *beta = tu_alloc_f(cols), *mean = tu_alloc_f(rows), *rstd = tu_alloc_f(rows);
  float *dg = tu_alloc_f(cols), *db = tu_alloc_f(cols);
  double *ry = tu_alloc_d(rows * cols), *rdx = tu_alloc_d(rows * cols), *rsc = tu_alloc_d(rows * cols), *rm = tu_alloc_d(rows),
         *rr = tu_alloc_d(rows), *rdg = tu_alloc_d(cols), *rdb = tu_alloc_d(cols);
  fill_mat(s, x, rows, cols, ld, 2.0f, offset);
  fill_mat(s, dy, rows, cols, ld, 1.0f, 0.0f);
  tu_fill(s, gamma, cols, 1.5f), tu_fill(s, beta, cols, 0.5f);
  tu_fill(s, dg, cols, 1.0f), tu_fill(s, db, cols, 1.0f);
  for (int64_t c = 0; c < cols; c++) rdg[c] = dg[c], rdb[c] = db[c];
  const float eps = 1e-5f;
  ref_layernorm_fwd(x, ld, rows, cols, gamma, beta, eps, ry, rm, rr);

  char what[80];
  int rc = distac_layernorm_forward_isa(isa, rows, cols, x, ld, gamma, beta, eps, y, ld, mean, rstd, 0);
  double e = fmax(tu_mat_err(y, ld, ry, NULL, rows, cols), fmax(tu_rel_err(mean, rm, rows), tu_rel_err(rstd, rr, rows)));
  snprintf(what, sizeof what, "layernorm fwd %lldx%lld", (long long)rows, (long long)cols);
  tu_check(tc, rc == 0 && e < 1e-5 && tu_gaps_intact(y, rows, cols, ld), name, what, e);

  ref_layernorm_bwd(x, dy, ld, rows, cols, mean, rstd, gamma, rdx, rsc, rdg, rdb);
  rc = distac_layernorm_backward_isa(isa, rows, cols, dy, ld, x, ld, mean, rstd, gamma, dx, ld, 0, dg, db, 0);
  e = fmax(tu_mat_err(dx, ld, rdx, rsc, rows, cols), fmax(tu_rel_err(dg, rdg, cols), tu_rel_err(db, rdb, cols)));
  snprintf(what, sizeof what, "layernorm bwd %lldx%lld", (long long)rows, (long long)cols);
  tu_check(tc, rc == 0 && e < 1e-5 && tu_gaps_intact(dx, rows, cols, ld), name, what, e);

  /* accumulate: dx += the same gradient again. */
  for (int64_t i = 0; i < rows * cols; i++) rdx[i] *= 2, rsc[i] *= 2;
  rc = distac_layernorm_backward_isa(isa, rows, cols, dy, ld, x, ld, mean, rstd, gamma, dx, ld, 1, NULL, NULL, 0);
  e = tu_mat_err(dx, ld, rdx, rsc, rows, cols);
  snprintf(what, sizeof what, "layernorm bwd accumulate %lldx%lld", (long long)rows, (long long)cols);
  tu_check(tc, rc == 0 && e < 1e-5, name, what, e);

  free(x), free(y), free(dy), free(dx), free(gamma), free(beta), free(mean), free(rstd);
  free(dg), free(db), free(ry), free(rdx), free(rsc), free(rm), free(rr), free(rdg), free(rdb);
}

/* ---------------------------------------------------------------- GELU */

static double ref_gelu(distac_gelu_kind kind, double x, int grad) {
  if (kind == DISTAC_GELU_ERF) {
    double phi = 0.5 * erfc(-x / sqrt(2.0));
    return grad ? phi + x * exp(-0.5 * x * x) / sqrt(2 * 3.14159265358979323846) : x * phi;
  }
  double s = 1 / (1 + exp(-1.702 * x));
  return grad ? s + 1.702 * x * s * (1 - s) : x * s;
}

/* The size of the terms of f' that cancel at its zero (GELU near x = -0.75,
 * QuickGELU near x = -1.28): the error is relative to them, not to f'. */
static double ref_gelu_grad_scale(distac_gelu_kind kind, double x) {
  if (kind == DISTAC_GELU_ERF) {
    return 0.5 * erfc(-x / sqrt(2.0)) + fabs(x) * exp(-0.5 * x * x) / sqrt(2 * 3.14159265358979323846);
  }
  double s = 1 / (1 + exp(-1.702 * x));
  return s + fabs(1.702 * x * s * (1 - s));
}

/* Worst elementwise |got - want| / (scale + 1e-37) over a dense sweep of
 * [-15, 15], where the negative tail is tiny and must stay accurate (scale:
 * |f| for the forward, the cancelling terms of f' for the backward). */
static double gelu_sweep(distac_isa isa, distac_gelu_kind kind, int grad) {
  const int64_t n = 300001;
  float *x = tu_alloc_f(n), *one = tu_alloc_f(n), *out = tu_alloc_f(n);
  for (int64_t i = 0; i < n; i++) x[i] = -15.0f + 30.0f * (float)i / (float)(n - 1), one[i] = 1;
  int rc = grad ? distac_gelu_backward_isa(isa, kind, n, x, one, out, 0)
                : distac_gelu_forward_isa(isa, kind, n, x, out, 0);
  double worst = rc == 0 ? 0 : INFINITY;
  for (int64_t i = 0; i < n && rc == 0; i++) {
    double want = ref_gelu(kind, x[i], grad);
    double scale = grad ? ref_gelu_grad_scale(kind, x[i]) : fabs(want);
    double e = fabs(out[i] - want) / (scale + 1e-37);
    if (!(e <= worst)) worst = e; /* NaN becomes the worst */
  }
  free(x), free(one), free(out);
  return worst;
}

static void test_gelu(tu_counts *tc, distac_isa isa, uint64_t *s) {
  const char *name = distac_isa_name(isa);
  for (int kind = 0; kind <= 1; kind++) {
    const char *kn = kind ? "quickgelu" : "gelu";
    for (int li = 0; li < LEN(k_lens); li++) {
      int64_t n = k_lens[li];
      float *x = tu_alloc_f(n + 1), *dy = tu_alloc_f(n), *y = tu_alloc_f(n + 1);
      double *ry = tu_alloc_d(n), *rdx = tu_alloc_d(n);
      tu_fill(s, x, n, 6.0f), tu_fill(s, dy, n, 1.0f);
      y[n] = SENTINEL;
      for (int64_t i = 0; i < n; i++) {
        ry[i] = ref_gelu((distac_gelu_kind)kind, x[i], 0);
        rdx[i] = dy[i] * ref_gelu((distac_gelu_kind)kind, x[i], 1);
      }
      char what[80];
      int rc = distac_gelu_forward_isa(isa, (distac_gelu_kind)kind, n, x, y, 0);
      double e = tu_rel_err(y, ry, n);
      snprintf(what, sizeof what, "%s fwd n=%lld", kn, (long long)n);
      tu_check(tc, rc == 0 && e < 1e-6 && y[n] == SENTINEL, name, what, e);
      rc = distac_gelu_backward_isa(isa, (distac_gelu_kind)kind, n, x, dy, y, 0);
      e = tu_rel_err(y, rdx, n);
      snprintf(what, sizeof what, "%s bwd n=%lld", kn, (long long)n);
      tu_check(tc, rc == 0 && e < 1e-6 && y[n] == SENTINEL, name, what, e);
      /* in place: y = x */
      memcpy(y, x, (size_t)n * sizeof(float));
      rc = distac_gelu_forward_isa(isa, (distac_gelu_kind)kind, n, y, y, 0);
      e = tu_rel_err(y, ry, n);
      snprintf(what, sizeof what, "%s fwd in place n=%lld", kn, (long long)n);
      tu_check(tc, rc == 0 && e < 1e-6, name, what, e);
      free(x), free(dy), free(y), free(ry), free(rdx);
    }
    for (int grad = 0; grad <= 1; grad++) {
      double e = gelu_sweep(isa, (distac_gelu_kind)kind, grad);
      char what[80];
      snprintf(what, sizeof what, "%s %s elementwise [-15,15]", kn, grad ? "bwd" : "fwd");
      tu_check(tc, e < 1e-6, name, what, e);
    }
  }
  float x = NAN, y = 0;
  int rc = distac_gelu_forward_isa(isa, DISTAC_GELU_ERF, 1, &x, &y, 1);
  tu_check(tc, rc == 0 && isnan(y), name, "gelu NaN in, NaN out", 0);
}

/* ---------------------------------------------------------------- softmax */

/* One rows x cols shape. */
static void test_softmax(tu_counts *tc, distac_isa isa, uint64_t *s, int64_t rows, int64_t cols) {
  const char *name = distac_isa_name(isa);
  int64_t ld;
  float *x = alloc_mat(rows, cols, &ld), *y = alloc_mat(rows, cols, &ld);
  float *dy = alloc_mat(rows, cols, &ld), *dx = alloc_mat(rows, cols, &ld);
  double *ry = tu_alloc_d(rows * cols), *rdx = tu_alloc_d(rows * cols);
  fill_mat(s, x, rows, cols, ld, 20.0f, 0.0f);
  fill_mat(s, dy, rows, cols, ld, 1.0f, 0.0f);
  if (cols > 2) x[1] = -INFINITY; /* masked entry: probability 0 */
  for (int64_t r = 0; r < rows; r++) {
    double m = -INFINITY, sum = 0;
    for (int64_t c = 0; c < cols; c++) m = fmax(m, x[r * ld + c]);
    for (int64_t c = 0; c < cols; c++) sum += exp(x[r * ld + c] - m);
    for (int64_t c = 0; c < cols; c++) ry[r * cols + c] = exp(x[r * ld + c] - m) / sum;
  }
  char what[80];
  int rc = distac_softmax_forward_isa(isa, rows, cols, x, ld, y, ld, 0);
  double e = tu_mat_err(y, ld, ry, NULL, rows, cols);
  snprintf(what, sizeof what, "softmax fwd %lldx%lld", (long long)rows, (long long)cols);
  tu_check(tc, rc == 0 && e < 1e-5 && tu_gaps_intact(y, rows, cols, ld), name, what, e);
  /* The backward's reference starts from the kernel's own y: dx cancels
   * (its row sums are 0), so an O(eps) change in y is not O(eps) in dx. */
  double num = 0, den = 0;
  for (int64_t r = 0; r < rows; r++) {
    double dot = 0;
    for (int64_t c = 0; c < cols; c++) dot += (double)dy[r * ld + c] * y[r * ld + c];
    for (int64_t c = 0; c < cols; c++) {
      rdx[r * cols + c] = y[r * ld + c] * (dy[r * ld + c] - dot);
      double scale = y[r * ld + c] * (fabs(dy[r * ld + c]) + fabs(dot));
      den += scale * scale;
    }
  }
  rc = distac_softmax_backward_isa(isa, rows, cols, y, ld, dy, ld, dx, ld, 0);
  /* dy - dot cancels where one probability dominates a row: the error is
   * relative to the terms y * (|dy| + |dot|), not to dx. */
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      double d = dx[r * ld + c] - rdx[r * cols + c];
      num += isfinite(dx[r * ld + c]) ? d * d : INFINITY;
    }
  e = sqrt(num / den);
  snprintf(what, sizeof what, "softmax bwd %lldx%lld", (long long)rows, (long long)cols);
  tu_check(tc, rc == 0 && e < 1e-5 && tu_gaps_intact(dx, rows, cols, ld), name, what, e);
  free(x), free(y), free(dy), free(dx), free(ry), free(rdx);
}

/* ---------------------------------------------------------------- bias */

static void test_bias(tu_counts *tc, distac_isa isa, uint64_t *s) {
  const char *name = distac_isa_name(isa);
  for (int ci = 0; ci < LEN(k_cols); ci++) {
    int64_t rows = 1000, cols = k_cols[ci], ld;
    float *y = alloc_mat(rows, cols, &ld), *b = tu_alloc_f(cols), *db[3];
    double *ry = tu_alloc_d(rows * cols), *rdb = tu_alloc_d(cols);
    fill_mat(s, y, rows, cols, ld, 1.0f, 0.0f);
    tu_fill(s, b, cols, 1.0f);
    for (int t = 0; t < 3; t++) db[t] = tu_alloc_f(cols);
    for (int64_t c = 0; c < cols; c++) db[0][c] = db[1][c] = db[2][c] = b[c], rdb[c] = b[c];
    for (int64_t r = 0; r < rows; r++)
      for (int64_t c = 0; c < cols; c++) {
        ry[r * cols + c] = (double)y[r * ld + c] + b[c];
        rdb[c] += y[r * ld + c];
      }
    char what[80];
    int ok = 1;
    for (int t = 0; t < 3; t++) ok &= distac_bias_grad_isa(isa, rows, cols, y, ld, db[t], t + 1) == 0;
    double e = tu_rel_err(db[0], rdb, cols);
    int same = memcmp(db[0], db[1], (size_t)cols * 4) == 0 && memcmp(db[0], db[2], (size_t)cols * 4) == 0;
    snprintf(what, sizeof what, "bias grad 1000x%lld (1,2,3 threads)", (long long)cols);
    tu_check(tc, ok && same && e < 1e-5, name, what, e);
    int rc = distac_bias_add_isa(isa, rows, cols, y, ld, b, 0);
    e = tu_mat_err(y, ld, ry, NULL, rows, cols);
    snprintf(what, sizeof what, "bias add 1000x%lld", (long long)cols);
    tu_check(tc, rc == 0 && e < 1e-6 && tu_gaps_intact(y, rows, cols, ld), name, what, e);
    free(y), free(b), free(ry), free(rdb);
    for (int t = 0; t < 3; t++) free(db[t]);
  }
}

/* Same-bits check of layernorm's dgamma/dbeta for 1, 2 and 3 threads. */
static void test_layernorm_threads(tu_counts *tc, distac_isa isa, uint64_t *s) {
  int64_t rows = 3000, cols = 65, ld = cols;
  float *x = tu_alloc_f(rows * ld), *dy = tu_alloc_f(rows * ld), *dx = tu_alloc_f(rows * ld);
  float *gamma = tu_alloc_f(cols), *beta = tu_alloc_f(cols), *mean = tu_alloc_f(rows), *rstd = tu_alloc_f(rows);
  float *dg[3], *db[3];
  tu_fill(s, x, rows * ld, 1.0f), tu_fill(s, dy, rows * ld, 1.0f);
  tu_fill(s, gamma, cols, 1.0f), tu_fill(s, beta, cols, 1.0f);
  int ok = distac_layernorm_forward_isa(isa, rows, cols, x, ld, gamma, beta, 1e-5f, dx, ld, mean, rstd, 0) == 0;
  for (int t = 0; t < 3; t++) {
    dg[t] = tu_alloc_f(cols), db[t] = tu_alloc_f(cols);
    memset(dg[t], 0, (size_t)cols * 4), memset(db[t], 0, (size_t)cols * 4);
    ok &= distac_layernorm_backward_isa(isa, rows, cols, dy, ld, x, ld, mean, rstd, gamma, dx, ld, 0, dg[t], db[t], t + 1) == 0;
  }
  int same = 1;
  for (int t = 1; t < 3; t++) same &= !memcmp(dg[0], dg[t], (size_t)cols * 4) && !memcmp(db[0], db[t], (size_t)cols * 4);
  tu_check(tc, ok && same, distac_isa_name(isa), "layernorm dgamma/dbeta 1,2,3 threads", 0);
  free(x), free(dy), free(dx), free(gamma), free(beta), free(mean), free(rstd);
  for (int t = 0; t < 3; t++) free(dg[t]), free(db[t]);
}

/* ---------------------------------------------------------------- Adam */

static void test_adam(tu_counts *tc, distac_isa isa, uint64_t *s) {
  const char *name = distac_isa_name(isa);
  const float lr = 0.05f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  for (int li = 0; li < LEN(k_lens); li++)
    for (int anchor = 0; anchor <= 1; anchor++) {
      int64_t n = k_lens[li];
      float beta = anchor ? 0.5f : 0.0f;
      float *th = tu_alloc_f(n), *th0 = tu_alloc_f(n), *g = tu_alloc_f(n), *m = tu_alloc_f(n), *v = tu_alloc_f(n);
      float *init = tu_alloc_f(n);
      double *rth = tu_alloc_d(n), *rm = tu_alloc_d(n), *rv = tu_alloc_d(n);
      /* The student stays near its init: |theta - init| <= 0.01. (Far apart,
       * g = grad + anchor can cancel to ~1e-6 in fp32 and Adam's first step,
       * ~ lr * g / (|g| + eps), turns that rounding into a visible error.) */
      tu_fill(s, th, n, 1.0f), tu_fill(s, init, n, 0.01f);
      for (int64_t i = 0; i < n; i++) m[i] = v[i] = 0, init[i] += th[i];
      int ok = 1;
      double worst = 0;
      for (int64_t step = 1; step <= 4; step++) {
        tu_fill(s, g, n, 1.0f);
        /* The clip scale comes from the anchored norm, as a caller would do it. */
        double ss = -1;
        ok &= distac_anchored_sumsq_isa(isa, n, g, th, anchor ? init : NULL, beta, &ss, 0) == 0;
        double rss = 0;
        for (int64_t i = 0; i < n; i++) {
          double gi = g[i] + 2.0 * beta * ((double)th[i] - init[i]);
          rss += gi * gi;
        }
        double se = fabs(ss - rss) / (rss > 0 ? rss : 1);
        worst = fmax(worst, se);
        float clip = rss > 0 ? (float)fmin(1.0, 0.5 * sqrt((double)n) / sqrt(rss)) : 1.0f;
        double c1 = 1 - pow(b1, (double)step), c2 = 1 - pow(b2, (double)step);
        for (int64_t i = 0; i < n; i++) {
          double gi = clip * (g[i] + 2.0 * beta * ((double)th[i] - init[i]));
          rm[i] = b1 * rm[i] + (1 - b1) * gi;
          rv[i] = b2 * rv[i] + (1 - (double)b2) * gi * gi;
          rth[i] = th[i] - lr / c1 * rm[i] / (sqrt(rv[i]) / sqrt(c2) + eps);
        }
        memcpy(th0, th, (size_t)n * sizeof(float));
        ok &= distac_adam_step_isa(isa, n, th, g, m, v, anchor ? init : NULL, lr, b1, b2, eps, beta, clip, step, 0) == 0;
        worst = fmax(worst, fmax(tu_rel_err(m, rm, n), tu_rel_err(v, rv, n)));
        /* theta: the step itself, against a reference step from the same theta. */
        double num = 0, den = 0;
        for (int64_t i = 0; i < n; i++) {
          double got = (double)th[i] - th0[i], want = rth[i] - th0[i];
          num += (got - want) * (got - want), den += want * want;
        }
        worst = fmax(worst, den > 0 ? sqrt(num / den) : sqrt(num));
        if (!isfinite(num)) worst = INFINITY;
      }
      char what[80];
      snprintf(what, sizeof what, "adam 4 steps n=%lld anchor=%d", (long long)n, anchor);
      tu_check(tc, ok && worst < 1e-5, name, what, worst);
      free(th), free(th0), free(g), free(m), free(v), free(init), free(rth), free(rm), free(rv);
    }
  /* anchored_sumsq: same bits for 1, 2, 3 threads over several blocks. */
  int64_t n = 3 * DISTAC_SUMSQ_BLOCK + 77;
  float *g = tu_alloc_f(n), *th = tu_alloc_f(n), *init = tu_alloc_f(n);
  tu_fill(s, g, n, 1.0f), tu_fill(s, th, n, 1.0f), tu_fill(s, init, n, 1.0f);
  double r[3];
  int ok = 1;
  for (int t = 0; t < 3; t++) ok &= distac_anchored_sumsq_isa(isa, n, g, th, init, 0.5f, &r[t], t + 1) == 0;
  tu_check(tc, ok && r[0] == r[1] && r[0] == r[2], name, "anchored sumsq 1,2,3 threads", 0);
  free(g), free(th), free(init);
}

/* ---------------------------------------------------------------- errors */

static void test_errors(tu_counts *tc, distac_isa isa) {
  const char *name = distac_isa_name(isa);
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8], g[8] = {0}, m[8] = {0}, v[8] = {0};
  for (int i = 0; i < 8; i++) y[i] = SENTINEL;
  int bad = 0;
  bad += distac_layernorm_forward_isa(isa, 2, 4, x, 3, g, g, 1e-5f, y, 4, NULL, NULL, 1) != DISTAC_EINVAL;
  bad += distac_layernorm_forward_isa(isa, 2, 0, x, 4, g, g, 1e-5f, y, 4, NULL, NULL, 1) != DISTAC_EINVAL;
  bad += distac_layernorm_forward_isa(isa, 2, 4, x, 4, g, g, -1.0f, y, 4, NULL, NULL, 1) != DISTAC_EINVAL;
  bad += distac_gelu_forward_isa(isa, (distac_gelu_kind)7, 8, x, y, 1) != DISTAC_EINVAL;
  bad += distac_gelu_backward_isa(isa, DISTAC_GELU_ERF, 8, x, NULL, y, 1) != DISTAC_EINVAL;
  bad += distac_softmax_forward_isa(isa, 2, 4, x, 4, y, 3, 1) != DISTAC_EINVAL;
  bad += distac_bias_add_isa(isa, -1, 4, y, 4, x, 1) != DISTAC_EINVAL;
  bad += distac_adam_step_isa(isa, 8, y, x, m, v, NULL, 0.1f, 1.0f, 0.999f, 1e-8f, 0, 1, 1, 1) != DISTAC_EINVAL;
  bad += distac_adam_step_isa(isa, 8, y, x, m, v, NULL, 0.1f, 0.9f, 0.999f, 1e-8f, 0, 1, 0, 1) != DISTAC_EINVAL;
  bad += distac_adam_step_isa(isa, 8, y, x, m, v, NULL, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 1, 1, 1) != DISTAC_EINVAL;
  bad += distac_adam_step_isa(isa, 8, y, x, m, v, NULL, NAN, 0.9f, 0.999f, 1e-8f, 0, 1, 1, 1) != DISTAC_EINVAL;
  int untouched = 1;
  for (int i = 0; i < 8; i++) untouched &= y[i] == SENTINEL && m[i] == 0 && v[i] == 0;
  tu_check(tc, bad == 0 && untouched, name, "bad arguments: EINVAL, nothing written", bad);
}

static void test_isa(tu_counts *tc, distac_isa isa) {
  uint64_t s = 0x9e3779b97f4a7c15ULL + (uint64_t)isa; /* isa is 0, 1, 2 */
  for (int ri = 0; ri < LEN(k_rows); ri++)
    for (int ci = 0; ci < LEN(k_cols); ci++)
      test_layernorm(tc, isa, &s, k_rows[ri], k_cols[ci], ci % 2 ? 1000.0f : 3.0f);
  test_layernorm_threads(tc, isa, &s);
  test_gelu(tc, isa, &s);
  for (int ri = 0; ri < LEN(k_rows); ri++)
    for (int ci = 0; ci < LEN(k_cols); ci++) test_softmax(tc, isa, &s, k_rows[ri], k_cols[ci]);
  test_bias(tc, isa, &s);
  test_adam(tc, isa, &s);
  test_errors(tc, isa);
}

TU_MAIN_EACH_ISA(test_isa)
