/*
 * test_topk.c — abs_histogram and abs_window on every instruction set this
 * CPU runs, against references written from the header's definitions: the
 * counts must match exactly.
 *
 *   gcc -std=c11 -O2 -Ikernels/include -Ikernels/avx kernels/avx/runtime.c \
 *       kernels/avx/topk.c kernels/tests/test_topk.c -lm -lpthread
 */
#include "testutil.h"

/* Sizes around SIMD widths and blocks (4 << bits: sub-histograms); the last
 * is large. */
static const int64_t sizes[] = {0, 1, 7, 8, 15, 16, 17, 31, 33, 64, 65, 1000, 16383, 16397, 100003,
                                300007, (1 << 22) + 13};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))
#define OFF 3 /* inputs start 12 bytes past an aligned address */

static uint32_t bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* ------------------------------------------------------------- histogram */

static void hist_ref(const float *x, int64_t n, int shift, int nbits, uint32_t prefix,
                     uint64_t *h) {
  for (int64_t i = 0; i < n; i++) {
    uint32_t u = bits(x[i]) & 0x7fffffffu;
    if (shift + nbits >= 32 || (u >> (shift + nbits)) == prefix)
      h[(u >> shift) & ((1u << nbits) - 1)]++;
  }
}

static void test_histogram(tu_counts *c, distac_isa isa, uint64_t *s) {
  static const int digits[][2] = {{21, 10}, {16, 15}, {15, 16}, {10, 11}, {0, 10}, {0, 16},
                                  {31, 1},  {28, 8},  {20, 12}};
  int ok = 1;
  for (int k = 0; k < NSIZES - 1 && ok; k++) { /* the largest adds nothing here */
    int64_t n = sizes[k];
    float *x = malloc((size_t)(n + OFF) * sizeof *x);
    tu_fill_taskvec(s, x + OFF, n, 1);
    for (size_t d = 0; d < sizeof digits / sizeof digits[0] && ok; d++) {
      int shift = digits[d][0], nb = digits[d][1];
      /* a prefix that matches (from a real element), one too large to match, and 0 */
      uint32_t u0 = n ? bits(x[OFF + n / 2]) & 0x7fffffffu : 0;
      uint32_t hi = (uint32_t)(shift + nb);
      uint32_t prefixes[3] = {hi >= 32 ? 0 : u0 >> hi, hi >= 31 ? 1 : 1u << (31 - hi), 0};
      for (int p = 0; p < 3 && ok; p++) {
        size_t len = (size_t)1 << nb;
        uint64_t *want = calloc(len, 8), *got = calloc(len, 8);
        for (size_t b = 0; b < len; b++) want[b] = got[b] = b * 3; /* it adds to hist */
        hist_ref(x + OFF, n, shift, nb, prefixes[p], want);
        int rc = distac_abs_histogram_isa(isa, x + OFF, n, shift, nb, prefixes[p], got);
        ok = rc == DISTAC_OK && memcmp(want, got, len * 8) == 0;
        if (!ok)
          printf("  histogram n=%lld shift=%d bits=%d prefix=%u rc=%d\n", (long long)n, shift,
                 nb, prefixes[p], rc);
        free(want), free(got);
      }
    }
    free(x);
  }
  tu_check(c, ok, distac_isa_name(isa), "abs_histogram exact counts", 0);

  uint64_t h[4] = {7, 7, 7, 7};
  float one = 1.0f;
  int bad = distac_abs_histogram_isa(isa, &one, 1, 0, 0, 0, h) == DISTAC_EINVAL &&
            distac_abs_histogram_isa(isa, &one, 1, 0, 17, 0, h) == DISTAC_EINVAL &&
            distac_abs_histogram_isa(isa, &one, 1, 32, 2, 0, h) == DISTAC_EINVAL &&
            distac_abs_histogram_isa(isa, &one, 1, -1, 2, 0, h) == DISTAC_EINVAL &&
            distac_abs_histogram_isa(isa, &one, -1, 0, 2, 0, h) == DISTAC_EINVAL &&
            distac_abs_histogram_isa(isa, NULL, 1, 0, 2, 0, h) == DISTAC_EINVAL &&
            distac_abs_histogram_isa(isa, &one, 1, 0, 2, 0, NULL) == DISTAC_EINVAL &&
            h[0] == 7 && h[1] == 7 && h[2] == 7 && h[3] == 7;
  tu_check(c, bad, distac_isa_name(isa), "abs_histogram bad arguments", 0);
}

/* ---------------------------------------------------------------- window */

