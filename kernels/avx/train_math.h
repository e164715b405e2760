/*
 * train_math.h — helpers shared by the training kernels (not part of the
 * ABI): work split, row-block reduction, vector exp and the erf-GELU pieces,
 * each for AVX2 and AVX-512.
 */
#ifndef DISTAC_TRAIN_MATH_H
#define DISTAC_TRAIN_MATH_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "distac_train.h"
#include "internal.h"

/* For per-vector bodies called with a constant lane count in the main loop
 * (so their tail handling folds away) and once more for the tail. */
#define TRAIN_INLINE static inline __attribute__((always_inline))

/* Items per thread so that each thread gets at least ~32K elements of work
 * (a thread start costs about as much as streaming that much memory). */
static inline int64_t train_grain(int64_t elems_per_item) {
  const int64_t min_elems = 32768;
  if (elems_per_item < 1) elems_per_item = 1;
  return (min_elems + elems_per_item - 1) / elems_per_item;
}

/* Number of DISTAC_TRAIN_ROW_BLOCK-row blocks covering rows. */
static inline int64_t train_row_blocks(int64_t rows) {
  return (rows + DISTAC_TRAIN_ROW_BLOCK - 1) / DISTAC_TRAIN_ROW_BLOCK;
}

/* out[c] += sum_b part[b*stride + c] for b = 0..nb-1, summed in float64 in
 * block order (acc: cols doubles of scratch). The order never depends on how
 * the blocks were spread over threads. */
static inline void train_reduce_blocks(const float *part, int64_t nb, int64_t stride,
                                       int64_t cols, double *acc, float *out) {
  for (int64_t c = 0; c < cols; c++) acc[c] = 0;
  for (int64_t b = 0; b < nb; b++) {
    const float *p = part + b * stride;
    for (int64_t c = 0; c < cols; c++) acc[c] += (double)p[c];
  }
  for (int64_t c = 0; c < cols; c++) out[c] = (float)((double)out[c] + acc[c]);
}

/* ------------------------------------------------------------------ exp ---
 * exp(xh + xl) for a low-order correction xl (|xl| <~ ulp(xh)), so that
 * exp(-x^2/2) keeps its relative accuracy for large |x| when x^2 is split
 * into hi + lo with an FMA. Cody-Waite reduction x = k ln2 + r (C1 has few
 * bits, so k*C1 is exact), the Cephes expf polynomial on |r| <= ln2/2, then
 * 2^k applied as two normal factors 2^k1 * 2^k2 (AVX-512: scalef) so that
 * results fall into subnormals and overflow to +inf correctly. Measured
 * against float64 exp: < 2 ulp for normal results. xh is clamped to
 * [-104, 89], beyond which the result is 0 or +inf anyway; NaN stays NaN. */
#define TRAIN_EXP_LO (-104.0f)
#define TRAIN_EXP_HI 89.0f
#define TRAIN_LOG2E 1.44269504088896341f
#define TRAIN_LN2_C1 0.693359375f
#define TRAIN_LN2_C2 (-2.12194440e-4f)
#define TRAIN_EXP_P0 1.9875691500e-4f
#define TRAIN_EXP_P1 1.3981999507e-3f
#define TRAIN_EXP_P2 8.3334519073e-3f
#define TRAIN_EXP_P3 4.1665795894e-2f
#define TRAIN_EXP_P4 1.6666665459e-1f
#define TRAIN_EXP_P5 5.0000001201e-1f

#define TRAIN_INV_SQRT_2PI 0.398942280401432678f

/* QuickGELU: sigmoid(1.702 x) = 1 / (1 + exp(-1.702 x)); the exp argument is
 * capped at 80 so that e * s (= 1 - s) stays finite for very negative x.
 * 1.702 = TRAIN_QGELU_A + TRAIN_QGELU_A_LO to ~1e-16. */
#define TRAIN_QGELU_A 1.702f
#define TRAIN_QGELU_A_LO (-2.19345093e-08f) /* 1.702 - (double)1.702f */
#define TRAIN_QGELU_UMAX 80.0f

/* ----------------------------------------------------------------- AVX2 --- */

/* Lanes [0, rem) set, for masked loads of a row's tail (loads only: see
 * train_store_tail256). */
static inline DISTAC_TARGET_AVX2 __m256i train_tail256(int64_t rem) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), iota);
}

/* Stores lanes [0, rem) of v. Not vmaskmovps: masked stores are microcoded
 * and slow on AMD Zen, so the tail goes through a stack copy. */
static inline DISTAC_TARGET_AVX2 void train_store_tail256(float *p, __m256 v, int64_t rem) {
  float tmp[8];
  _mm256_storeu_ps(tmp, v);
  for (int64_t i = 0; i < rem; i++) p[i] = tmp[i];
}

/* p[0, min(rem, 8)) as a vector, 0 in the lanes past rem. */
static inline DISTAC_TARGET_AVX2 __m256 train_load256(const float *p, int64_t rem) {
  return rem >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, train_tail256(rem));
}

/* Stores lanes [0, min(rem, 8)) of v at p. */
static inline DISTAC_TARGET_AVX2 void train_store256(float *p, __m256 v, int64_t rem) {
  if (rem >= 8) _mm256_storeu_ps(p, v);
  else train_store_tail256(p, v, rem);
}

static inline DISTAC_TARGET_AVX2 float train_hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline DISTAC_TARGET_AVX2 float train_hmax256(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline DISTAC_TARGET_AVX2 __m256 train_exp256(__m256 xh, __m256 xl) {
  /* max/min return their second operand when either is NaN: NaN passes. */
  __m256 x = _mm256_min_ps(_mm256_set1_ps(TRAIN_EXP_HI), _mm256_max_ps(_mm256_set1_ps(TRAIN_EXP_LO), xh));
  __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(TRAIN_LOG2E)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(TRAIN_LN2_C1), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(TRAIN_LN2_C2), r);
  r = _mm256_add_ps(r, xl);
  __m256 p = _mm256_set1_ps(TRAIN_EXP_P0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TRAIN_EXP_P1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TRAIN_EXP_P2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TRAIN_EXP_P3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TRAIN_EXP_P4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(TRAIN_EXP_P5));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i ki = _mm256_cvtps_epi32(k); /* in [-150, 128] */
  __m256i k1 = _mm256_srai_epi32(ki, 1);
  __m256i k2 = _mm256_sub_epi32(ki, k1);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* -------------------------------------------------------------- AVX-512 --- */

static inline DISTAC_TARGET_AVX512 __mmask16 train_tail512(int64_t rem) {
  return (__mmask16)((1u << rem) - 1u);
}

static inline DISTAC_TARGET_AVX512 __m512 train_exp512(__m512 xh, __m512 xl) {
  __m512 x = _mm512_min_ps(_mm512_set1_ps(TRAIN_EXP_HI), _mm512_max_ps(_mm512_set1_ps(TRAIN_EXP_LO), xh));
  __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(TRAIN_LOG2E)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(TRAIN_LN2_C1), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(TRAIN_LN2_C2), r);
  r = _mm512_add_ps(r, xl);
  __m512 p = _mm512_set1_ps(TRAIN_EXP_P0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TRAIN_EXP_P1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TRAIN_EXP_P2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TRAIN_EXP_P3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TRAIN_EXP_P4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(TRAIN_EXP_P5));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  /* scalef computes p * 2^k with correct gradual underflow and overflow. */
  return _mm512_scalef_ps(p, k);
}

#endif
