/*
 * devmath.h — the math of the device kernels, written as plain arithmetic so
 * that it compiles as CUDA device code (common.cuh defines DC_MATH as
 * `static __device__ inline`) and as host C11 (kernels/cuda/tests/
 * test_devmath.c checks it against libm in float64 on every CI run, GPU or
 * not). There is no libdevice in the PTX build: clang's builtins below lower
 * to single PTX instructions (fma.rn, cvt.rni, min/max, abs, div.rn,
 * sqrt.rn); scripts/ptx.sh fails if any PTX file calls an external function.
 *
 * exp and the erf-GELU tail are the CPU kernels' (kernels/avx/train_math.h):
 * Cody-Waite reduction and the Cephes polynomial, < 2 ulp for normal results.
 * log is frexp + an atanh series on [sqrt(1/2), sqrt(2)).
 */
#ifndef DISTAC_CUDA_DEVMATH_H
#define DISTAC_CUDA_DEVMATH_H

#ifndef DC_MATH
#include <string.h>
#define DC_MATH static inline
#endif

/* Bit casts between a float and its bits: the NVVM builtin on the device
 * (one mov), memcpy in host C (where test_devmath.c runs these functions). */
#ifdef __CUDA_ARCH__
#define DC_BITCAST(name, From, To, builtin, Arg) \
  DC_MATH To name(From x) { return (To)builtin((Arg)x); }
#else
#define DC_BITCAST(name, From, To, builtin, Arg) \
  DC_MATH To name(From x) {                      \
    To y;                                        \
    memcpy(&y, &x, sizeof y);                    \
    return y;                                    \
  }
#endif
DC_BITCAST(dc_f2u, float, unsigned, __nvvm_bitcast_f2i, float)
DC_BITCAST(dc_u2f, unsigned, float, __nvvm_bitcast_i2f, int)
DC_BITCAST(dc_d2u, double, unsigned long long, __nvvm_bitcast_d2ll, double)
DC_BITCAST(dc_u2d, unsigned long long, double, __nvvm_bitcast_ll2d, long long)

DC_MATH float dc_fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
DC_MATH float dc_fabs(float x) { return __builtin_fabsf(x); }
DC_MATH float dc_sqrt(float x) { return __builtin_sqrtf(x); }
DC_MATH int dc_isnan(float x) { return x != x; }
/* max/min that return NaN when either operand is NaN (fmaxf would drop it). */
DC_MATH float dc_fmax_nan(float a, float b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }
DC_MATH float dc_fmin(float a, float b) { return a < b ? a : b; }
DC_MATH float dc_fmax(float a, float b) { return a > b ? a : b; }

#define DC_EXP_LO (-104.0f)
#define DC_EXP_HI 89.0f
#define DC_LOG2E 1.44269504088896341f
#define DC_LN2_C1 0.693359375f
#define DC_LN2_C2 (-2.12194440e-4f)

/* exp(xh + xl), xl a low-order correction of xh (0 for a plain exp). xh is
 * clamped to [-104, 89] (0 or +inf beyond); NaN stays NaN. */
DC_MATH float dc_exp2p(float xh, float xl) {
  if (xh != xh) return xh;
  float x = dc_fmin(DC_EXP_HI, dc_fmax(DC_EXP_LO, xh));
  float k = __builtin_rintf(x * DC_LOG2E);
  float r = dc_fma(-k, DC_LN2_C1, x);
  r = dc_fma(-k, DC_LN2_C2, r);
  r = r + xl;
  float p = 1.9875691500e-4f;
  p = dc_fma(p, r, 1.3981999507e-3f);
  p = dc_fma(p, r, 8.3334519073e-3f);
  p = dc_fma(p, r, 4.1665795894e-2f);
  p = dc_fma(p, r, 1.6666665459e-1f);
  p = dc_fma(p, r, 5.0000001201e-1f);
  p = dc_fma(p, r * r, r + 1.0f);
  int ki = (int)k; /* in [-150, 128] */
  int k1 = ki >> 1, k2 = ki - k1;
  return p * dc_u2f((unsigned)(k1 + 127) << 23) * dc_u2f((unsigned)(k2 + 127) << 23);
}

