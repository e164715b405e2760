/*
 * gelu.c — GELU (exact, erf) and QuickGELU, forward and backward, elementwise
 * (distac_train.h).
 *
 * The scalar reference evaluates in float64 with libm's erfc and exp. The SIMD
 * variants write the erf GELU as x * Phi(x) with Phi(x) = 1 - h for x >= 0 and
 * h for x < 0, h = Phi(-|x|) = 0.5 erfc(|x|/sqrt2) (train_gelu_tail*), so the
 * negative tail keeps its relative accuracy instead of cancelling in 1 + erf.
 */
#include <math.h>

#include "train_math.h"

static const double gelu_inv_sqrt2 = 0.70710678118654752440;
static const double gelu_inv_sqrt_2pi = 0.39894228040143267794;

/* One chunk: out = f(x) when dy is NULL, else out = dy * f'(x). */
typedef void (*gelu_chunk_fn)(distac_gelu_kind kind, int64_t n, const float *x, const float *dy,
                              float *out);

typedef struct {
  distac_gelu_kind kind;
  const float *x, *dy;
  float *out;
  gelu_chunk_fn fn;
} gelu_ctx;

static void gelu_range(void *p, int64_t i0, int64_t i1) {
  const gelu_ctx *c = (const gelu_ctx *)p;
  c->fn(c->kind, i1 - i0, c->x + i0, c->dy ? c->dy + i0 : NULL, c->out + i0);
}

static int gelu_run(distac_gelu_kind kind, int64_t n, const float *x, const float *dy,
                    float *out, int threads, gelu_chunk_fn fn) {
  if ((kind != DISTAC_GELU_ERF && kind != DISTAC_GELU_QUICK) || n < 0 || !x || !out) {
    return DISTAC_EINVAL;
  }
  gelu_ctx c = {kind, x, dy, out, fn};
  distac_parallel_for(threads, n, train_grain(1), gelu_range, &c);
  return DISTAC_OK;
}

/* ----------------------------------------------------------------- scalar */

static void gelu_chunk_scalar(distac_gelu_kind kind, int64_t n, const float *x, const float *dy,
                              float *out) {
  const double a = 1.702;
  for (int64_t i = 0; i < n; i++) {
    double v = x[i], f, fp;
    if (kind == DISTAC_GELU_ERF) {
      double phi = 0.5 * erfc(-v * gelu_inv_sqrt2);
      f = v * phi;
      fp = phi + v * exp(-0.5 * v * v) * gelu_inv_sqrt_2pi;
    } else {
      double s = 1.0 / (1.0 + exp(-a * v));
      f = v * s;
      fp = s + a * v * s * (1.0 - s);
    }
    out[i] = dy ? (float)(dy[i] * fp) : (float)f;
  }
}

/* ------------------------------------------------------------------- AVX2 */

static DISTAC_TARGET_AVX2 __m256 gelu_erf256(__m256 x, int grad) {
  __m256 e;
  __m256 h = train_gelu_tail256(x, &e);
  __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  __m256 phi = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), h), h, neg);
  if (!grad) return _mm256_mul_ps(x, phi);
  return _mm256_fmadd_ps(_mm256_mul_ps(x, e), _mm256_set1_ps(TRAIN_INV_SQRT_2PI), phi);
}

static DISTAC_TARGET_AVX2 __m256 gelu_quick256(__m256 x, int grad) {
  const __m256 a = _mm256_set1_ps(TRAIN_QGELU_A), one = _mm256_set1_ps(1.0f);
  const __m256 na = _mm256_set1_ps(-TRAIN_QGELU_A), na_lo = _mm256_set1_ps(-TRAIN_QGELU_A_LO);
  /* -1.702 x as hi + lo (the product's rounding error and 1.702's own), so
   * exp(-1.702 x) does not inherit ulp(hi) ~ 1e-6 relative error at |x| ~ 15. */
  __m256 hi = _mm256_mul_ps(na, x);
  __m256 lo = _mm256_fmadd_ps(na_lo, x, _mm256_fmsub_ps(na, x, hi));
  __m256 e = train_exp256(_mm256_min_ps(_mm256_set1_ps(TRAIN_QGELU_UMAX), hi), lo);
  __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e));
  if (!grad) return _mm256_mul_ps(x, s);
  /* 1 - s = e * s, without cancellation. */
  __m256 axq = _mm256_mul_ps(_mm256_mul_ps(a, x), _mm256_mul_ps(e, s));
  return _mm256_fmadd_ps(s, axq, s);
}

/* One vector; rem = 8 in the main loop, rem < 8 for the tail. */
TRAIN_INLINE DISTAC_TARGET_AVX2 void gelu_step256(int is_erf, const float *x, const float *dy,
                                                  float *out, int64_t rem) {
  __m256 v = train_load256(x, rem);
  __m256 f = is_erf ? gelu_erf256(v, dy != NULL) : gelu_quick256(v, dy != NULL);
  if (dy) f = _mm256_mul_ps(f, train_load256(dy, rem));
  train_store256(out, f, rem);
}

/* The loop for one (kind, direction), so that neither is tested per vector. */
TRAIN_INLINE DISTAC_TARGET_AVX2 void gelu_loop256(int is_erf, int64_t n, const float *x,
                                                  const float *dy, float *out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) gelu_step256(is_erf, x + i, dy ? dy + i : NULL, out + i, 8);
  if (i < n) gelu_step256(is_erf, x + i, dy ? dy + i : NULL, out + i, n - i);
}

