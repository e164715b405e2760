/*
 * adam.c — the fused Adam step with the DisTaC anchor, and the anchored
 * gradient's sum of squares for the clip norm (distac_train.h).
 *
 * Both form the raw gradient the same way in fp32,
 *   g_raw = grad + (2 beta) * (theta - theta_init)
 * (one FMA in the SIMD variants), so the norm the caller clips by is the norm
 * of exactly what the step then scales. The step streams five arrays once
 * (theta, grad, m, v, theta_init) and writes three; it is memory-bound.
 */
#include <math.h>
#include <stdlib.h>

#include "train_math.h"

/* ------------------------------------------------------------- adam step */

typedef struct {
  float *theta, *m, *v;
  const float *grad, *init; /* init: NULL when the anchor is off */
  float two_beta, clip, b1, b2, omb1, omb2;
  float step_size;    /* lr / (1 - b1^t) */
  float inv_sqrt_bc2; /* 1 / sqrt(1 - b2^t) */
  float eps;
} adam_ctx;

typedef void (*adam_chunk_fn)(const adam_ctx *c, int64_t i0, int64_t i1);

typedef struct {
  const adam_ctx *c;
  adam_chunk_fn fn;
} adam_job;

static void adam_range(void *p, int64_t i0, int64_t i1) {
  const adam_job *j = (const adam_job *)p;
  j->fn(j->c, i0, i1);
}

static int adam_run(int64_t n, float *theta, const float *grad, float *m, float *v,
                    const float *theta_init, float lr, float b1, float b2, float eps,
                    float beta_anchor, float clip_scale, int64_t step, int threads,
                    adam_chunk_fn fn) {
  /* Written as !(ok) so that NaN parameters are rejected too. */
  if (n < 0 || !theta || !grad || !m || !v || step < 1 || !(b1 >= 0 && b1 < 1) ||
      !(b2 >= 0 && b2 < 1) || !(eps >= 0) || !(beta_anchor >= 0) || !isfinite(beta_anchor) ||
      !isfinite(lr) || !isfinite(clip_scale) || (beta_anchor != 0 && !theta_init)) {
    return DISTAC_EINVAL;
  }
  double bc1 = 1.0 - pow((double)b1, (double)step);
  double bc2 = 1.0 - pow((double)b2, (double)step);
  adam_ctx c = {
      .theta = theta, .m = m, .v = v, .grad = grad,
      .init = beta_anchor != 0 ? theta_init : NULL,
      .two_beta = 2.0f * beta_anchor, .clip = clip_scale,
      .b1 = b1, .b2 = b2, .omb1 = 1.0f - b1, .omb2 = 1.0f - b2,
      .step_size = (float)((double)lr / bc1),
      .inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2)),
      .eps = eps,
  };
  adam_job j = {&c, fn};
  distac_parallel_for(threads, n, train_grain(1), adam_range, &j);
  return DISTAC_OK;
}

static void adam_chunk_scalar(const adam_ctx *c, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) {
    float g = c->grad[i];
    if (c->init) g = g + c->two_beta * (c->theta[i] - c->init[i]);
    g *= c->clip;
    float m = c->b1 * c->m[i] + c->omb1 * g;
    float v = c->b2 * c->v[i] + c->omb2 * g * g;
    c->m[i] = m, c->v[i] = v;
    c->theta[i] -= c->step_size * m / (sqrtf(v) * c->inv_sqrt_bc2 + c->eps);
  }
}

static DISTAC_TARGET_AVX2 void adam_chunk_avx2(const adam_ctx *c, int64_t i0, int64_t i1) {
  const __m256 two_beta = _mm256_set1_ps(c->two_beta), clip = _mm256_set1_ps(c->clip);
  const __m256 b1 = _mm256_set1_ps(c->b1), b2 = _mm256_set1_ps(c->b2);
  const __m256 omb1 = _mm256_set1_ps(c->omb1), omb2 = _mm256_set1_ps(c->omb2);
  const __m256 step = _mm256_set1_ps(c->step_size), ibc2 = _mm256_set1_ps(c->inv_sqrt_bc2);
  const __m256 eps = _mm256_set1_ps(c->eps);
  for (int64_t i = i0; i < i1; i += 8) {
    int64_t rem = i1 - i;
    __m256 th = train_load256(c->theta + i, rem);
    __m256 g = train_load256(c->grad + i, rem);
    if (c->init) g = _mm256_fmadd_ps(two_beta, _mm256_sub_ps(th, train_load256(c->init + i, rem)), g);
    g = _mm256_mul_ps(g, clip);
    __m256 m = _mm256_fmadd_ps(b1, train_load256(c->m + i, rem), _mm256_mul_ps(omb1, g));
    __m256 v = _mm256_fmadd_ps(b2, train_load256(c->v + i, rem), _mm256_mul_ps(omb2, _mm256_mul_ps(g, g)));
    __m256 den = _mm256_fmadd_ps(_mm256_sqrt_ps(v), ibc2, eps);
    th = _mm256_fnmadd_ps(step, _mm256_div_ps(m, den), th);
    train_store256(c->m + i, m, rem);
    train_store256(c->v + i, v, rem);
    train_store256(c->theta + i, th, rem);
  }
}

