/*
 * simd_math.h — vector exponentials and the erf-GELU tail, written once for
 * AVX2 and AVX-512 with the simd_map.h names. Not part of the ABI.
 *
 * Included plainly it gives the constants (the loss kernels' scalar code
 * uses SIMD_LOG2E and SIMD_LN2); simd_each.h includes it again for each ISA
 * before a template, which defines the functions for that ISA once.
 *
 * exp2 (loss kernels): callers fold log2(e) into the scale they already
 * apply to their logits (e^u = 2^(u log2 e)), which saves the multiply and
 * the two-step ln 2 reduction of exp(x). 2^x = 2^n * 2^f with n = round(x),
 * f = x - n in [-1/2, 1/2] (exact), and 2^f = 1 + f*(c1 + ... + c6 f^5), a
 * polynomial fitted for minimax relative error (1.6e-8 with float
 * coefficients). Measured over every float x <= 0: at most 0.96 ulp from
 * exp2() (AVX2: where the result is a normal number).
 *
 * exp (training kernels): exp(xh + xl) for a low-order correction xl
 * (|xl| <~ ulp(xh)), so that exp(-x^2/2) keeps its relative accuracy for
 * large |x| when x^2 is split into hi + lo with an FMA. Cody-Waite reduction
 * x = k ln2 + r (C1 has few bits, so k*C1 is exact), the Cephes expf
 * polynomial on |r| <= ln2/2, then 2^k applied as two normal factors 2^k1 *
 * 2^k2 (AVX-512: scalef) so that results fall into subnormals and overflow
 * to +inf correctly. Measured against float64 exp: < 2 ulp for normal
 * results. xh is clamped to [-104, 89], beyond which the result is 0 or +inf
 * anyway; NaN stays NaN.
 */
#ifndef DISTAC_SIMD_MATH_H
#define DISTAC_SIMD_MATH_H

#define SIMD_LOG2E 1.4426950408889634 /* log2(e) */
#define SIMD_LN2 0.6931471805599453  /* ln 2, to convert base-2 sums back */
#define SIMD_EXP2_C1 0x1.62e430p-1f
#define SIMD_EXP2_C2 0x1.ebfbdcp-3f
#define SIMD_EXP2_C3 0x1.c6aee8p-5f
#define SIMD_EXP2_C4 0x1.3b2d4cp-7f
#define SIMD_EXP2_C5 0x1.5f3e54p-10f
#define SIMD_EXP2_C6 0x1.41fbbcp-13f

#define SIMD_EXP_LO (-104.0f)
#define SIMD_EXP_HI 89.0f
#define SIMD_EXP_LOG2E 1.44269504088896341f
#define SIMD_EXP_LN2_C1 0.693359375f
#define SIMD_EXP_LN2_C2 (-2.12194440e-4f)
#define SIMD_EXP_P0 1.9875691500e-4f
#define SIMD_EXP_P1 1.3981999507e-3f
#define SIMD_EXP_P2 8.3334519073e-3f
#define SIMD_EXP_P3 4.1665795894e-2f
#define SIMD_EXP_P4 1.6666665459e-1f
#define SIMD_EXP_P5 5.0000001201e-1f

/* erf-GELU tail: Phi(-a) = 0.5 erfc(a / sqrt2) = 0.5 exp(-a^2/2) R(a), where
 * R = erfcx(a / sqrt2) ~= t P(t), t = 1 / (1 + q a), q = 0.38 / sqrt2.
 * P is a degree-8 fit (weighted least squares, Lawson-iterated to minimax)
 * of erfcx(z) / t on z in [0, 9.5]: relative error 2e-8 in exact arithmetic,
 * ~4e-7 evaluated in fp32. a is clamped to 20 (Phi(-20) is 0 in fp32). */
#define SIMD_GELU_Q 0.268700577f
#define SIMD_GELU_R0 2.144098729e-01f
#define SIMD_GELU_R1 2.139364481e-01f
#define SIMD_GELU_R2 2.037933767e-01f
#define SIMD_GELU_R3 1.390623301e-01f
#define SIMD_GELU_R4 2.291185856e-01f
#define SIMD_GELU_R5 (-1.602234691e-01f)
#define SIMD_GELU_R6 3.628387451e-01f
#define SIMD_GELU_R7 (-2.618101835e-01f)
#define SIMD_GELU_R8 5.887428671e-02f
#define SIMD_GELU_AMAX 20.0f

#endif /* DISTAC_SIMD_MATH_H */

/* ---------------------------------------------- the functions, per ISA --- */
#if defined(SIMD_W) && (SIMD_W == 8 ? !defined(DISTAC_SIMD_MATH_8) : !defined(DISTAC_SIMD_MATH_16))
#if SIMD_W == 8
#define DISTAC_SIMD_MATH_8
#else
#define DISTAC_SIMD_MATH_16
#endif

