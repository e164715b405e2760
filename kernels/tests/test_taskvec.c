/*
 * test_taskvec.c — sub, sumsq, scale, axpy, wsum and sub_accum on every
 * instruction set this CPU runs, against float64 references.
 *
 * Outputs sit at unaligned offsets between guard words that must keep their
 * bits; sizes cover tails, the streaming threshold and several sumsq blocks.
 * sumsq must give the same bits for any thread count and on every ISA; sub is
 * exact IEEE arithmetic, so it must match the scalar bits too. sub_accum must
 * give the bits of sub, wsum and sumsq on the same ISA, one task at a time.
 */
#include "testutil.h"

#define GUARD 64
#define GUARD_BITS 0x7fc0deadu

static const int64_t sizes[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1000, 4099,
                                65537, 200003, (1 << 20) + 5};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

/* A float buffer of n elements at a random element offset between guards. */
typedef struct {
  float *mem, *p;
  int64_t n, off;
} guarded;

static guarded g_new(int64_t n, uint64_t *rng) {
  guarded g = {0};
  g.n = n, g.off = (int64_t)(tu_next(rng) % 16);
  g.mem = malloc((size_t)(n + g.off + 2 * GUARD) * sizeof(float));
  uint32_t bits = GUARD_BITS;
  for (int64_t i = 0; i < n + g.off + 2 * GUARD; i++) memcpy(&g.mem[i], &bits, 4);
  g.p = g.mem + GUARD + g.off;
  return g;
}

/* Number of guard words that changed; frees the buffer. */
static int64_t g_free(guarded g) {
  int64_t bad = 0;
  for (int64_t i = 0; i < g.n + g.off + 2 * GUARD; i++) {
    uint32_t u;
    memcpy(&u, &g.mem[i], 4);
    if ((i < GUARD + g.off || i >= GUARD + g.off + g.n) && u != GUARD_BITS) bad++;
  }
  free(g.mem);
  return bad;
}

static int same_bits(const float *a, const float *b, int64_t n) {
  return n == 0 || memcmp(a, b, (size_t)n * 4) == 0;
}

static const distac_dtype types[] = {DISTAC_F32, DISTAC_F16, DISTAC_BF16};
static const char *tname[] = {"f32", "f16", "bf16"};

/* n random values of dtype t (magnitudes 2^-8 .. 2^8, so differences round)
 * and their exact f32 values. */
static void *rand_typed(distac_dtype t, int64_t n, float *wide, uint64_t *rng) {
  tu_fill(rng, wide, n, 1.0f);
  for (int64_t i = 0; i < n; i++) wide[i] = ldexpf(wide[i], (int)(tu_next(rng) % 17) - 8);
  if (t == DISTAC_F32) {
    float *p = malloc((size_t)n * 4 + 4);
    memcpy(p, wide, (size_t)n * 4);
    return p;
  }
  uint16_t *h = malloc((size_t)n * 2 + 2);
  distac_convert_scalar(t, h, DISTAC_F32, wide, n);
  distac_convert_scalar(DISTAC_F32, wide, t, h, n); /* exact widening, checked by test_convert */
  return h;
}

static void test_sub(tu_counts *c, distac_isa isa, uint64_t *rng) {
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++) {
      double worst = 0;
      int64_t bad = 0;
      for (size_t z = 0; z < N_SIZES; z++) {
        int64_t n = sizes[z];
        float *wa = malloc((size_t)n * 4 + 4), *wb = malloc((size_t)n * 4 + 4);
        float *ref = malloc((size_t)n * 4 + 4);
        double *want = malloc((size_t)n * 8 + 8);
        void *ft = rand_typed(types[a], n, wa, rng), *base = rand_typed(types[b], n, wb, rng);
        for (int64_t i = 0; i < n; i++) want[i] = (double)wa[i] - wb[i];
        guarded g = g_new(n, rng);
        bad += distac_sub_isa(isa, g.p, types[a], ft, types[b], base, n) != DISTAC_OK;
        distac_sub_scalar(ref, types[a], ft, types[b], base, n);
        double e = tu_rel_err(g.p, want, n);
        worst = e > worst ? e : worst;
        bad += !same_bits(g.p, ref, n);
        bad += g_free(g);
        free(wa), free(wb), free(ref), free(want), free(ft), free(base);
      }
      char what[64];
      snprintf(what, sizeof what, "sub %s - %s", tname[a], tname[b]);
      tu_check(c, bad == 0 && worst <= 1e-7, distac_isa_name(isa), what, worst);
    }
}

