/*
 * test_devmath.c — the CUDA kernels' math (kernels/cuda/devmath.h), compiled
 * for the host and checked where no GPU is needed: exp, log, the float64
 * log, GELU and QuickGELU against libm in float64, and the f16/bf16
 * conversions bit for bit against the CPU kernels (exhaustive for the
 * 16-bit inputs, a sweep of f32 patterns the other way). Runs under ctest.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../devmath.h"
#include "distac_kernels.h"

static int failures;
static void check_scaled(const char *what, double x, double got, double want, double tol, double scale);
static void check_rel(const char *what, double x, double got, double want, double tol) {
  check_scaled(what, x, got, want, tol, 0);
}

/* |got - want| <= tol * max(|want|, scale): scale is the size of the terms
 * a result is a difference of (fp32 cancels there, on the CPU too). */
static void check_scaled(const char *what, double x, double got, double want, double tol, double scale) {
  double den = fabs(want) > scale ? fabs(want) : scale;
  double err = fabs(got - want) / (den > 1e-300 ? den : 1.0);
  if (!(err <= tol) && !(isnan(got) && isnan(want))) {
    if (failures < 20) printf("FAIL %s(%.9g) = %.9g, want %.9g (rel err %.3g > %.3g)\n", what, x, got, want, err, tol);
    failures++;
  }
}

int main(void) {
  /* exp over normal results: < 2 ulp (2.4e-7) as on the CPU */
  for (double x = -87.0; x <= 88.0; x += 0.00731) check_rel("dc_exp", x, dc_exp((float)x), exp((float)x), 2.5e-7);
  check_rel("dc_exp", -INFINITY, dc_exp(-INFINITY), 0.0, 0);
  if (!isnan(dc_exp(NAN))) printf("FAIL dc_exp(NaN) not NaN\n"), failures++;
  /* log: ~1 ulp, subnormals included */
  for (double x = 1e-44; x < 3e38; x *= 1.0137) check_rel("dc_log", x, dc_log((float)x), log((float)x), 2.5e-7);
  for (double x = 0.5; x < 2.0; x += 1e-5) {
    double want = log((float)x);
    double err = fabs(dc_log((float)x) - want);
    if (err > 1.2e-7) { /* near 1 the result is small: absolute bound */
      if (failures < 20) printf("FAIL dc_log(%.9g) abs err %.3g\n", x, err);
      failures++;
    }
  }
  for (double x = 1e-300; x < 1e300; x *= 1.37) check_rel("dc_log_d", x, dc_log_d(x), log(x), 4e-16);
  /* GELU and QuickGELU values and derivatives: 1e-6 relative where the
   * result is normal (the CPU SIMD paths' bound), on a grid over [-20, 20] */
  for (double x = -20.0; x <= 20.0; x += 0.000913) {
    float xf = (float)x;
    double v = xf, phi = 0.5 * erfc(-v / sqrt(2.0));
    double f = v * phi, fp = phi + v * exp(-0.5 * v * v) / 2.5066282746310002;
    double s = 1.0 / (1.0 + exp(-1.702 * v)), q = v * s, qp = s + 1.702 * v * s * (1.0 - s);
    double sf = fabs(v * exp(-0.5 * v * v) / 2.5066282746310002), sq = fabs(1.702 * v * s * (1.0 - s));
    if (fabs(f) > 1e-37) check_rel("gelu", x, dc_gelu_erf(xf, 0), f, 2e-6);
    if (fabs(fp) > 1e-37) check_scaled("gelu'", x, dc_gelu_erf(xf, 1), fp, 2e-6, phi + sf);
    if (fabs(q) > 1e-37) check_rel("quickgelu", x, dc_gelu_quick(xf, 0), q, 4e-6);
    if (fabs(qp) > 1e-37) check_scaled("quickgelu'", x, dc_gelu_quick(xf, 1), qp, 4e-6, s + sq);
  }
  /* conversions: bit for bit the CPU scalar kernels' */
  for (uint32_t h = 0; h < 65536; h++) {
    uint16_t in = (uint16_t)h;
    float cpu16, cpub;
    distac_convert_scalar(DISTAC_F32, &cpu16, DISTAC_F16, &in, 1);
    distac_convert_scalar(DISTAC_F32, &cpub, DISTAC_BF16, &in, 1);
    float g16 = dc_f16_to_f32(in), gb = dc_bf16_to_f32(in);
    if (memcmp(&g16, &cpu16, 4) || memcmp(&gb, &cpub, 4)) {
      if (failures < 20) printf("FAIL widen 0x%04x\n", h);
      failures++;
    }
  }
  for (uint64_t u = 0; u <= 0xffffffffull; u += 4093) { /* a prime stride over every f32 pattern */
    uint32_t b = (uint32_t)u;
    float f;
    memcpy(&f, &b, 4);
    uint16_t c16, cb;
    distac_convert_scalar(DISTAC_F16, &c16, DISTAC_F32, &f, 1);
    distac_convert_scalar(DISTAC_BF16, &cb, DISTAC_F32, &f, 1);
    if (dc_f32_to_f16(f) != c16 || dc_f32_to_bf16(f) != cb) {
      if (failures < 20) printf("FAIL narrow 0x%08x: f16 %04x/%04x bf16 %04x/%04x\n", b, dc_f32_to_f16(f), c16, dc_f32_to_bf16(f), cb);
      failures++;
    }
  }
  printf("test_devmath: %d failures\n", failures);
  return failures != 0;
}
