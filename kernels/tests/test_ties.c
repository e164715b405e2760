/*
 * test_ties.c — ties_trim, ties_merge and tall_consensus on
 * every instruction set this CPU runs, against references written from the
 * header's definitions (double for the means; the sign election and the
 * TALL masks repeat the spec's float operations, so they must match exactly).
 *
 *   gcc -std=c11 -O2 -Ikernels/include -Ikernels/avx kernels/avx/runtime.c \
 *       kernels/avx/ties.c kernels/avx/tall.c kernels/tests/test_ties.c -lm -lpthread
 */
#include "testutil.h"

/* Sizes around SIMD widths and blocks; the last
 * passes the streaming-store threshold (16 MiB of output) at an odd offset. */
#define BIG ((1 << 22) + 13)
static const int64_t sizes[] = {0, 1, 7, 8, 15, 16, 17, 31, 33, 64, 65, 1000, 16383, 16397, 100003,
                                300007, BIG};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))
#define OFF 3 /* outputs and inputs start 12 bytes past an aligned address */

static const uint32_t POISON = 0x7fc0dead;

static float f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
static uint32_t bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
static void poison(float *p, int64_t n) {
  for (int64_t i = 0; i < n; i++) p[i] = f32(POISON);
}

/* count inputs of n elements (fill's data, specials for odd k), each
 * starting OFF floats past its allocation; free with free_inputs. */
static void make_inputs(uint64_t *s, float **xs, int count, int64_t n, int k) {
  for (int t = 0; t < count; t++) {
    xs[t] = malloc((size_t)(n + OFF) * 4);
    tu_fill_taskvec(s, xs[t] + OFF, n, k % 2);
    xs[t] += OFF;
  }
}

static void free_inputs(float **xs, int count) {
  for (int t = 0; t < count; t++) free(xs[t] - OFF);
}

/* ------------------------------------------------------------------ trim */

static void test_trim(tu_counts *c, distac_isa isa, uint64_t *s) {
  const float thresholds[] = {0.0f, 0.005f, 0.02f, NAN, INFINITY};
  int ok = 1;
  for (int k = 0; k < NSIZES && ok; k++) {
    int64_t n = sizes[k];
    float *x = malloc((size_t)(n + OFF) * sizeof *x), *y = malloc((size_t)(n + OFF + 1) * 4);
    tu_fill_taskvec(s, x + OFF, n, 1);
    for (int j = 0; j < 5 && ok; j++) {
      float thr = thresholds[j];
      poison(y, n + OFF + 1);
      ok = distac_ties_trim_isa(isa, y + OFF, x + OFF, n, thr) == DISTAC_OK;
      for (int64_t i = 0; i < n && ok; i++) {
        float v = x[OFF + i];
        float want = fabs((double)v) < (double)thr ? 0.0f : v;
        ok = bits(y[OFF + i]) == bits(want) || (isnan(want) && isnan(y[OFF + i]) &&
                                                bits(y[OFF + i]) != POISON);
      }
      ok = ok && bits(y[OFF - 1]) == POISON && bits(y[OFF + n]) == POISON;
      /* in place */
      memcpy(y + OFF, x + OFF, (size_t)n * 4);
      ok = ok && distac_ties_trim_isa(isa, y + OFF, y + OFF, n, thr) == DISTAC_OK;
      for (int64_t i = 0; i < n && ok; i++) {
        float v = x[OFF + i];
        ok = bits(y[OFF + i]) == bits(fabsf(v) < thr ? 0.0f : v) || isnan(v);
      }
      if (!ok) printf("  trim n=%lld threshold=%g\n", (long long)n, thr);
    }
    free(x), free(y);
  }
  tu_check(c, ok, distac_isa_name(isa), "ties_trim exact, in place, NaN kept", 0);
  float one = 1.0f, out = 5.0f;
  int bad = distac_ties_trim_isa(isa, &out, &one, -1, 0.5f) == DISTAC_EINVAL &&
            distac_ties_trim_isa(isa, NULL, &one, 1, 0.5f) == DISTAC_EINVAL &&
            distac_ties_trim_isa(isa, &out, NULL, 1, 0.5f) == DISTAC_EINVAL && out == 5.0f &&
            distac_ties_trim_isa(isa, NULL, NULL, 0, 0.5f) == DISTAC_OK;
  tu_check(c, bad, distac_isa_name(isa), "ties_trim bad arguments", 0);
}

/* ----------------------------------------------------------------- merge */

/* The header's definition: the sign election repeats its float sum, the mean
 * is taken in double. Returns NaN where a trimmed input is NaN. */
static double merge_ref(int count, float *const *xs, const float *thr, int64_t i) {
  float s = 0.0f;
  for (int t = 0; t < count; t++) s += fabsf(xs[t][i]) < thr[t] ? 0.0f : xs[t][i];
  double sum = 0;
  int agree = 0;
  for (int t = 0; t < count; t++) {
    float v = fabsf(xs[t][i]) < thr[t] ? 0.0f : xs[t][i];
    if (isnan(v)) return NAN;
    if (s >= 0 ? v > 0 : v < 0) sum += v, agree++;
  }
  return agree ? sum / agree : 0.0;
}