/* Exact-enough float64 reference: each square is exact, Kahan-summed. */
static double sumsq_ref(const float *x, int64_t n) {
  double s = 0, comp = 0;
  for (int64_t i = 0; i < n; i++) {
    double y = (double)x[i] * x[i] - comp, t = s + y;
    comp = (t - s) - y, s = t;
  }
  return s;
}

static void test_sumsq(tu_counts *c, distac_isa isa, uint64_t *rng) {
  /* enough blocks for 7 workers at 16 blocks each (TV_SUMSQ_GRAIN) */
  const int64_t n_max = 7 * 16 * DISTAC_SUMSQ_BLOCK + 777;
  float *x = malloc(n_max * 4);
  tu_fill(rng, x, n_max, 3.0f);
  double worst = 0;
  int64_t bad = 0;
  const int64_t ns[] = {0, 1, 17, 1000, DISTAC_SUMSQ_BLOCK, DISTAC_SUMSQ_BLOCK + 1, n_max};
  for (size_t z = 0; z < sizeof ns / sizeof ns[0]; z++) {
    int64_t n = ns[z];
    double want = sumsq_ref(x, n), got[5];
    const int threads[] = {1, 2, 3, 7, 0};
    for (int k = 0; k < 5; k++)
      bad += distac_sumsq_isa(isa, x, n, &got[k], threads[k]) != DISTAC_OK;
    for (int k = 1; k < 5; k++) bad += memcmp(&got[k], &got[0], 8) != 0;
    double scalar;
    distac_sumsq_scalar(x, n, &scalar, 1);
    bad += memcmp(&scalar, &got[0], 8) != 0; /* one fixed order on every ISA */
    double e = want ? fabs(got[0] - want) / want : fabs(got[0]);
    worst = e > worst ? e : worst;
  }
  tu_check(c, bad == 0 && worst <= 1e-12, distac_isa_name(isa),
           "sumsq: float64 ref, threads 1,2,3,7, = scalar", worst);

  double out = 0;
  float keep = x[n_max - 3];
  x[n_max - 3] = NAN;
  int ok = distac_sumsq_isa(isa, x, n_max, &out, 3) == DISTAC_OK && isnan(out);
  x[n_max - 3] = INFINITY;
  ok &= distac_sumsq_isa(isa, x, n_max, &out, 3) == DISTAC_OK && isinf(out);
  x[n_max - 3] = keep;
  out = 42;
  ok &= distac_sumsq_isa(isa, x, -1, &out, 1) == DISTAC_EINVAL && out == 42;
  ok &= distac_sumsq_isa(isa, NULL, 5, &out, 1) == DISTAC_EINVAL && out == 42;
  ok &= distac_sumsq_isa(isa, x, 5, NULL, 1) == DISTAC_EINVAL;
  tu_check(c, ok, distac_isa_name(isa), "sumsq: NaN, Inf, bad arguments", 0);
  free(x);
}

static void test_scale_axpy(tu_counts *c, distac_isa isa, uint64_t *rng) {
  double worst_s = 0, worst_a = 0;
  int64_t bad_s = 0, bad_a = 0;
  for (size_t z = 0; z < N_SIZES; z++) {
    int64_t n = sizes[z];
    float *x = malloc((size_t)n * 4 + 4), *y0 = malloc((size_t)n * 4 + 4);
    double *want = malloc((size_t)n * 8 + 8);
    tu_fill(rng, x, n, 1.0f), tu_fill(rng, y0, n, 1.0f);
    const float a = -0.37f;

    guarded g = g_new(n, rng);
    memcpy(g.p, x, (size_t)n * 4);
    bad_s += distac_scale_isa(isa, g.p, n, a) != DISTAC_OK;
    for (int64_t i = 0; i < n; i++) want[i] = (double)x[i] * a;
    double e = tu_rel_err(g.p, want, n);
    worst_s = e > worst_s ? e : worst_s;
    bad_s += g_free(g);

    g = g_new(n, rng);
    memcpy(g.p, y0, (size_t)n * 4);
    bad_a += distac_axpy_isa(isa, n, a, x, g.p) != DISTAC_OK;
    for (int64_t i = 0; i < n; i++) want[i] = (double)y0[i] + (double)a * x[i];
    e = tu_rel_err(g.p, want, n);
    worst_a = e > worst_a ? e : worst_a;
    bad_a += g_free(g);
    free(x), free(y0), free(want);
  }
  tu_check(c, bad_s == 0 && worst_s <= 1e-7, distac_isa_name(isa), "scale", worst_s);
  tu_check(c, bad_a == 0 && worst_a <= 1e-6, distac_isa_name(isa), "axpy", worst_a);
  float v[3] = {1, 2, 3};
  int ok = distac_scale_isa(isa, v, -1, 2) == DISTAC_EINVAL &&
           distac_scale_isa(isa, NULL, 3, 2) == DISTAC_EINVAL &&
           distac_axpy_isa(isa, 3, 2, NULL, v) == DISTAC_EINVAL &&
           distac_axpy_isa(isa, -2, 2, v, v) == DISTAC_EINVAL && v[0] == 1 && v[2] == 3;
  tu_check(c, ok, distac_isa_name(isa), "scale/axpy: bad arguments", 0);
}

