/*
 * softmax.c — row softmax forward and backward (distac_train.h).
 * Forward: three passes over a row that lives in L1: max, exp(x - max) into y
 * with its sum, then y *= 1/sum. Subtracting the max keeps every exp <= 1,
 * and the sum of positive terms has no cancellation.
 * Backward: dx = y * (dy - <dy, y>), two passes.
 */
#include <math.h>

#include "train_math.h"

typedef void (*sm_fwd_row_fn)(int64_t n, const float *x, float *y);
typedef void (*sm_bwd_row_fn)(int64_t n, const float *y, const float *dy, float *dx);

typedef struct {
  int64_t cols, lda, ldb, ldc;
  const float *a, *b; /* forward: x; backward: y, dy */
  float *c;           /* forward: y; backward: dx */
  sm_fwd_row_fn fwd;
  sm_bwd_row_fn bwd;
} sm_ctx;

static void sm_range(void *p, int64_t r0, int64_t r1) {
  const sm_ctx *c = (const sm_ctx *)p;
  for (int64_t r = r0; r < r1; r++) {
    if (c->fwd) c->fwd(c->cols, c->a + r * c->lda, c->c + r * c->ldc);
    else c->bwd(c->cols, c->a + r * c->lda, c->b + r * c->ldb, c->c + r * c->ldc);
  }
}

static int sm_forward_run(int64_t rows, int64_t cols, const float *x, int64_t ldx, float *y,
                          int64_t ldy, int threads, sm_fwd_row_fn fn) {
  if (rows < 0 || cols < 1 || ldx < cols || ldy < cols || !x || !y) return DISTAC_EINVAL;
  sm_ctx c = {cols, ldx, 0, ldy, x, NULL, y, fn, NULL};
  distac_parallel_for(threads, rows, train_grain(cols), sm_range, &c);
  return DISTAC_OK;
}

static int sm_backward_run(int64_t rows, int64_t cols, const float *y, int64_t ldy,
                           const float *dy, int64_t lddy, float *dx, int64_t lddx, int threads,
                           sm_bwd_row_fn fn) {
  if (rows < 0 || cols < 1 || ldy < cols || lddy < cols || lddx < cols || !y || !dy || !dx) {
    return DISTAC_EINVAL;
  }
  sm_ctx c = {cols, ldy, lddy, lddx, y, dy, dx, NULL, fn};
  distac_parallel_for(threads, rows, train_grain(cols), sm_range, &c);
  return DISTAC_OK;
}

/* ----------------------------------------------------------------- scalar */

static void sm_fwd_row_scalar(int64_t n, const float *x, float *y) {
  float m = x[0];
  for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  double s = 0;
  for (int64_t i = 0; i < n; i++) {
    y[i] = expf(x[i] - m);
    s += y[i];
  }
  float inv = (float)(1.0 / s);
  for (int64_t i = 0; i < n; i++) y[i] *= inv;
}

static void sm_bwd_row_scalar(int64_t n, const float *y, const float *dy, float *dx) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)dy[i] * y[i];
  float sf = (float)s;
  for (int64_t i = 0; i < n; i++) dx[i] = y[i] * (dy[i] - sf);
}

/* ------------------------------------------------------------------- AVX2 */

static DISTAC_TARGET_AVX2 void sm_fwd_row_avx2(int64_t n, const float *x, float *y) {
  int64_t nv = n & ~(int64_t)7;
  __m256i tail = train_tail256(n - nv);
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 mx = ninf;
  for (int64_t i = 0; i < nv; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
  if (nv < n) {
    __m256 v = _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + nv, tail), _mm256_castsi256_ps(tail));
    mx = _mm256_max_ps(mx, v);
  }
  __m256 m = _mm256_set1_ps(train_hmax256(mx)), zero = _mm256_setzero_ps();
  __m256 s = zero;
  for (int64_t i = 0; i < nv; i += 8) {
    __m256 e = train_exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), m), zero);
    _mm256_storeu_ps(y + i, e);
    s = _mm256_add_ps(s, e);
  }
  if (nv < n) {
    __m256 e = train_exp256(_mm256_sub_ps(_mm256_maskload_ps(x + nv, tail), m), zero);
    e = _mm256_and_ps(e, _mm256_castsi256_ps(tail)); /* lanes past n add nothing */
    train_store_tail256(y + nv, e, n - nv);
    s = _mm256_add_ps(s, e);
  }
  __m256 inv = _mm256_set1_ps((float)(1.0 / (double)train_hsum256(s)));
  for (int64_t i = 0; i < nv; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inv));
  if (nv < n) train_store_tail256(y + nv, _mm256_mul_ps(_mm256_maskload_ps(y + nv, tail), inv), n - nv);
}