static void test_merge(tu_counts *c, distac_isa isa, uint64_t *s) {
  static const int counts[] = {1, 2, 3, 8};
  double worst = 0;
  int ok = 1;
  for (int q = 0; q < 4 && ok; q++) {
    int count = counts[q];
    for (int k = 0; k < NSIZES - (count > 2) && ok; k++) { /* BIG with 1 and 2 inputs */
      int64_t n = sizes[k];
      float *xs[8], thr[8];
      make_inputs(s, xs, count, n, k);
      for (int t = 0; t < count; t++)
        thr[t] = t == 0 ? 0.0f : 0.005f * (float)(t % 3); /* includes 0: keep all */
      float *y = malloc((size_t)(n + OFF + 1) * 4);
      double *want = malloc((size_t)(n + 1) * sizeof *want);
      poison(y, n + OFF + 1);
      ok = distac_ties_merge_isa(isa, y + OFF, count, (const float *const *)xs, thr, n) ==
           DISTAC_OK;
      for (int64_t i = 0; i < n; i++) want[i] = merge_ref(count, xs, thr, i);
      for (int64_t i = 0; i < n && ok; i++) {
        float g = y[OFF + i];
        if (isnan(want[i]) || isnan(g)) ok = isnan(want[i]) && isnan(g) && bits(g) != POISON;
        else if (isinf(want[i]) || isinf(g)) ok = want[i] == g;
        else {
          double e = fabs(g - want[i]);
          ok = e <= 1e-6 * fabs(want[i]) + 1e-30;
          if (e > worst) worst = e;
        }
        if (!ok) printf("  merge count=%d n=%lld i=%lld got %g want %g\n", count, (long long)n,
                        (long long)i, g, want[i]);
      }
      ok = ok && bits(y[OFF - 1]) == POISON && bits(y[OFF + n]) == POISON;
      free_inputs(xs, count);
      free(y), free(want);
    }
  }
  tu_check(c, ok, distac_isa_name(isa), "ties_merge vs reference (1,2,3,8 inputs)", worst);

  /* Crafted: all zero -> 0; exact cancellation elects +; NaN propagates;
   * all trimmed -> 0; +Inf + -Inf sums to NaN, which elects -. */
  float a[] = {0, 1, 0.5f, NAN, 0.001f, INFINITY, -2};
  float b[] = {0, -1, -0.25f, 1, -0.001f, -INFINITY, -4};
  const float *ab[] = {a, b};
  float th[] = {0, 0.01f}, y[7];
  ok = distac_ties_merge_isa(isa, y, 2, ab, th, 7) == DISTAC_OK;
  ok = ok && bits(y[0]) == 0 && y[1] == 1.0f && y[2] == 0.5f && isnan(y[3]) && y[4] == 0.001f &&
       y[5] == -INFINITY && y[6] == -3.0f;
  tu_check(c, ok, distac_isa_name(isa), "ties_merge crafted (zeros, ties, NaN, Inf)", 0);

  float keep = 9.0f, one = 1.0f;
  const float *xs1[] = {&one}, *xsnull[] = {NULL};
  int bad = distac_ties_merge_isa(isa, &keep, 0, xs1, th, 1) == DISTAC_EINVAL &&
            distac_ties_merge_isa(isa, &keep, 1, NULL, th, 1) == DISTAC_EINVAL &&
            distac_ties_merge_isa(isa, &keep, 1, xs1, NULL, 1) == DISTAC_EINVAL &&
            distac_ties_merge_isa(isa, &keep, 1, xsnull, th, 1) == DISTAC_EINVAL &&
            distac_ties_merge_isa(isa, NULL, 1, xs1, th, 1) == DISTAC_EINVAL &&
            distac_ties_merge_isa(isa, &keep, 1, xs1, th, -1) == DISTAC_EINVAL && keep == 9.0f;
  tu_check(c, bad, distac_isa_name(isa), "ties_merge bad arguments", 0);
}

/* Every ISA computes the merge with the same float operations in the same
 * order, so the outputs must agree bit for bit (NaN payloads aside). */
static void test_merge_same_bits(tu_counts *c) {
  const int64_t n = 100003;
  uint64_t s = 0x5a3e;
  float *xs[5], thr[5] = {0, 0.004f, 0.002f, 0.008f, 0};
  for (int t = 0; t < 5; t++) {
    xs[t] = malloc((size_t)n * 4);
    tu_fill_taskvec(&s, xs[t], n, 1);
  }
  float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4);
  distac_isa isas[] = TU_ISAS;
  distac_ties_merge_scalar(want, 5, (const float *const *)xs, thr, n);
  for (int k = 1; k < 3; k++) {
    if (!distac_isa_supported(isas[k])) continue;
    int ok = distac_ties_merge_isa(isas[k], got, 5, (const float *const *)xs, thr, n) == DISTAC_OK;
    for (int64_t i = 0; i < n && ok; i++)
      ok = bits(got[i]) == bits(want[i]) || (isnan(got[i]) && isnan(want[i]));
    tu_check(c, ok, distac_isa_name(isas[k]), "ties_merge same bits as scalar", 0);
  }
  for (int t = 0; t < 5; t++) free(xs[t]);
  free(want), free(got);
}