static void test_wsum(tu_counts *c, distac_isa isa, uint64_t *rng) {
  const int32_t counts[] = {1, 2, 3, 8};
  for (int k = 0; k < 4; k++) {
    int32_t count = counts[k];
    double worst = 0;
    int64_t bad = 0;
    for (size_t z = 0; z < N_SIZES; z++) {
      int64_t n = sizes[z];
      float *xs[8], w[8];
      double *want = calloc((size_t)n + 1, 8);
      for (int t = 0; t < count; t++) {
        xs[t] = malloc((size_t)n * 4 + 4);
        tu_fill(rng, xs[t], n, 1.0f);
        w[t] = tu_uniform(rng, 1.0f);
        for (int64_t i = 0; i < n; i++) want[i] += (double)w[t] * xs[t][i];
      }
      guarded g = g_new(n, rng);
      bad += distac_wsum_isa(isa, g.p, count, (const float *const *)xs, w, n) != DISTAC_OK;
      double e = tu_rel_err(g.p, want, n);
      worst = e > worst ? e : worst;
      bad += g_free(g);
      for (int t = 0; t < count; t++) free(xs[t]);
      free(want);
    }
    char what[64];
    snprintf(what, sizeof what, "wsum count=%d", count);
    tu_check(c, bad == 0 && worst <= 1e-6, distac_isa_name(isa), what, worst);
  }
  float v[2] = {1, 2}, w = 1;
  const float *xs[1] = {v};
  int ok = distac_wsum_isa(isa, v, 0, xs, &w, 2) == DISTAC_EINVAL &&
           distac_wsum_isa(isa, v, 1, NULL, &w, 2) == DISTAC_EINVAL &&
           distac_wsum_isa(isa, v, 1, xs, NULL, 2) == DISTAC_EINVAL &&
           distac_wsum_isa(isa, v, 1, xs, &w, -1) == DISTAC_EINVAL && v[0] == 1 && v[1] == 2;
  tu_check(c, ok, distac_isa_name(isa), "wsum: bad arguments", 0);
}

static void test_sub_args(tu_counts *c, distac_isa isa) {
  float dst[2] = {5, 6}, src[2] = {1, 2};
  int ok = distac_sub_isa(isa, dst, (distac_dtype)3, src, DISTAC_F32, src, 2) == DISTAC_EINVAL &&
           distac_sub_isa(isa, dst, DISTAC_F32, src, DISTAC_F32, NULL, 2) == DISTAC_EINVAL &&
           distac_sub_isa(isa, dst, DISTAC_F32, src, DISTAC_F32, src, -1) == DISTAC_EINVAL &&
           distac_sub_isa(isa, NULL, DISTAC_F32, NULL, DISTAC_F32, NULL, 0) == DISTAC_OK &&
           dst[0] == 5 && dst[1] == 6;
  tu_check(c, ok, distac_isa_name(isa), "sub: bad arguments", 0);
}

/* sub_accum over three tasks against sub, wsum (count 3) and sumsq of the same
 * ISA, bit for bit: tau and acc between guards at odd offsets, acc poisoned
 * before the first task (which must not read it); every dtype pair. */
