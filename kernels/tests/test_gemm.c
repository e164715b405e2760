/*
 * test_gemm.c — every sgemm variant against a float64 reference: odd and
 * prime shapes, all four transpose pairs, padded leading dimensions,
 * alpha/beta (beta = 0 over NaN-poisoned C), k = 0, strided batches with a
 * shared operand, argument errors, and the dispatcher.
 *
 * Tolerance: float accumulation over k terms has relative error of order
 * sqrt(k) * 2^-24 (about 1.5e-6 at k = 600), so 1e-5 holds for every shape here.
 */
#include "testutil.h"

#define TOL 1e-5

/* The padding between rows of C must keep this value. */
#define PAD_VALUE 1234.5f

typedef struct {
  int ta, tb;
  int64_t m, n, k;
  float alpha, beta;
  int64_t pad; /* extra elements per row in every leading dimension */
  int threads;
} gemm_case;

typedef struct {
  int64_t lda, ldb, ldc, a_len, b_len, c_len;
} gemm_layout;

static gemm_layout layout(const gemm_case *t) {
  gemm_layout l;
  int64_t ar = t->ta ? t->k : t->m, ac = t->ta ? t->m : t->k;
  int64_t br = t->tb ? t->n : t->k, bc = t->tb ? t->k : t->n;
  l.lda = (ac > 1 ? ac : 1) + t->pad, l.ldb = (bc > 1 ? bc : 1) + t->pad;
  l.ldc = (t->n > 1 ? t->n : 1) + t->pad;
  l.a_len = ar * l.lda + 1, l.b_len = br * l.ldb + 1, l.c_len = t->m * l.ldc + 1;
  return l;
}

/* want = alpha * op(A) op(B) + beta * C0 in double (beta == 0 ignores C0). */
static void reference(const gemm_case *t, const gemm_layout *l, const float *a, const float *b,
                      const float *c0, double *want) {
  for (int64_t i = 0; i < t->m; i++)
    for (int64_t j = 0; j < t->n; j++) {
      double s = 0;
      for (int64_t p = 0; p < t->k; p++) {
        double x = t->ta ? a[p * l->lda + i] : a[i * l->lda + p];
        double y = t->tb ? b[j * l->ldb + p] : b[p * l->ldb + j];
        s += x * y;
      }
      double c = t->beta == 0.0f ? 0.0 : (double)t->beta * c0[i * l->ldc + j];
      want[i * t->n + j] = (double)t->alpha * s + c;
    }
}

/* Packs the m x n result out of C; returns 0 if a padding element changed. */
static int gather(const gemm_case *t, const gemm_layout *l, const float *c, float *got) {
  int pad_ok = 1;
  for (int64_t i = 0; i < t->m; i++) {
    for (int64_t j = 0; j < t->n; j++) got[i * t->n + j] = c[i * l->ldc + j];
    for (int64_t j = t->n; j < l->ldc && i * l->ldc + j < l->c_len; j++)
      if (c[i * l->ldc + j] != PAD_VALUE) pad_ok = 0;
  }
  return pad_ok;
}

/* Fills C: NaN in the matrix when beta == 0 (it must not be read), random
 * values otherwise, PAD_VALUE in the gaps between rows. */
static void fill_c(uint64_t *s, const gemm_case *t, const gemm_layout *l, float *c) {
  for (int64_t x = 0; x < l->c_len; x++) c[x] = PAD_VALUE;
  for (int64_t i = 0; i < t->m; i++)
    for (int64_t j = 0; j < t->n; j++)
      c[i * l->ldc + j] = t->beta == 0.0f ? NAN : tu_uniform(s, 1.0f);
}