/* ------------------------------------------------------------------ tall */

static void test_tall(tu_counts *c, distac_isa isa, uint64_t *s) {
  static const int counts[] = {1, 2, 3, 8};
  int ok = 1;
  for (int q = 0; q < 4 && ok; q++) {
    int count = counts[q];
    for (int k = 0; k < NSIZES - (count > 2) && ok; k++) {
      int64_t n = sizes[k];
      float *xs[8], lam[8];
      make_inputs(s, xs, count, n, k);
      for (int t = 0; t < count; t++) lam[t] = 0.2f + 0.1f * (float)(t % 5);
      float *y = malloc((size_t)(n + OFF + 1) * 4);
      uint8_t *m = malloc((size_t)(n + OFF + 1));
      for (int min_agree = n == BIG ? 2 : 0; min_agree <= 3 && ok; min_agree++) {
        for (int mode = 0; mode < 3 && ok; mode++) { /* both, counts only, dst only */
          poison(y, n + OFF + 1);
          memset(m, 0xAB, (size_t)(n + OFF + 1));
          ok = distac_tall_consensus_isa(isa, mode == 1 ? NULL : y + OFF,
                                         mode == 2 ? NULL : m + OFF, count,
                                         (const float *const *)xs, lam, min_agree,
                                         n) == DISTAC_OK;
          for (int64_t i = 0; i < n && ok; i++) {
            float mtl = 0;
            for (int t = 0; t < count; t++) mtl += xs[t][i];
            int cnt = 0;
            for (int t = 0; t < count; t++) cnt += fabsf(xs[t][i]) > lam[t] * fabsf(mtl - xs[t][i]);
            float want = cnt >= min_agree || isnan(mtl) ? mtl : 0.0f;
            if (mode != 1)
              ok = bits(y[OFF + i]) == bits(want) || (isnan(want) && isnan(y[OFF + i]) &&
                                                      bits(y[OFF + i]) != POISON);
            if (mode != 2) ok = ok && m[OFF + i] == cnt;
            if (mode == 1) ok = ok && bits(y[OFF + i]) == POISON;
            if (mode == 2) ok = ok && m[OFF + i] == 0xAB;
            if (!ok)
              printf("  tall count=%d n=%lld min=%d mode=%d i=%lld\n", count, (long long)n,
                     min_agree, mode, (long long)i);
          }
          ok = ok && bits(y[OFF - 1]) == POISON && bits(y[OFF + n]) == POISON &&
               m[OFF - 1] == 0xAB && m[OFF + n] == 0xAB;
        }
      }
      free_inputs(xs, count);
      free(y), free(m);
    }
  }
  tu_check(c, ok, distac_isa_name(isa), "tall_consensus exact (1,2,3,8 inputs)", 0);

  float keep = 9.0f, one = 1.0f, lam[1] = {0.5f};
  uint8_t cnt = 7;
  const float *xs1[] = {&one}, *xsnull[] = {NULL};
  int bad = distac_tall_consensus_isa(isa, &keep, &cnt, 0, xs1, lam, 1, 1) == DISTAC_EINVAL &&
            distac_tall_consensus_isa(isa, &keep, &cnt, 256, xs1, lam, 1, 1) == DISTAC_EINVAL &&
            distac_tall_consensus_isa(isa, &keep, &cnt, 1, NULL, lam, 1, 1) == DISTAC_EINVAL &&
            distac_tall_consensus_isa(isa, &keep, &cnt, 1, xs1, NULL, 1, 1) == DISTAC_EINVAL &&
            distac_tall_consensus_isa(isa, &keep, &cnt, 1, xsnull, lam, 1, 1) == DISTAC_EINVAL &&
            distac_tall_consensus_isa(isa, &keep, &cnt, 1, xs1, lam, 1, -1) == DISTAC_EINVAL &&
            keep == 9.0f && cnt == 7 &&
            distac_tall_consensus_isa(isa, NULL, NULL, 1, xs1, lam, 1, 1) == DISTAC_OK;
  tu_check(c, bad, distac_isa_name(isa), "tall_consensus bad arguments", 0);
}

static void test_isa(tu_counts *c, distac_isa isa) {
  uint64_t s = 0x7ee5 + (uint64_t)isa; /* isa is 0, 1, 2 */
  test_trim(c, isa, &s);
  test_merge(c, isa, &s);
  test_tall(c, isa, &s);
}

int main(void) {
  tu_counts c = {0, 0, 0};
  tu_each_isa(&c, test_isa);
  test_merge_same_bits(&c);
  return tu_finish(&c);
}