static DISTAC_TARGET_AVX512 void adam_chunk_avx512(const adam_ctx *c, int64_t i0, int64_t i1) {
  const __m512 two_beta = _mm512_set1_ps(c->two_beta), clip = _mm512_set1_ps(c->clip);
  const __m512 b1 = _mm512_set1_ps(c->b1), b2 = _mm512_set1_ps(c->b2);
  const __m512 omb1 = _mm512_set1_ps(c->omb1), omb2 = _mm512_set1_ps(c->omb2);
  const __m512 step = _mm512_set1_ps(c->step_size), ibc2 = _mm512_set1_ps(c->inv_sqrt_bc2);
  const __m512 eps = _mm512_set1_ps(c->eps);
  for (int64_t i = i0; i < i1; i += 16) {
    __mmask16 k = i + 16 <= i1 ? (__mmask16)0xffff : train_tail512(i1 - i);
    __m512 th = _mm512_maskz_loadu_ps(k, c->theta + i);
    __m512 g = _mm512_maskz_loadu_ps(k, c->grad + i);
    if (c->init) g = _mm512_fmadd_ps(two_beta, _mm512_sub_ps(th, _mm512_maskz_loadu_ps(k, c->init + i)), g);
    g = _mm512_mul_ps(g, clip);
    __m512 m = _mm512_fmadd_ps(b1, _mm512_maskz_loadu_ps(k, c->m + i), _mm512_mul_ps(omb1, g));
    __m512 v = _mm512_fmadd_ps(b2, _mm512_maskz_loadu_ps(k, c->v + i), _mm512_mul_ps(omb2, _mm512_mul_ps(g, g)));
    __m512 den = _mm512_fmadd_ps(_mm512_sqrt_ps(v), ibc2, eps);
    th = _mm512_fnmadd_ps(step, _mm512_div_ps(m, den), th);
    _mm512_mask_storeu_ps(c->m + i, k, m);
    _mm512_mask_storeu_ps(c->v + i, k, v);
    _mm512_mask_storeu_ps(c->theta + i, k, th);
  }
}

#define ADAM_PARAMS                                                                          \
  (int64_t n, float *theta, const float *grad, float *m, float *v, const float *theta_init,  \
   float lr, float b1, float b2, float eps, float beta_anchor, float clip_scale, int64_t step, \
   int threads)
#define ADAM_ARGS \
  (n, theta, grad, m, v, theta_init, lr, b1, b2, eps, beta_anchor, clip_scale, step, threads)

int distac_adam_step_scalar ADAM_PARAMS {
  return adam_run(n, theta, grad, m, v, theta_init, lr, b1, b2, eps, beta_anchor, clip_scale,
                  step, threads, adam_chunk_scalar);
}
int distac_adam_step_avx2 ADAM_PARAMS {
  return adam_run(n, theta, grad, m, v, theta_init, lr, b1, b2, eps, beta_anchor, clip_scale,
                  step, threads, adam_chunk_avx2);
}
int distac_adam_step_avx512 ADAM_PARAMS {
  return adam_run(n, theta, grad, m, v, theta_init, lr, b1, b2, eps, beta_anchor, clip_scale,
                  step, threads, adam_chunk_avx512);
}
DISTAC_DEFINE_DISPATCH(adam_step, ADAM_PARAMS, ADAM_ARGS)

/* -------------------------------------------------------- anchored sumsq */

/* Sum of g_raw^2 over [i0, i1) in float64, in a fixed lane order. */
typedef double (*anchored_block_fn)(const float *grad, const float *theta, const float *init,
                                    float two_beta, int64_t i0, int64_t i1);

typedef struct {
  int64_t n;
  const float *grad, *theta, *init; /* theta, init: NULL when the anchor is off */
  float two_beta;
  double *sums; /* one per block */
  anchored_block_fn fn;
} anchored_ctx;