DC_MATH float dc_exp(float x) { return dc_exp2p(x, 0.0f); }

#define DC_LN2_HI 0.693145751953125f
#define DC_LN2_LO 1.42860682030941723212e-6f

/* Natural log for x > 0 (subnormals included); log(0) = -inf, log(x < 0) and
 * log(NaN) = NaN, log(+inf) = +inf. ~1 ulp. */
DC_MATH float dc_log(float x) {
  if (x != x || x < 0.0f) return __builtin_nanf("");
  if (x == 0.0f) return -__builtin_inff();
  if (x == __builtin_inff()) return x;
  int e = 0;
  if (x < 1.17549435e-38f) { /* subnormal: scale up by 2^24 */
    x *= 16777216.0f;
    e = -24;
  }
  unsigned u = dc_f2u(x);
  e += (int)(u >> 23) - 127;
  float m = dc_u2f((u & 0x007fffffu) | 0x3f800000u); /* [1, 2) */
  if (m > 1.41421356f) {
    m *= 0.5f;
    e += 1;
  }
  /* log m = 2 atanh(f), f = (m - 1)/(m + 1), |f| <= 0.1716 */
  float f = (m - 1.0f) / (m + 1.0f), f2 = f * f;
  float s = 0.1111111111f;
  s = dc_fma(s, f2, 0.1428571429f);
  s = dc_fma(s, f2, 0.2f);
  s = dc_fma(s, f2, 0.3333333333f);
  float lm = dc_fma(2.0f * f * f2, s, 2.0f * f);
  float ef = (float)e;
  return dc_fma(ef, DC_LN2_HI, dc_fma(ef, DC_LN2_LO, lm));
}

/* Natural log in float64 for normal x > 0 (the losses' log(Q/S), once per
 * row); NaN for x <= 0 or NaN, +inf for +inf. ~1 ulp: the atanh series to
 * f^21 on [sqrt(1/2), sqrt(2)). */