static void run_case(tu_counts *cnt, distac_isa isa, const gemm_case *t, int batched) {
  gemm_layout l = layout(t);
  int64_t batch = batched ? 3 : 1;
  /* batched: A shared (stride 0), B and C strided with a gap */
  int64_t sa = 0, sb = l.b_len + 5, sc = l.c_len + 7;
  uint64_t s = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(t->m * 131 + t->n * 17 + t->k);
  float *a = malloc(sizeof(float) * (size_t)l.a_len);
  float *b = malloc(sizeof(float) * (size_t)(sb * batch));
  float *c = malloc(sizeof(float) * (size_t)(sc * batch));
  float *c0 = malloc(sizeof(float) * (size_t)(sc * batch));
  float *got = malloc(sizeof(float) * (size_t)(t->m * t->n + 1));
  double *want = malloc(sizeof(double) * (size_t)(t->m * t->n + 1));
  tu_fill(&s, a, l.a_len, 1.0f);
  tu_fill(&s, b, sb * batch, 1.0f);
  for (int64_t q = 0; q < batch; q++) fill_c(&s, t, &l, c + q * sc);
  memcpy(c0, c, sizeof(float) * (size_t)(sc * batch));

  int rc;
  if (batched)
    rc = distac_sgemm_strided_batched_isa(isa, t->ta, t->tb, t->m, t->n, t->k, batch, t->alpha, a,
                                          l.lda, sa, b, l.ldb, sb, t->beta, c, l.ldc, sc,
                                          t->threads);
  else
    rc = distac_sgemm_isa(isa, t->ta, t->tb, t->m, t->n, t->k, t->alpha, a, l.lda, b, l.ldb,
                          t->beta, c, l.ldc, t->threads);
  double worst = 0;
  int ok = rc == DISTAC_OK;
  for (int64_t q = 0; q < batch && ok; q++) {
    reference(t, &l, a + q * sa, b + q * sb, c0 + q * sc, want);
    ok = gather(t, &l, c + q * sc, got);
    double e = tu_rel_err(got, want, t->m * t->n);
    if (e > worst) worst = e;
  }
  ok = ok && worst <= TOL;
  char what[96];
  snprintf(what, sizeof what, "%s %c%c %lldx%lldx%lld a=%g b=%g t=%d", batched ? "batch" : "gemm ",
           t->ta ? 'T' : 'N', t->tb ? 'T' : 'N', (long long)t->m, (long long)t->n,
           (long long)t->k, t->alpha, t->beta, t->threads);
  tu_check(cnt, ok, distac_isa_name(isa), what, worst);
  free(a), free(b), free(c), free(c0), free(got), free(want);
}

/* Every element is summed in the same order whatever the thread count (tiles
 * only decide who computes it), so results match bit for bit. */
static void run_thread_invariance(tu_counts *cnt, distac_isa isa) {
  enum { M = 301, N = 203, K = 503 };
  uint64_t s = 42;
  float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N);
  float *c1 = malloc(sizeof(float) * M * N), *c3 = malloc(sizeof(float) * M * N);
  tu_fill(&s, a, M * K, 1.0f);
  tu_fill(&s, b, K * N, 1.0f);
  int rc1 = distac_sgemm_isa(isa, 0, 1, M, N, K, 0.5f, a, K, b, K, 0.0f, c1, N, 1);
  int rc3 = distac_sgemm_isa(isa, 0, 1, M, N, K, 0.5f, a, K, b, K, 0.0f, c3, N, 3);
  int same = rc1 == DISTAC_OK && rc3 == DISTAC_OK && memcmp(c1, c3, sizeof(float) * M * N) == 0;
  tu_check(cnt, same, distac_isa_name(isa), "1 and 3 threads give the same bits", 0);
  free(a), free(b), free(c1), free(c3);
}

/* Bad arguments return DISTAC_EINVAL and leave C as it was. */
static void run_errors(tu_counts *cnt, distac_isa isa) {
  float a[64], b[64], c[64];
  for (int i = 0; i < 64; i++) a[i] = b[i] = 1.0f, c[i] = PAD_VALUE;
  struct {
    const char *what;
    int64_t m, n, k, lda, ldb, ldc, batch, sc;
    const float *c_null;
  } bad[] = {
      {"negative m", -1, 4, 4, 4, 4, 4, 1, 16, c},
      {"negative k", 4, 4, -2, 4, 4, 4, 1, 16, c},
      {"short lda", 4, 4, 4, 3, 4, 4, 1, 16, c},
      {"short ldb", 4, 4, 4, 4, 3, 4, 1, 16, c},
      {"short ldc", 4, 4, 4, 4, 4, 3, 1, 16, c},
      {"NULL C", 4, 4, 4, 4, 4, 4, 1, 16, NULL},
      {"negative batch", 4, 4, 4, 4, 4, 4, -1, 16, c},
      {"overlapping C", 4, 4, 4, 4, 4, 4, 2, 15, c},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc1 = DISTAC_EINVAL;
    if (bad[i].batch == 1)
      rc1 = distac_sgemm_isa(isa, 0, 0, bad[i].m, bad[i].n, bad[i].k, 1.0f, a, bad[i].lda, b,
                             bad[i].ldb, 0.0f, (float *)bad[i].c_null, bad[i].ldc, 0);
    int rc2 = distac_sgemm_strided_batched_isa(isa, 0, 0, bad[i].m, bad[i].n, bad[i].k,
                                               bad[i].batch, 1.0f, a, bad[i].lda, 0, b,
                                               bad[i].ldb, 0, 0.0f, (float *)bad[i].c_null,
                                               bad[i].ldc, bad[i].sc, 0);
    int untouched = 1;
    for (int x = 0; x < 64; x++) untouched &= c[x] == PAD_VALUE;
    char what[64];
    snprintf(what, sizeof what, "EINVAL: %s", bad[i].what);
    tu_check(cnt, rc1 == DISTAC_EINVAL && rc2 == DISTAC_EINVAL && untouched,
             distac_isa_name(isa), what, 0);
  }
}

