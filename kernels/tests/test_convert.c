/*
 * test_convert.c — distac_convert on every instruction set this CPU runs.
 *
 * The scalar variant is checked against an independent float64 oracle
 * (round to nearest even through nearbyint/ldexp); every variant must then
 * match the scalar bits exactly: all 65536 f16 and bf16 patterns, a sweep of
 * f32 patterns around every rounding boundary, unaligned buffers between
 * guards, outputs large enough to take the streaming path, and bad arguments.
 */
#include <math.h>

#include "testutil.h"

static uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static float float_of(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* Oracle f32 -> 16-bit float with `mbits` mantissa bits and exponent bias
 * `bias` (f16: 10, 15; bf16: 7, 127), round to nearest even in float64. */
static uint16_t oracle_narrow(float f, int mbits, int bias) {
  uint32_t x = bits_of(f);
  uint16_t sign = (uint16_t)(x >> 16 & 0x8000);
  int emax = 2 * bias + 1; /* all-ones exponent field */
  uint16_t inf = (uint16_t)(sign | emax << mbits);
  if (isnan(f)) {
    uint16_t quiet = (uint16_t)(1u << (mbits - 1));
    return (uint16_t)(inf | quiet | ((x & 0x7fffff) >> (23 - mbits)));
  }
  double a = fabs((double)f);
  if (isinf(a)) return inf;
  double min_normal = ldexp(1, 1 - bias);
  if (a < min_normal) /* subnormal unit 2^(1 - bias - mbits); the result may reach min_normal */
    return (uint16_t)(sign | (uint16_t)nearbyint(ldexp(a, bias - 1 + mbits)));
  int e;
  frexp(a, &e); /* a in [2^(e-1), 2^e) */
  double q = nearbyint(ldexp(a, mbits + 1 - e));
  if (q == ldexp(1, mbits + 1)) q /= 2, e++;
  int field = e - 1 + bias;
  if (field >= emax) return inf;
  return (uint16_t)(sign | field << mbits | ((uint32_t)q - (1u << mbits)));
}

/* Oracle f16 -> f32 (exact; NaN quieted with its payload). */
static uint32_t oracle_widen_f16(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  int exp = h >> 10 & 0x1f, mant = h & 0x3ff;
  if (exp == 0x1f) return sign | 0x7f800000 | (mant ? 0x400000 | (uint32_t)mant << 13 : 0);
  double v = exp ? ldexp(1024 + mant, exp - 25) : ldexp(mant, -24);
  return sign | bits_of((float)v);
}

/* The f32 sweep: every top-19-bit prefix with low bits at, just above and just
 * below each rounding position, plus random low bits. */
static const uint32_t low_bits[] = {0, 1, 0x0fff, 0x1000, 0x1001, 0x1fff};
#define N_SWEEP ((int64_t)(1 << 19) * 7)

static void fill_sweep(float *x, uint64_t *rng) {
  int64_t k = 0;
  for (uint32_t top = 0; top < (1u << 19); top++) {
    for (int j = 0; j < 6; j++) x[k++] = float_of(top << 13 | low_bits[j]);
    x[k++] = float_of(top << 13 | (uint32_t)(tu_next(rng) & 0x1fff));
  }
}

static int oracle_checks(tu_counts *c, const float *sweep) {
  uint16_t *h = malloc(N_SWEEP * 2);
  float *w = malloc(65536 * 4);
  uint16_t all[65536];
  for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
  int64_t bad = 0;
  distac_convert_scalar(DISTAC_F16, h, DISTAC_F32, sweep, N_SWEEP);
  for (int64_t i = 0; i < N_SWEEP; i++) bad += h[i] != oracle_narrow(sweep[i], 10, 15);
  tu_check(c, bad == 0, "scalar", "f32->f16 vs float64 oracle", (double)bad);
  bad = 0;
  distac_convert_scalar(DISTAC_BF16, h, DISTAC_F32, sweep, N_SWEEP);
  for (int64_t i = 0; i < N_SWEEP; i++) bad += h[i] != oracle_narrow(sweep[i], 7, 127);
  tu_check(c, bad == 0, "scalar", "f32->bf16 vs float64 oracle", (double)bad);
  bad = 0;
  distac_convert_scalar(DISTAC_F32, w, DISTAC_F16, all, 65536);
  for (int i = 0; i < 65536; i++) bad += bits_of(w[i]) != oracle_widen_f16(all[i]);
  tu_check(c, bad == 0, "scalar", "f16->f32 vs float64 oracle", (double)bad);
  bad = 0;
  distac_convert_scalar(DISTAC_F32, w, DISTAC_BF16, all, 65536);
  for (int i = 0; i < 65536; i++) bad += bits_of(w[i]) != (uint32_t)i << 16;
  tu_check(c, bad == 0, "scalar", "bf16->f32 is the top half", (double)bad);

  /* Hand-computed boundary cases (f32 bits in, f16 and bf16 bits out). */
  static const uint32_t cases[][3] = {
      {0x3f800000, 0x3c00, 0x3f80}, /* 1 */
      {0x80000000, 0x8000, 0x8000}, /* -0 */
      {0x477fe000, 0x7bff, 0x4780}, /* 65504, the largest f16 */
      {0x477fefff, 0x7bff, 0x4780}, /* just below 65520 */
      {0x477ff000, 0x7c00, 0x4780}, /* 65520: the f16 tie to Inf */
      {0x7f7fffff, 0x7c00, 0x7f80}, /* FLT_MAX: bf16 rounds up to Inf */
      {0x7f800000, 0x7c00, 0x7f80}, /* Inf */
      {0xff800000, 0xfc00, 0xff80}, /* -Inf */
      {0x3f801000, 0x3c00, 0x3f80}, /* 1 + 2^-11: f16 tie to even (down) */
      {0x3f803000, 0x3c02, 0x3f80}, /* 1 + 3*2^-11: f16 tie to even (up) */
      {0x3f808000, 0x3c04, 0x3f80}, /* 1 + 2^-8: bf16 tie to even (down) */
      {0x3f818000, 0x3c0c, 0x3f82}, /* 1 + 3*2^-8: bf16 tie to even (up) */
      {0x38800000, 0x0400, 0x3880}, /* 2^-14, the smallest normal f16 */
      {0x387fc000, 0x03ff, 0x3880}, /* 1023*2^-24, the largest subnormal f16 */
      {0x387fe000, 0x0400, 0x3880}, /* 1023.5*2^-24: rounds up to normal */
      {0x33800000, 0x0001, 0x3380}, /* 2^-24, the smallest subnormal f16 */
      {0x33000000, 0x0000, 0x3300}, /* 2^-25: tie to the even zero */
      {0x33000001, 0x0001, 0x3300}, /* just above 2^-25 */
      {0x33c00000, 0x0002, 0x33c0}, /* 1.5*2^-24: tie to even (up) */
      {0x00000001, 0x0000, 0x0000}, /* the smallest f32 subnormal */
      {0x80000001, 0x8000, 0x8000},
      {0x00008000, 0x0000, 0x0000}, /* bf16 subnormal tie to even (down) */
      {0x00018000, 0x0000, 0x0002}, /* bf16 subnormal tie to even (up) */
      {0x00010000, 0x0000, 0x0001}, /* the smallest bf16 subnormal */
      {0x7fc00000, 0x7e00, 0x7fc0}, /* quiet NaN */
      {0x7f800001, 0x7e00, 0x7fc0}, /* signalling NaN: quieted, never Inf */
      {0xffc02000, 0xfe01, 0xffc0}, /* payload kept where it fits */
      {0x7fffffff, 0x7fff, 0x7fff}, /* must not round into the sign */
  };
  bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint16_t a, b;
    float f = float_of(cases[i][0]);
    distac_convert_scalar(DISTAC_F16, &a, DISTAC_F32, &f, 1);
    distac_convert_scalar(DISTAC_BF16, &b, DISTAC_F32, &f, 1);
    if (a != cases[i][1] || b != cases[i][2]) {
      printf("  %08x: f16 %04x want %04x, bf16 %04x want %04x\n", cases[i][0], a, cases[i][1], b,
             cases[i][2]);
      bad++;
    }
  }
  tu_check(c, bad == 0, "scalar", "hand-computed boundary cases", (double)bad);
  free(h), free(w);
  return 0;
}