DC_MATH double dc_log_d(double x) {
  if (x != x || x <= 0.0) return x == 0.0 ? -__builtin_inf() : __builtin_nan("");
  if (x == __builtin_inf()) return x;
  int e = 0;
  if (x < 2.2250738585072014e-308) {
    x *= 18014398509481984.0; /* 2^54 */
    e = -54;
  }
  unsigned long long u = dc_d2u(x);
  e += (int)(u >> 52) - 1023;
  double m = dc_u2d((u & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  double f = (m - 1.0) / (m + 1.0), f2 = f * f;
  double sr = 1.0 / 21;
  sr = __builtin_fma(sr, f2, 1.0 / 19);
  sr = __builtin_fma(sr, f2, 1.0 / 17);
  sr = __builtin_fma(sr, f2, 1.0 / 15);
  sr = __builtin_fma(sr, f2, 1.0 / 13);
  sr = __builtin_fma(sr, f2, 1.0 / 11);
  sr = __builtin_fma(sr, f2, 1.0 / 9);
  sr = __builtin_fma(sr, f2, 1.0 / 7);
  sr = __builtin_fma(sr, f2, 1.0 / 5);
  sr = __builtin_fma(sr, f2, 1.0 / 3);
  double lm = __builtin_fma(2.0 * f * f2, sr, 2.0 * f);
  double ed = (double)e;
  return __builtin_fma(ed, 0.6931471803691238, __builtin_fma(ed, 1.9082149292705877e-10, lm));
}

/* erf-GELU tail (kernels/avx/train_math.h, TRAIN_GELU_*): h = Phi(-|x|) =
 * 0.5 exp(-a^2/2) t P(t), t = 1/(1 + q a), and *e = exp(-x^2/2). */
DC_MATH float dc_gelu_tail(float x, float *e) {
  float a = dc_fmin(20.0f, dc_fabs(x));
  float t = 1.0f / dc_fma(0.268700577f, a, 1.0f);
  float p = 5.887428671e-02f;
  p = dc_fma(p, t, -2.618101835e-01f);
  p = dc_fma(p, t, 3.628387451e-01f);
  p = dc_fma(p, t, -1.602234691e-01f);
  p = dc_fma(p, t, 2.291185856e-01f);
  p = dc_fma(p, t, 1.390623301e-01f);
  p = dc_fma(p, t, 2.037933767e-01f);
  p = dc_fma(p, t, 2.139364481e-01f);
  p = dc_fma(p, t, 2.144098729e-01f);
  float hi = a * a, lo = dc_fma(a, a, -hi);
  *e = dc_exp2p(hi * -0.5f, lo * -0.5f);
  return 0.5f * *e * (t * p);
}

#define DC_INV_SQRT_2PI 0.398942280401432678f

/* GELU (erf) value, or its derivative when grad. NaN in gives NaN out. */
DC_MATH float dc_gelu_erf(float x, int grad) {
  float e, h = dc_gelu_tail(x, &e);
  float phi = x < 0.0f ? h : 1.0f - h;
  if (x != x) return x;
  return grad ? dc_fma(x * e, DC_INV_SQRT_2PI, phi) : x * phi;
}

/* QuickGELU x * sigmoid(1.702 x), or its derivative; the exp argument is
 * capped at 80 so 1 - s stays finite (kernels/avx/train_math.h). */
DC_MATH float dc_gelu_quick(float x, int grad) {
  if (x != x) return x;
  float u = dc_fmin(80.0f, dc_fma(-1.702f, x, x * 2.19345093e-08f));
  float en = dc_exp(u); /* exp(-1.702 x) */
  float s = 1.0f / (1.0f + en);
  if (!grad) return x * s;
  return dc_fma(1.702f * x * s, en * s, s);
}

/* Round-to-nearest-even float -> bf16 / f16 bits, NaN kept quiet, f16
 * overflow to +-inf, subnormals exact: the CPU kernels' conversions
 * (kernels/avx/convert.c), bit for bit. */
DC_MATH unsigned short dc_f32_to_bf16(float f) {
  unsigned u = dc_f2u(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}

DC_MATH float dc_bf16_to_f32(unsigned short h) { return dc_u2f((unsigned)h << 16); }

DC_MATH unsigned short dc_f32_to_f16(float f) {
  unsigned x = dc_f2u(f), sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return (unsigned short)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x47800000u) return (unsigned short)(sign | 0x7c00u);
  if (a >= 0x38800000u) { /* normal f16; rounding may carry to Inf */
    a += 0xfffu + ((a >> 13) & 1u);
    return (unsigned short)(sign | ((a >> 13) - (112u << 10)));
  }
  if (a <= 0x33000000u) return (unsigned short)sign; /* <= 2^-25: the even zero */
  unsigned e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, s = 126u - e; /* 14..24 */
  unsigned q = m >> s, rem = m & ((1u << s) - 1u), half = 1u << (s - 1u);
  if (rem > half || (rem == half && (q & 1u))) q++;
  return (unsigned short)(sign | q);
}

DC_MATH float dc_f16_to_f32(unsigned short h) {
  unsigned sign = (unsigned)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return dc_u2f(sign | 0x7f800000u | (m ? 0x400000u | (m << 13) : 0u));
  if (e == 0) {
    if (m == 0) return dc_u2f(sign);
    e = 1;
    while (!(m & 0x400u)) m <<= 1, e--;
    m &= 0x3ffu;
  }
  return dc_u2f(sign | ((e + 112u) << 23) | (m << 13));
}

#endif