static void anchored_range(void *p, int64_t b0, int64_t b1) {
  const anchored_ctx *c = (const anchored_ctx *)p;
  for (int64_t b = b0; b < b1; b++) {
    int64_t i0 = b * DISTAC_SUMSQ_BLOCK, i1 = i0 + DISTAC_SUMSQ_BLOCK;
    c->sums[b] = c->fn(c->grad, c->theta, c->init, c->two_beta, i0, i1 < c->n ? i1 : c->n);
  }
}

static int anchored_run(int64_t n, const float *grad, const float *theta,
                        const float *theta_init, float beta_anchor, double *out, int threads,
                        anchored_block_fn fn) {
  if (n < 0 || !grad || !out || !(beta_anchor >= 0) || !isfinite(beta_anchor) ||
      (beta_anchor != 0 && (!theta || !theta_init))) {
    return DISTAC_EINVAL;
  }
  int64_t nb = (n + DISTAC_SUMSQ_BLOCK - 1) / DISTAC_SUMSQ_BLOCK;
  double *sums = (double *)malloc((size_t)(nb > 0 ? nb : 1) * sizeof(double));
  if (!sums) return DISTAC_ENOMEM;
  anchored_ctx c = {n, grad, beta_anchor != 0 ? theta : NULL, beta_anchor != 0 ? theta_init : NULL,
                    2.0f * beta_anchor, sums, fn};
  distac_parallel_for(threads, nb, 1, anchored_range, &c);
  double total = 0;
  for (int64_t b = 0; b < nb; b++) total += sums[b];
  free(sums);
  *out = total;
  return DISTAC_OK;
}

static double anchored_block_scalar(const float *grad, const float *theta, const float *init,
                                    float two_beta, int64_t i0, int64_t i1) {
  double s = 0;
  for (int64_t i = i0; i < i1; i++) {
    float g = grad[i];
    if (init) g = g + two_beta * (theta[i] - init[i]);
    s += (double)g * g;
  }
  return s;
}

static DISTAC_TARGET_AVX2 double anchored_block_avx2(const float *grad, const float *theta,
                                                     const float *init, float two_beta,
                                                     int64_t i0, int64_t i1) {
  const __m256 tb = _mm256_set1_ps(two_beta);
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
  for (int64_t i = i0; i < i1; i += 8) {
    int64_t rem = i1 - i;
    __m256 g = train_load256(grad + i, rem);
    if (init) {
      __m256 d = _mm256_sub_ps(train_load256(theta + i, rem), train_load256(init + i, rem));
      g = _mm256_fmadd_ps(tb, d, g);
    }
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(g));
    __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(g, 1));
    s0 = _mm256_fmadd_pd(lo, lo, s0);
    s1 = _mm256_fmadd_pd(hi, hi, s1);
  }
  __m256d s = _mm256_add_pd(s0, s1);
  __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

static DISTAC_TARGET_AVX512 double anchored_block_avx512(const float *grad, const float *theta,
                                                         const float *init, float two_beta,
                                                         int64_t i0, int64_t i1) {
  const __m512 tb = _mm512_set1_ps(two_beta);
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  for (int64_t i = i0; i < i1; i += 16) {
    __mmask16 k = i + 16 <= i1 ? (__mmask16)0xffff : train_tail512(i1 - i);
    __m512 g = _mm512_maskz_loadu_ps(k, grad + i);
    if (init) {
      __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, theta + i), _mm512_maskz_loadu_ps(k, init + i));
      g = _mm512_fmadd_ps(tb, d, g);
    }
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(g));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(g), 1)));
    s0 = _mm512_fmadd_pd(lo, lo, s0);
    s1 = _mm512_fmadd_pd(hi, hi, s1);
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

#define ANCHORED_PARAMS                                                                   \
  (int64_t n, const float *grad, const float *theta, const float *theta_init,            \
   float beta_anchor, double *out, int threads)
#define ANCHORED_ARGS (n, grad, theta, theta_init, beta_anchor, out, threads)

int distac_anchored_sumsq_scalar ANCHORED_PARAMS {
  return anchored_run(n, grad, theta, theta_init, beta_anchor, out, threads,
                      anchored_block_scalar);
}
int distac_anchored_sumsq_avx2 ANCHORED_PARAMS {
  return anchored_run(n, grad, theta, theta_init, beta_anchor, out, threads,
                      anchored_block_avx2);
}
int distac_anchored_sumsq_avx512 ANCHORED_PARAMS {
  return anchored_run(n, grad, theta, theta_init, beta_anchor, out, threads,
                      anchored_block_avx512);
}
DISTAC_DEFINE_DISPATCH(anchored_sumsq, ANCHORED_PARAMS, ANCHORED_ARGS)
