/*
 * l2norm.c — row L2 normalization, forward and backward (distac_train.h),
 * as torch.nn.functional.normalize(x, dim=-1, eps).
 * Forward: ss = sum x^2 in float64 (every finite fp32 square and sum of them
 * fits a double, so there is no overflow or underflow and the rounding is
 * ~1e-16), n = (float)sqrt(ss), d = max(n, eps), y = x * (1/d).
 * Backward: with d from the saved norm, dx = (dy - y <dy, y>) / d, or dy / eps
 * where the norm was clamped; <dy, y> is summed in float64 too. Both are two
 * passes over a row that stays in L1.
 */
#include "train_math.h"

typedef void (*l2_fwd_row_fn)(int64_t n, const float *x, float eps, float *y, float *norm);
typedef void (*l2_bwd_row_fn)(int64_t n, const float *dy, const float *y, float norm, float eps,
                              float *dx);

typedef struct {
  int64_t cols, lda, ldb, ldc;
  const float *a, *b; /* forward: x; backward: dy, y */
  const float *norm_in;
  float *c, *norm; /* forward: y, norm; backward: dx */
  float eps;
  l2_fwd_row_fn fwd;
  l2_bwd_row_fn bwd;
} l2_ctx;

static void l2_range(void *p, int64_t r0, int64_t r1) {
  const l2_ctx *c = (const l2_ctx *)p;
  for (int64_t r = r0; r < r1; r++) {
    if (c->fwd) {
      float n;
      c->fwd(c->cols, c->a + r * c->lda, c->eps, c->c + r * c->ldc, &n);
      if (c->norm) c->norm[r] = n;
    } else {
      c->bwd(c->cols, c->a + r * c->lda, c->b + r * c->ldb, c->norm_in[r], c->eps,
             c->c + r * c->ldc);
    }
  }
}

static int l2_eps_ok(float eps) { return eps > 0 && isfinite(eps); }

/* Rows per thread: at least ~64K elements, twice train_grain's. The op does
 * little per element (one thread streams 128 x 512 in ~10 us, about what a
 * thread start costs), so a second thread only pays off past that. */
static int64_t l2_grain(int64_t cols) { return 2 * train_grain(cols); }

static int l2_forward_run(int64_t rows, int64_t cols, const float *x, int64_t ldx, float eps,
                          float *y, int64_t ldy, float *norm, int threads, l2_fwd_row_fn fn) {
  if (rows < 0 || cols < 1 || ldx < cols || ldy < cols || !x || !y || !l2_eps_ok(eps)) {
    return DISTAC_EINVAL;
  }
  l2_ctx c = {.cols = cols, .lda = ldx, .ldc = ldy, .a = x, .c = y, .norm = norm, .eps = eps,
              .fwd = fn};
  distac_parallel_for(threads, rows, l2_grain(cols), l2_range, &c);
  return DISTAC_OK;
}

static int l2_backward_run(int64_t rows, int64_t cols, const float *dy, int64_t lddy,
                           const float *y, int64_t ldy, const float *norm, float eps, float *dx,
                           int64_t lddx, int threads, l2_bwd_row_fn fn) {
  if (rows < 0 || cols < 1 || lddy < cols || ldy < cols || lddx < cols || !dy || !y || !norm ||
      !dx || !l2_eps_ok(eps)) {
    return DISTAC_EINVAL;
  }
  l2_ctx c = {.cols = cols, .lda = lddy, .ldb = ldy, .ldc = lddx, .a = dy, .b = y,
              .norm_in = norm, .c = dx, .eps = eps, .bwd = fn};
  distac_parallel_for(threads, rows, l2_grain(cols), l2_range, &c);
  return DISTAC_OK;
}

/* The scale of a row: 1/max(n, eps) (NaN stays NaN). */
static inline float l2_inv(float n, float eps) { return (float)(1.0 / (double)(n <= eps ? eps : n)); }