/* 2^f for f in [-1/2, 1/2], Horner. */
static inline SIMD_TARGET VF SIMD_FN(simd_exp2_frac)(VF f) {
  VF p = vf_fmadd(vf_set1(SIMD_EXP2_C6), f, vf_set1(SIMD_EXP2_C5));
  p = vf_fmadd(p, f, vf_set1(SIMD_EXP2_C4));
  p = vf_fmadd(p, f, vf_set1(SIMD_EXP2_C3));
  p = vf_fmadd(p, f, vf_set1(SIMD_EXP2_C2));
  p = vf_fmadd(p, f, vf_set1(SIMD_EXP2_C1));
  return vf_fmadd(p, f, vf_set1(1.0f));
}

/* 2^x. Domain: x <= 0, which is what the loss kernels pass (logits minus
 * their max, scaled); there is no overflow handling, which saves a clamp per
 * exp. NaN gives NaN; -Inf and very negative x give 0. */
#if SIMD_W == 8
/* AVX2: adding 1.5*2^23 + 127 rounds x to an integer n held in the low
 * mantissa bits as n + 127, and shifting those bits into the exponent field
 * makes 2^n. x is clamped to -127, where n + 127 = 0 makes 2^n = 0: results
 * below about 2^-126.5 are flushed to 0 rather than made subnormal. */
static inline SIMD_TARGET __m256 simd_exp2_avx2(__m256 x) {
  const __m256 magic = _mm256_set1_ps(0x1.8p23f + 127.0f);
  x = _mm256_max_ps(_mm256_set1_ps(-127.0f), x);
  __m256 t = _mm256_add_ps(x, magic);
  __m256 p = simd_exp2_frac_avx2(_mm256_sub_ps(x, _mm256_sub_ps(t, magic)));
  /* NaN x: junk 2^n, but p is NaN, so the product is too */
  return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23)));
}
#else
/* AVX-512: scalef applies 2^n with IEEE rounding, so results underflow
 * gradually through the subnormals to 0. max with the constant first returns
 * x when x is NaN, so NaN survives the clamp. */
static inline SIMD_TARGET __m512 simd_exp2_avx512(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-151.0f), x); /* 2^-151 rounds to 0; keeps n finite */
  __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_scalef_ps(simd_exp2_frac_avx512(_mm512_sub_ps(x, n)), n);
}
#endif

/* exp(xh + xl), see the top of the file. */
static inline SIMD_TARGET VF SIMD_FN(simd_exp)(VF xh, VF xl) {
  /* max/min return their second operand when either is NaN: NaN passes. */
  VF x = vf_min(vf_set1(SIMD_EXP_HI), vf_max(vf_set1(SIMD_EXP_LO), xh));
  VF k = vf_round(vf_mul(x, vf_set1(SIMD_EXP_LOG2E)));
  VF r = vf_fnmadd(k, vf_set1(SIMD_EXP_LN2_C1), x);
  r = vf_fnmadd(k, vf_set1(SIMD_EXP_LN2_C2), r);
  r = vf_add(r, xl);
  VF p = vf_set1(SIMD_EXP_P0);
  p = vf_fmadd(p, r, vf_set1(SIMD_EXP_P1));
  p = vf_fmadd(p, r, vf_set1(SIMD_EXP_P2));
  p = vf_fmadd(p, r, vf_set1(SIMD_EXP_P3));
  p = vf_fmadd(p, r, vf_set1(SIMD_EXP_P4));
  p = vf_fmadd(p, r, vf_set1(SIMD_EXP_P5));
  p = vf_fmadd(p, vf_mul(r, r), vf_add(r, vf_set1(1.0f)));
  return vf_scale_pow2(p, k);
}

/* h = Phi(-|x|) and *e_out = exp(-x^2/2) for the erf GELU (see SIMD_GELU_Q). */
static inline SIMD_TARGET VF SIMD_FN(simd_gelu_tail)(VF x, VF *e_out) {
  VF a = vf_min(vf_set1(SIMD_GELU_AMAX), vf_abs(x));
  VF t = vf_div(vf_set1(1.0f), vf_fmadd(vf_set1(SIMD_GELU_Q), a, vf_set1(1.0f)));
  VF p = vf_set1(SIMD_GELU_R8);
  p = vf_fmadd(p, t, vf_set1(SIMD_GELU_R7));
  p = vf_fmadd(p, t, vf_set1(SIMD_GELU_R6));
  p = vf_fmadd(p, t, vf_set1(SIMD_GELU_R5));
  p = vf_fmadd(p, t, vf_set1(SIMD_GELU_R4));
  p = vf_fmadd(p, t, vf_set1(SIMD_GELU_R3));
  p = vf_fmadd(p, t, vf_set1(SIMD_GELU_R2));
  p = vf_fmadd(p, t, vf_set1(SIMD_GELU_R1));
  p = vf_fmadd(p, t, vf_set1(SIMD_GELU_R0));
  /* a^2 = hi + lo exactly, so exp(-a^2/2) is as accurate as exp itself. */
  VF hi = vf_mul(a, a);
  VF lo = vf_fmsub(a, a, hi);
  const VF mhalf = vf_set1(-0.5f);
  VF e = SIMD_FN(simd_exp)(vf_mul(hi, mhalf), vf_mul(lo, mhalf));
  *e_out = e;
  return vf_mul(vf_mul(vf_set1(0.5f), e), vf_mul(t, p));
}

#endif /* the functions, per ISA */