static void test_sub_accum(tu_counts *c, distac_isa isa, uint64_t *rng) {
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++) {
      double worst = 0;
      int64_t bad = 0;
      for (size_t z = 0; z < N_SIZES; z++) {
        int64_t n = sizes[z];
        float *wide = malloc((size_t)n * 4 + 4), *taus[3], w[3];
        void *fts[3], *base = rand_typed(types[b], n, wide, rng);
        double *want = calloc((size_t)n + 1, 8), ss_want[3];
        float *wbase = malloc((size_t)n * 4 + 4), *ref = malloc((size_t)n * 4 + 4);
        memcpy(wbase, wide, (size_t)n * 4);
        for (int t = 0; t < 3; t++) {
          fts[t] = rand_typed(types[a], n, wide, rng);
          w[t] = t == 1 ? 1.0f : tu_uniform(rng, 1.0f);
          taus[t] = malloc((size_t)n * 4 + 4);
          bad += distac_sub_isa(isa, taus[t], types[a], fts[t], types[b], base, n) != DISTAC_OK;
          bad += distac_sumsq_isa(isa, taus[t], n, &ss_want[t], 1) != DISTAC_OK;
          for (int64_t i = 0; i < n; i++) want[i] += (double)w[t] * ((double)wide[i] - wbase[i]);
        }
        bad += distac_wsum_isa(isa, ref, 3, (const float *const *)taus, w, n) != DISTAC_OK;
        guarded acc = g_new(n, rng);
        for (int64_t i = 0; i < n; i++) acc.p[i] = NAN;
        for (int t = 0; t < 3; t++) {
          guarded tau = g_new(n, rng);
          double ss = -1;
          bad += distac_sub_accum_isa(isa, tau.p, acc.p, types[a], fts[t], types[b], base, n, w[t],
                                      t == 0, &ss) != DISTAC_OK;
          bad += !same_bits(tau.p, taus[t], n) || memcmp(&ss, &ss_want[t], 8) != 0;
          bad += g_free(tau);
        }
        bad += !same_bits(acc.p, ref, n);
        double e = tu_rel_err(acc.p, want, n);
        worst = e > worst ? e : worst;
        bad += g_free(acc);
        /* No outputs but the sum; then tau in place over an f32 ft. */
        double ss = -1;
        bad += distac_sub_accum_isa(isa, NULL, NULL, types[a], fts[0], types[b], base, n, 1, 0, &ss) !=
               DISTAC_OK;
        bad += memcmp(&ss, &ss_want[0], 8) != 0;
        if (types[a] == DISTAC_F32) {
          bad += distac_sub_accum_isa(isa, fts[0], NULL, DISTAC_F32, fts[0], types[b], base, n, 1, 0,
                                      NULL) != DISTAC_OK;
          bad += !same_bits(fts[0], taus[0], n);
        }
        for (int t = 0; t < 3; t++) free(fts[t]), free(taus[t]);
        free(wide), free(base), free(want), free(wbase), free(ref);
      }
      char what[64];
      snprintf(what, sizeof what, "sub_accum %s - %s = sub, wsum, sumsq", tname[a], tname[b]);
      tu_check(c, bad == 0 && worst <= 1e-6, distac_isa_name(isa), what, worst);
    }
  float v[2] = {1, 2}, acc[2] = {5, 6};
  double ss = 42;
  int ok = distac_sub_accum_isa(isa, NULL, acc, (distac_dtype)3, v, DISTAC_F32, v, 2, 1, 1, &ss) == DISTAC_EINVAL &&
           distac_sub_accum_isa(isa, NULL, acc, DISTAC_F32, v, DISTAC_F32, NULL, 2, 1, 1, &ss) == DISTAC_EINVAL &&
           distac_sub_accum_isa(isa, NULL, acc, DISTAC_F32, v, DISTAC_F32, v, -1, 1, 1, &ss) == DISTAC_EINVAL &&
           acc[0] == 5 && acc[1] == 6 && ss == 42 &&
           distac_sub_accum_isa(isa, NULL, NULL, DISTAC_F32, NULL, DISTAC_F32, NULL, 0, 1, 1, &ss) == DISTAC_OK &&
           ss == 0;
  /* NaN in an input reaches the sum (and the outputs). */
  v[1] = NAN;
  ok &= distac_sub_accum_isa(isa, NULL, acc, DISTAC_F32, v, DISTAC_F32, v + 0, 2, 1, 1, &ss) == DISTAC_OK &&
        isnan(ss) && acc[0] == 0 && isnan(acc[1]);
  tu_check(c, ok, distac_isa_name(isa), "sub_accum: bad arguments, NaN", 0);
}

int main(void) {
  tu_counts c = {0};
  uint64_t rng = 0x5eed;
  const distac_isa isas[] = TU_ISAS;
  for (int k = 0; k < 3; k++) {
    if (!tu_isa_runs(&c, isas[k])) continue;
    test_sub(&c, isas[k], &rng);
    test_sub_args(&c, isas[k]);
    test_sumsq(&c, isas[k], &rng);
    test_scale_axpy(&c, isas[k], &rng);
    test_wsum(&c, isas[k], &rng);
    test_sub_accum(&c, isas[k], &rng);
  }
  return tu_finish(&c);
}