/* The backward's scale: 1/n where n > eps (or NaN), else 1/eps, and whether
 * the projection term is used. */
static inline float l2_bwd_inv(float n, float eps, int *project) {
  *project = !(n <= eps);
  return l2_inv(n, eps);
}

/* ----------------------------------------------------------------- scalar */

static void l2_fwd_row_scalar(int64_t n, const float *x, float eps, float *y, float *norm) {
  double ss = 0;
  for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
  *norm = (float)sqrt(ss);
  float inv = l2_inv(*norm, eps);
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * inv;
}

static void l2_bwd_row_scalar(int64_t n, const float *dy, const float *y, float norm, float eps,
                              float *dx) {
  int project;
  float inv = l2_bwd_inv(norm, eps, &project);
  if (!project) {
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * inv;
    return;
  }
  double dot = 0;
  for (int64_t i = 0; i < n; i++) dot += (double)dy[i] * y[i];
  float t = (float)dot;
  for (int64_t i = 0; i < n; i++) dx[i] = (dy[i] - y[i] * t) * inv;
}

/* ------------------------------------------------------------------- AVX2 */

/* a += lo-half(u * v) + hi-half(u * v) in float64: u, v widened 4 at a time. */
TRAIN_INLINE DISTAC_TARGET_AVX2 void l2_dot_acc256(__m256 u, __m256 v, __m256d *a0, __m256d *a1) {
  *a0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(u)),
                        _mm256_cvtps_pd(_mm256_castps256_ps128(v)), *a0);
  *a1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(u, 1)),
                        _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), *a1);
}

static inline DISTAC_TARGET_AVX2 double l2_hsum256d(__m256d a) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* <u, v> over n values in float64 (lanes past n load as 0). */
static inline DISTAC_TARGET_AVX2 double l2_dot_avx2(int64_t n, const float *u, const float *v) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  __m256d a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    l2_dot_acc256(_mm256_loadu_ps(u + i), _mm256_loadu_ps(v + i), &a0, &a1);
    l2_dot_acc256(_mm256_loadu_ps(u + i + 8), _mm256_loadu_ps(v + i + 8), &a2, &a3);
  }
  for (; i < n; i += 8) l2_dot_acc256(train_load256(u + i, n - i), train_load256(v + i, n - i), &a0, &a1);
  return l2_hsum256d(_mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
}

static DISTAC_TARGET_AVX2 void l2_fwd_row_avx2(int64_t n, const float *x, float eps, float *y,
                                               float *norm) {
  *norm = (float)sqrt(l2_dot_avx2(n, x, x));
  __m256 inv = _mm256_set1_ps(l2_inv(*norm, eps));
  for (int64_t i = 0; i < n; i += 8) train_store256(y + i, _mm256_mul_ps(train_load256(x + i, n - i), inv), n - i);
}

static DISTAC_TARGET_AVX2 void l2_bwd_row_avx2(int64_t n, const float *dy, const float *y,
                                               float norm, float eps, float *dx) {
  int project;
  __m256 inv = _mm256_set1_ps(l2_bwd_inv(norm, eps, &project));
  __m256 t = _mm256_set1_ps(project ? (float)l2_dot_avx2(n, dy, y) : 0.0f);
  for (int64_t i = 0; i < n; i += 8) {
    __m256 d = train_load256(dy + i, n - i);
    if (project) d = _mm256_fnmadd_ps(train_load256(y + i, n - i), t, d);
    train_store256(dx + i, _mm256_mul_ps(d, inv), n - i);
  }
}

/* ---------------------------------------------------------------- AVX-512 */

TRAIN_INLINE DISTAC_TARGET_AVX512 void l2_dot_acc512(__m512 u, __m512 v, __m512d *a0, __m512d *a1) {
  *a0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(u)),
                        _mm512_cvtps_pd(_mm512_castps512_ps256(v)), *a0);
  *a1 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(u), 1))),
                        _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), *a1);
}

