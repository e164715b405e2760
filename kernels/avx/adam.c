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

#define ADAM_PARAMS                                                                          \
  (int64_t n, float *theta, const float *grad, float *m, float *v, const float *theta_init,  \
   float lr, float b1, float b2, float eps, float beta_anchor, float clip_scale, int64_t step, \
   int threads)
#define ADAM_ARGS \
  (n, theta, grad, m, v, theta_init, lr, b1, b2, eps, beta_anchor, clip_scale, step, threads)

#define ADAM_CALL(isa)                                                                    \
  adam_run(n, theta, grad, m, v, theta_init, lr, b1, b2, eps, beta_anchor, clip_scale, step, \
           threads, adam_chunk_##isa)

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

/* ------------------------------------------------ AVX2, AVX-512 (both ops) */

#define SIMD_TEMPLATE "adam_simd.h"
#include "simd_each.h"

#define ANCHORED_PARAMS                                                                   \
  (int64_t n, const float *grad, const float *theta, const float *theta_init,            \
   float beta_anchor, double *out, int threads)
#define ANCHORED_ARGS (n, grad, theta, theta_init, beta_anchor, out, threads)

#define ANCHORED_CALL(isa) \
  anchored_run(n, grad, theta, theta_init, beta_anchor, out, threads, anchored_block_##isa)
DISTAC_DEFINE_OP(adam_step, ADAM_PARAMS, ADAM_ARGS, ADAM_CALL)
DISTAC_DEFINE_OP(anchored_sumsq, ANCHORED_PARAMS, ANCHORED_ARGS, ANCHORED_CALL)