static uint64_t window_ref(const float *x, int64_t n, uint32_t lo, uint32_t span, uint64_t *h) {
  uint64_t above = 0;
  for (int64_t i = 0; i < n; i++) {
    uint64_t u = bits(x[i]) & 0x7fffffffu;
    if (u >= (uint64_t)lo + span) above++;
    else if (u >= lo) h[u - lo]++;
  }
  return above;
}

static void test_window(tu_counts *c, distac_isa isa, uint64_t *s) {
  int ok = 1;
  for (int k = 0; k < NSIZES && ok; k++) {
    int64_t n = sizes[k];
    float *x = malloc((size_t)(n + OFF) * sizeof *x);
    tu_fill_taskvec(s, x + OFF, n, 1);
    uint32_t mid = n ? bits(x[OFF + n / 2]) & 0x7fffffffu : 1000;
    if (mid < 500) mid = 500; /* a zero there: keep mid - 500 from wrapping */
    /* around a real element (several widths), over the quiet NaN, ending at
     * 2^31 (NaNs above), at the bottom (zeros inside), where nothing falls */
    const uint32_t wins[][2] = {{mid, 1},         {mid - 3, 7},      {mid - 500, 1000},
                                {mid, 65536},     {0x7fbffff0u, 32}, {0x7ffffff0u, 16},
                                {0, 4096},        {0x3f800000u, 5}};
    for (size_t w = 0; w < sizeof wins / sizeof wins[0] && ok; w++) {
      uint32_t lo = wins[w][0], span = wins[w][1];
      uint64_t *want = calloc(span, 8), *got = calloc(span, 8);
      for (uint32_t b = 0; b < span; b++) want[b] = got[b] = b % 5; /* it adds to hist */
      uint64_t want_up = 11 + window_ref(x + OFF, n, lo, span, want), got_up = 11;
      int rc = distac_abs_window_isa(isa, x + OFF, n, lo, span, got, &got_up);
      ok = rc == DISTAC_OK && got_up == want_up && memcmp(want, got, (size_t)span * 8) == 0;
      if (!ok)
        printf("  window n=%lld lo=%#x span=%u rc=%d above %llu want %llu\n", (long long)n, lo,
               span, rc, (unsigned long long)got_up, (unsigned long long)want_up);
      free(want), free(got);
    }
    free(x);
  }
  tu_check(c, ok, distac_isa_name(isa), "abs_window exact counts", 0);

  /* A large input in two calls, adding into one histogram. */
  int64_t n = sizes[NSIZES - 1];
  float *x = malloc((size_t)n * sizeof *x);
  tu_fill_taskvec(s, x, n, 0);
  uint32_t lo = 0x3b000000u, span = 1u << 20; /* magnitudes 2^-9 up to about 2.07e-3 */
  uint64_t *want = calloc(span, 8), *got = calloc(span, 8), got_up = 0;
  uint64_t want_up = window_ref(x, n, lo, span, want);
  ok = distac_abs_window_isa(isa, x, n / 2, lo, span, got, &got_up) == DISTAC_OK &&
       distac_abs_window_isa(isa, x + n / 2, n - n / 2, lo, span, got, &got_up) == DISTAC_OK &&
       got_up == want_up && memcmp(want, got, (size_t)span * 8) == 0;
  tu_check(c, ok, distac_isa_name(isa), "abs_window large input in two calls", 0);
  free(x), free(want), free(got);

  uint64_t hb[4] = {7, 7, 7, 7}, up = 7;
  float one = 1.0f;
  int bad = distac_abs_window_isa(isa, &one, 1, 0, 0, hb, &up) == DISTAC_EINVAL &&
            distac_abs_window_isa(isa, &one, 1, 0x7ffffffdu, 4, hb, &up) == DISTAC_EINVAL &&
            distac_abs_window_isa(isa, &one, -1, 0, 4, hb, &up) == DISTAC_EINVAL &&
            distac_abs_window_isa(isa, NULL, 1, 0, 4, hb, &up) == DISTAC_EINVAL &&
            distac_abs_window_isa(isa, &one, 1, 0, 4, NULL, &up) == DISTAC_EINVAL &&
            distac_abs_window_isa(isa, &one, 1, 0, 4, hb, NULL) == DISTAC_EINVAL &&
            hb[0] == 7 && hb[1] == 7 && hb[2] == 7 && hb[3] == 7 && up == 7;
  tu_check(c, bad, distac_isa_name(isa), "abs_window bad arguments", 0);
}

static void test_isa(tu_counts *c, distac_isa isa) {
  uint64_t s = 0x70b4 + (uint64_t)isa; /* isa is 0, 1, 2 */
  test_histogram(c, isa, &s);
  test_window(c, isa, &s);
}

TU_MAIN_EACH_ISA(test_isa)