/* Runs isa and scalar on the same input and compares the output bytes. */
static int64_t diff_vs_scalar(distac_isa isa, distac_dtype dt, distac_dtype st, const void *src,
                              int64_t n) {
  size_t ds = dt == DISTAC_F32 ? 4 : 2;
  unsigned char *a = malloc(n * ds + 1), *b = malloc(n * ds + 1);
  int rc = distac_convert_isa(isa, dt, a, st, src, n);
  distac_convert_scalar(dt, b, st, src, n);
  int64_t bad = rc != DISTAC_OK;
  for (int64_t i = 0; i < n && !bad; i++) bad += memcmp(a + i * ds, b + i * ds, ds) != 0;
  free(a), free(b);
  return bad;
}

/* Converts n random elements at byte offset `off` of a guarded buffer. */
static int64_t guarded(distac_isa isa, distac_dtype dt, distac_dtype st, int64_t n, int off,
                       uint64_t *rng) {
  size_t ds = dt == DISTAC_F32 ? 4 : 2, ss = st == DISTAC_F32 ? 4 : 2;
  const int g = 64;
  unsigned char *src = malloc(n * ss + 64), *out = malloc(n * ds + 2 * g + 64);
  unsigned char *ref = malloc(n * ds + 1);
  for (int64_t i = 0; i < n * (int64_t)ss + 64; i++) src[i] = (unsigned char)tu_next(rng);
  memset(out, 0xab, n * ds + 2 * g + 64);
  unsigned char *dst = out + g + off * ds;
  int64_t bad = distac_convert_isa(isa, dt, dst, st, src + off * ss, n) != DISTAC_OK;
  distac_convert_scalar(dt, ref, st, src + off * ss, n);
  bad += n > 0 && memcmp(dst, ref, n * ds) != 0;
  for (unsigned char *p = out; p < out + n * ds + 2 * g + 64; p++)
    if ((p < dst || p >= dst + n * ds) && *p != 0xab) bad++;
  free(src), free(out), free(ref);
  return bad;
}