static DISTAC_TARGET_AVX2 void gelu_chunk_avx2(distac_gelu_kind kind, int64_t n, const float *x,
                                               const float *dy, float *out) {
  if (kind == DISTAC_GELU_ERF) {
    if (dy) gelu_loop256(1, n, x, dy, out);
    else gelu_loop256(1, n, x, NULL, out);
  } else {
    if (dy) gelu_loop256(0, n, x, dy, out);
    else gelu_loop256(0, n, x, NULL, out);
  }
}

/* ---------------------------------------------------------------- AVX-512 */

static DISTAC_TARGET_AVX512 __m512 gelu_erf512(__m512 x, int grad) {
  __m512 e;
  __m512 h = train_gelu_tail512(x, &e);
  __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  __m512 phi = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(1.0f), h), h);
  if (!grad) return _mm512_mul_ps(x, phi);
  return _mm512_fmadd_ps(_mm512_mul_ps(x, e), _mm512_set1_ps(TRAIN_INV_SQRT_2PI), phi);
}

static DISTAC_TARGET_AVX512 __m512 gelu_quick512(__m512 x, int grad) {
  const __m512 a = _mm512_set1_ps(TRAIN_QGELU_A), one = _mm512_set1_ps(1.0f);
  const __m512 na = _mm512_set1_ps(-TRAIN_QGELU_A), na_lo = _mm512_set1_ps(-TRAIN_QGELU_A_LO);
  __m512 hi = _mm512_mul_ps(na, x);
  __m512 lo = _mm512_fmadd_ps(na_lo, x, _mm512_fmsub_ps(na, x, hi));
  __m512 e = train_exp512(_mm512_min_ps(_mm512_set1_ps(TRAIN_QGELU_UMAX), hi), lo);
  __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, e));
  if (!grad) return _mm512_mul_ps(x, s);
  __m512 axq = _mm512_mul_ps(_mm512_mul_ps(a, x), _mm512_mul_ps(e, s));
  return _mm512_fmadd_ps(s, axq, s);
}

/* One vector under mask m (all lanes in the main loop). */
TRAIN_INLINE DISTAC_TARGET_AVX512 void gelu_step512(int is_erf, const float *x, const float *dy,
                                                    float *out, __mmask16 m) {
  __m512 v = _mm512_maskz_loadu_ps(m, x);
  __m512 f = is_erf ? gelu_erf512(v, dy != NULL) : gelu_quick512(v, dy != NULL);
  if (dy) f = _mm512_mul_ps(f, _mm512_maskz_loadu_ps(m, dy));
  _mm512_mask_storeu_ps(out, m, f);
}

TRAIN_INLINE DISTAC_TARGET_AVX512 void gelu_loop512(int is_erf, int64_t n, const float *x,
                                                    const float *dy, float *out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) gelu_step512(is_erf, x + i, dy ? dy + i : NULL, out + i, 0xffff);
  if (i < n) gelu_step512(is_erf, x + i, dy ? dy + i : NULL, out + i, train_tail512(n - i));
}

static DISTAC_TARGET_AVX512 void gelu_chunk_avx512(distac_gelu_kind kind, int64_t n,
                                                   const float *x, const float *dy, float *out) {
  if (kind == DISTAC_GELU_ERF) {
    if (dy) gelu_loop512(1, n, x, dy, out);
    else gelu_loop512(1, n, x, NULL, out);
  } else {
    if (dy) gelu_loop512(0, n, x, dy, out);
    else gelu_loop512(0, n, x, NULL, out);
  }
}

/* ---------------------------------------------------------------- entries */

#define GELU_FWD_PARAMS (distac_gelu_kind kind, int64_t n, const float *x, float *y, int threads)
#define GELU_FWD_ARGS (kind, n, x, y, threads)
#define GELU_BWD_PARAMS \
  (distac_gelu_kind kind, int64_t n, const float *x, const float *dy, float *dx, int threads)
#define GELU_BWD_ARGS (kind, n, x, dy, dx, threads)

int distac_gelu_forward_scalar GELU_FWD_PARAMS {
  return gelu_run(kind, n, x, NULL, y, threads, gelu_chunk_scalar);
}
int distac_gelu_forward_avx2 GELU_FWD_PARAMS {
  return gelu_run(kind, n, x, NULL, y, threads, gelu_chunk_avx2);
}
int distac_gelu_forward_avx512 GELU_FWD_PARAMS {
  return gelu_run(kind, n, x, NULL, y, threads, gelu_chunk_avx512);
}
DISTAC_DEFINE_DISPATCH(gelu_forward, GELU_FWD_PARAMS, GELU_FWD_ARGS)

/* dy is required for the backward; gelu_run treats NULL dy as "forward". */
int distac_gelu_backward_scalar GELU_BWD_PARAMS {
  return dy ? gelu_run(kind, n, x, dy, dx, threads, gelu_chunk_scalar) : DISTAC_EINVAL;
}
int distac_gelu_backward_avx2 GELU_BWD_PARAMS {
  return dy ? gelu_run(kind, n, x, dy, dx, threads, gelu_chunk_avx2) : DISTAC_EINVAL;
}
int distac_gelu_backward_avx512 GELU_BWD_PARAMS {
  return dy ? gelu_run(kind, n, x, dy, dx, threads, gelu_chunk_avx512) : DISTAC_EINVAL;
}
DISTAC_DEFINE_DISPATCH(gelu_backward, GELU_BWD_PARAMS, GELU_BWD_ARGS)