int main(void) {
  tu_counts cnt = {0};
  static const int64_t shapes[][3] = {
      {1, 1, 1},   {2, 3, 1},    {3, 2, 5},    {7, 17, 3},   {17, 7, 33},    {13, 33, 67},
      {67, 29, 7}, {1, 257, 11}, {259, 1, 13}, {97, 131, 257}, {129, 67, 600},
  };
  static const float ab[][2] = {{1, 0}, {0.5f, -1.5f}, {-2, 1}};
  distac_isa isas[] = TU_ISAS;
  for (size_t v = 0; v < sizeof isas / sizeof isas[0]; v++) {
    distac_isa isa = isas[v];
    if (!tu_isa_runs(&cnt, isa)) continue;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
      for (int tr = 0; tr < 4; tr++) {
        const float *x = ab[(sh + (size_t)tr) % 3];
        gemm_case t = {tr >> 1, tr & 1, shapes[sh][0], shapes[sh][1], shapes[sh][2],
                       x[0], x[1], (int64_t)(sh % 3) * 3, sh % 2 ? 0 : 1};
        run_case(&cnt, isa, &t, 0);
        if (tr == 0 || tr == 3) run_case(&cnt, isa, &t, 1);
      }
    /* k == 0 and alpha == 0: C = beta * C, A and B unread (beta 0 over NaN gives 0) */
    gemm_case k0 = {0, 0, 5, 9, 0, 1.0f, 0.0f, 2, 0};
    run_case(&cnt, isa, &k0, 0);
    gemm_case k0b = {1, 1, 5, 9, 0, 1.0f, 3.0f, 0, 0};
    run_case(&cnt, isa, &k0b, 1);
    gemm_case a0 = {0, 1, 19, 40, 8, 0.0f, -0.5f, 1, 0};
    run_case(&cnt, isa, &a0, 0);
    /* shapes large enough for the threaded path, with more threads than
     * CPUs: C cut into row tiles, and (few rows) into column tiles */
    gemm_case big = {0, 1, 301, 203, 503, 1.0f, 0.0f, 1, 3};
    run_case(&cnt, isa, &big, 0);
    run_case(&cnt, isa, &big, 1);
    gemm_case wide = {1, 0, 13, 2053, 331, 0.5f, 1.0f, 2, 0};
    run_case(&cnt, isa, &wide, 0);
    run_thread_invariance(&cnt, isa);
    run_errors(&cnt, isa);
  }

  /* The dispatcher runs the best variant; an unknown ISA is refused. */
  {
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4];
    int rc = distac_sgemm(0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2, 0);
    int ok = rc == DISTAC_OK && c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11;
    tu_check(&cnt, ok, distac_isa_name(distac_isa_best()), "dispatch distac_sgemm 2x2x3", 0);
    rc = distac_sgemm_strided_batched(0, 0, 2, 2, 3, 1, 1.0f, a, 3, 0, b, 2, 0, 0.0f, c, 2, 4, 0);
    ok = rc == DISTAC_OK && c[0] == 4 && c[3] == 11;
    tu_check(&cnt, ok, distac_isa_name(distac_isa_best()), "dispatch strided_batched", 0);
    rc = distac_sgemm_isa((distac_isa)7, 0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2, 0);
    tu_check(&cnt, rc == DISTAC_EISA, "?", "unknown isa gives DISTAC_EISA", 0);
  }
  return tu_finish(&cnt);
}