static const distac_dtype types[] = {DISTAC_F32, DISTAC_F16, DISTAC_BF16};
static const char *tname[] = {"f32", "f16", "bf16"};

int main(void) {
  tu_counts c = {0};
  uint64_t rng = 0x5eed;
  float *sweep = malloc(N_SWEEP * 4);
  fill_sweep(sweep, &rng);
  oracle_checks(&c, sweep);

  uint16_t all[65536];
  for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
  const distac_isa isas[] = TU_ISAS;
  for (int k = 0; k < 3; k++) {
    distac_isa isa = isas[k];
    const char *name = distac_isa_name(isa);
    if (!tu_isa_runs(&c, isa)) continue;
    char what[64];
    for (int d = 0; d < 3; d++)
      for (int s = 0; s < 3; s++) {
        int64_t bad;
        if (types[s] == DISTAC_F32) bad = diff_vs_scalar(isa, types[d], DISTAC_F32, sweep, N_SWEEP);
        else bad = diff_vs_scalar(isa, types[d], types[s], all, 65536);
        snprintf(what, sizeof what, "%s->%s all patterns", tname[s], tname[d]);
        tu_check(&c, bad == 0, name, what, (double)bad);
      }
    /* sizes around the vector widths and the streaming threshold, unaligned */
    static const int64_t sizes[] = {0, 1, 7, 8, 9, 15, 16, 17, 33, 100, 1000, (1 << 21) + 13};
    for (int d = 0; d < 3; d++)
      for (int s = 0; s < 3; s++) {
        int64_t bad = 0;
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
          for (int off = 0; off < 3; off++)
            if (sizes[z] <= 1000 || off == 1) /* big sizes: one unaligned offset */
              bad += guarded(isa, types[d], types[s], sizes[z], off, &rng);
        snprintf(what, sizeof what, "%s->%s sizes, offsets, guards", tname[s], tname[d]);
        tu_check(&c, bad == 0, name, what, (double)bad);
      }
    /* bad arguments return EINVAL and write nothing */
    uint16_t out[4] = {1, 2, 3, 4};
    int ok = distac_convert_isa(isa, DISTAC_F16, out, (distac_dtype)7, all, 4) == DISTAC_EINVAL &&
             distac_convert_isa(isa, (distac_dtype)3, out, DISTAC_F16, all, 4) == DISTAC_EINVAL &&
             distac_convert_isa(isa, DISTAC_F16, out, DISTAC_BF16, all, -1) == DISTAC_EINVAL &&
             distac_convert_isa(isa, DISTAC_F16, NULL, DISTAC_BF16, all, 4) == DISTAC_EINVAL &&
             distac_convert_isa(isa, DISTAC_F16, out, DISTAC_BF16, NULL, 4) == DISTAC_EINVAL &&
             distac_convert_isa(isa, DISTAC_F16, NULL, DISTAC_BF16, NULL, 0) == DISTAC_OK &&
             out[0] == 1 && out[3] == 4;
    tu_check(&c, ok, name, "bad arguments", 0);
  }
  free(sweep);
  return tu_finish(&c);
}
