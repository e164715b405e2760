/*
 * gelu.c — GELU (exact, erf) and QuickGELU, forward and backward, elementwise
 * (distac_train.h).
 *
 * The scalar reference evaluates in float64 with libm's erfc and exp. The SIMD
 * variants write the erf GELU as x * Phi(x) with Phi(x) = 1 - h for x >= 0 and
 * h for x < 0, h = Phi(-|x|) = 0.5 erfc(|x|/sqrt2) (simd_gelu_tail in
 * simd_math.h), so the negative tail keeps its relative accuracy instead of
 * cancelling in 1 + erf.
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

/* -------------------------------------------------------- AVX2, AVX-512 */

#define SIMD_TEMPLATE "gelu_simd.h"
#include "simd_each.h"

/* ---------------------------------------------------------------- entries */

#define GELU_FWD_PARAMS (distac_gelu_kind kind, int64_t n, const float *x, float *y, int threads)
#define GELU_FWD_ARGS (kind, n, x, y, threads)
#define GELU_BWD_PARAMS \
  (distac_gelu_kind kind, int64_t n, const float *x, const float *dy, float *dx, int threads)
#define GELU_BWD_ARGS (kind, n, x, dy, dx, threads)

#define GELU_FWD_CALL(isa) gelu_run(kind, n, x, NULL, y, threads, gelu_chunk_##isa)
DISTAC_DEFINE_OP(gelu_forward, GELU_FWD_PARAMS, GELU_FWD_ARGS, GELU_FWD_CALL)

/* dy is required for the backward; gelu_run treats NULL dy as "forward". */
#define GELU_BWD_CALL(isa) \
  (dy ? gelu_run(kind, n, x, dy, dx, threads, gelu_chunk_##isa) : DISTAC_EINVAL)
DISTAC_DEFINE_OP(gelu_backward, GELU_BWD_PARAMS, GELU_BWD_ARGS, GELU_BWD_CALL)