static DISTAC_TARGET_AVX2 void sm_bwd_row_avx2(int64_t n, const float *y, const float *dy,
                                               float *dx) {
  int64_t nv = n & ~(int64_t)7;
  __m256i tail = train_tail256(n - nv);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(dy + i + 8), _mm256_loadu_ps(y + i + 8), s1);
  }
  for (; i < nv; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(y + i), s0);
  if (nv < n) {
    s1 = _mm256_fmadd_ps(_mm256_maskload_ps(dy + nv, tail), _mm256_maskload_ps(y + nv, tail), s1);
  }
  __m256 s = _mm256_set1_ps(train_hsum256(_mm256_add_ps(s0, s1)));
  for (i = 0; i < n; i += 8) {
    int64_t rem = n - i;
    __m256 d = _mm256_sub_ps(train_load256(dy + i, rem), s);
    train_store256(dx + i, _mm256_mul_ps(d, train_load256(y + i, rem)), rem);
  }
}

/* ---------------------------------------------------------------- AVX-512 */

static DISTAC_TARGET_AVX512 void sm_fwd_row_avx512(int64_t n, const float *x, float *y) {
  int64_t nv = n & ~(int64_t)15;
  __mmask16 tail = train_tail512(n - nv);
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __m512 mx = ninf;
  for (int64_t i = 0; i < nv; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(x + i));
  if (nv < n) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(ninf, tail, x + nv));
  __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), zero = _mm512_setzero_ps();
  __m512 s = zero;
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 k = i < nv ? (__mmask16)0xffff : tail;
    __m512 e = train_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m), zero);
    _mm512_mask_storeu_ps(y + i, k, e);
    s = _mm512_mask_add_ps(s, k, s, e);
  }
  __m512 inv = _mm512_set1_ps((float)(1.0 / (double)_mm512_reduce_add_ps(s)));
  for (int64_t i = 0; i < nv; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), inv));
  if (nv < n) _mm512_mask_storeu_ps(y + nv, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, y + nv), inv));
}

static DISTAC_TARGET_AVX512 void sm_bwd_row_avx512(int64_t n, const float *y, const float *dy,
                                                   float *dx) {
  int64_t nv = n & ~(int64_t)15;
  __mmask16 tail = train_tail512(n - nv);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(dy + i), _mm512_loadu_ps(y + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(dy + i + 16), _mm512_loadu_ps(y + i + 16), s1);
  }
  for (; i < nv; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(dy + i), _mm512_loadu_ps(y + i), s0);
  if (nv < n) {
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, dy + nv), _mm512_maskz_loadu_ps(tail, y + nv), s1);
  }
  __m512 s = _mm512_set1_ps(_mm512_reduce_add_ps(_mm512_add_ps(s0, s1)));
  for (i = 0; i < n; i += 16) {
    __mmask16 k = i < nv ? (__mmask16)0xffff : tail;
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, dy + i), s);
    _mm512_mask_storeu_ps(dx + i, k, _mm512_mul_ps(d, _mm512_maskz_loadu_ps(k, y + i)));
  }
}

/* ---------------------------------------------------------------- entries */

#define SM_FWD_PARAMS \
  (int64_t rows, int64_t cols, const float *x, int64_t ldx, float *y, int64_t ldy, int threads)
#define SM_FWD_ARGS (rows, cols, x, ldx, y, ldy, threads)
#define SM_BWD_PARAMS                                                                     \
  (int64_t rows, int64_t cols, const float *y, int64_t ldy, const float *dy, int64_t lddy, \
   float *dx, int64_t lddx, int threads)
#define SM_BWD_ARGS (rows, cols, y, ldy, dy, lddy, dx, lddx, threads)

int distac_softmax_forward_scalar SM_FWD_PARAMS {
  return sm_forward_run(rows, cols, x, ldx, y, ldy, threads, sm_fwd_row_scalar);
}
int distac_softmax_forward_avx2 SM_FWD_PARAMS {
  return sm_forward_run(rows, cols, x, ldx, y, ldy, threads, sm_fwd_row_avx2);
}
int distac_softmax_forward_avx512 SM_FWD_PARAMS {
  return sm_forward_run(rows, cols, x, ldx, y, ldy, threads, sm_fwd_row_avx512);
}
DISTAC_DEFINE_DISPATCH(softmax_forward, SM_FWD_PARAMS, SM_FWD_ARGS)

int distac_softmax_backward_scalar SM_BWD_PARAMS {
  return sm_backward_run(rows, cols, y, ldy, dy, lddy, dx, lddx, threads, sm_bwd_row_scalar);
}
int distac_softmax_backward_avx2 SM_BWD_PARAMS {
  return sm_backward_run(rows, cols, y, ldy, dy, lddy, dx, lddx, threads, sm_bwd_row_avx2);
}
int distac_softmax_backward_avx512 SM_BWD_PARAMS {
  return sm_backward_run(rows, cols, y, ldy, dy, lddy, dx, lddx, threads, sm_bwd_row_avx512);
}
DISTAC_DEFINE_DISPATCH(softmax_backward, SM_BWD_PARAMS, SM_BWD_ARGS)