static inline DISTAC_TARGET_AVX512 double l2_dot_avx512(int64_t n, const float *u,
                                                        const float *v) {
  __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
  __m512d a2 = _mm512_setzero_pd(), a3 = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    l2_dot_acc512(_mm512_loadu_ps(u + i), _mm512_loadu_ps(v + i), &a0, &a1);
    l2_dot_acc512(_mm512_loadu_ps(u + i + 16), _mm512_loadu_ps(v + i + 16), &a2, &a3);
  }
  for (; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : train_tail512(n - i);
    l2_dot_acc512(_mm512_maskz_loadu_ps(m, u + i), _mm512_maskz_loadu_ps(m, v + i), &a0, &a1);
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)));
}

static DISTAC_TARGET_AVX512 void l2_fwd_row_avx512(int64_t n, const float *x, float eps,
                                                   float *y, float *norm) {
  *norm = (float)sqrt(l2_dot_avx512(n, x, x));
  __m512 inv = _mm512_set1_ps(l2_inv(*norm, eps));
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : train_tail512(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
  }
}

static DISTAC_TARGET_AVX512 void l2_bwd_row_avx512(int64_t n, const float *dy, const float *y,
                                                   float norm, float eps, float *dx) {
  int project;
  __m512 inv = _mm512_set1_ps(l2_bwd_inv(norm, eps, &project));
  __m512 t = _mm512_set1_ps(project ? (float)l2_dot_avx512(n, dy, y) : 0.0f);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : train_tail512(n - i);
    __m512 d = _mm512_maskz_loadu_ps(m, dy + i);
    if (project) d = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(m, y + i), t, d);
    _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(d, inv));
  }
}

/* ---------------------------------------------------------------- entries */

#define L2_FWD_PARAMS                                                                       \
  (int64_t rows, int64_t cols, const float *x, int64_t ldx, float eps, float *y, int64_t ldy, \
   float *norm, int threads)
#define L2_FWD_ARGS (rows, cols, x, ldx, eps, y, ldy, norm, threads)
#define L2_BWD_PARAMS                                                                      \
  (int64_t rows, int64_t cols, const float *dy, int64_t lddy, const float *y, int64_t ldy, \
   const float *norm, float eps, float *dx, int64_t lddx, int threads)
#define L2_BWD_ARGS (rows, cols, dy, lddy, y, ldy, norm, eps, dx, lddx, threads)

int distac_l2norm_forward_scalar L2_FWD_PARAMS {
  return l2_forward_run(rows, cols, x, ldx, eps, y, ldy, norm, threads, l2_fwd_row_scalar);
}
int distac_l2norm_forward_avx2 L2_FWD_PARAMS {
  return l2_forward_run(rows, cols, x, ldx, eps, y, ldy, norm, threads, l2_fwd_row_avx2);
}
int distac_l2norm_forward_avx512 L2_FWD_PARAMS {
  return l2_forward_run(rows, cols, x, ldx, eps, y, ldy, norm, threads, l2_fwd_row_avx512);
}
DISTAC_DEFINE_DISPATCH(l2norm_forward, L2_FWD_PARAMS, L2_FWD_ARGS)

int distac_l2norm_backward_scalar L2_BWD_PARAMS {
  return l2_backward_run(rows, cols, dy, lddy, y, ldy, norm, eps, dx, lddx, threads,
                         l2_bwd_row_scalar);
}
int distac_l2norm_backward_avx2 L2_BWD_PARAMS {
  return l2_backward_run(rows, cols, dy, lddy, y, ldy, norm, eps, dx, lddx, threads,
                         l2_bwd_row_avx2);
}
int distac_l2norm_backward_avx512 L2_BWD_PARAMS {
  return l2_backward_run(rows, cols, dy, lddy, y, ldy, norm, eps, dx, lddx, threads,
                         l2_bwd_row_avx512);
}
DISTAC_DEFINE_DISPATCH(l2norm_backward, L2_BWD_PARAMS, L2_BWD_ARGS)
