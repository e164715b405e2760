/*
 * xent.c — cross-entropy with label smoothing, loss and gradient
 * (distac_xent_ls_*).
 *
 * Per row, with target y = (1 - eps) onehot(l) + eps/C, u = z - max z and
 * S = sum e^u (so log s_j = u_j - log S and sum_j y_j = 1):
 *   loss_r = log S - (1 - eps) u_l - eps/C sum_j u_j
 *   grad_j = (e^u_j / S - eps/C - [j == l] (1 - eps)) / B
 *
 * Same plan as kl.c. SIMD variants, per row: an online pass over chunks of
 * XENT_CHUNK columns (a max sweep brings the chunk into L1, an exp sweep sums
 * S_k = sum e^(z - m_k) and U_k = sum (z - m_k) in float lanes, added into
 * double; the chunk joins the row's running sums rescaled to the larger max:
 * S <- e^(m_old - m) S, sum u <- sum u + n (m_old - m)); then, if a gradient
 * is wanted, a pass that recomputes e^u from the row (still in L2) and writes
 * the gradient, non-temporal when it is too big to stay cached.
 *
 * Non-finite logits: NaN propagates through the exps, +Inf gives Inf - Inf,
 * -Inf gives an infinite sum of u (or 0 * Inf); a row whose loss is not
 * finite gets NaN. Labels are checked before anything is written. Per-row
 * losses are summed in row order, so the loss does not depend on threads.
 */
#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"
#include "simd_math.h"

#define XENT_CHUNK 2048             /* columns per chunk: 8 KiB of logits stay in L1 */
#define XENT_GRAIN (1 << 17)        /* minimum elements per thread */
#define XENT_BLOCK (1 << 16)        /* elements a thread takes at a time */
#define XENT_STREAM_BYTES (4 << 20) /* gradients this large bypass the cache (NT stores) */
#define XENT_LOG2E ((float)SIMD_LOG2E)

/* A row's (or one chunk's) running max and sums. */
typedef struct {
  float m;     /* max of z */
  double s, u; /* sum e^(z - m), sum (z - m) */
} xent_sums;

typedef struct {
  int64_t rows, cols;
  const float *z;
  int64_t ldz;
  const int32_t *labels;
  float eps;
  float *grad;
  int64_t ldg;
  int stream;       /* use non-temporal stores for grad */
  double *row_loss; /* loss of each row */
  int64_t block;    /* rows a thread takes at a time */
  _Atomic int64_t next; /* the first row no thread has taken */
} xent_job;

/* The exps are 2^((z - m) * (float)log2 e) = e^(XENT_C (z - m)) with
 * XENT_C = (float)log2(e) * ln 2, 1 up to 1e-8; the sums in double use the
 * same scale, so exps and logs agree. */
#define XENT_C ((double)XENT_LOG2E * SIMD_LN2)

/* Adds chunk c (after `done` columns) into the running row sums r. */
static void xent_join(xent_sums *r, const xent_sums *c, int64_t done, int64_t n) {
  float m = c->m > r->m ? c->m : r->m;
  double dr = (double)r->m - m, dc = (double)c->m - m; /* one of them is 0 */
  r->s = (dr == 0 ? r->s : exp(dr * XENT_C) * r->s) +
         (dc == 0 ? c->s : exp(dc * XENT_C) * c->s);
  r->u = r->u + (double)done * dr + c->u + (double)n * dc;
  r->m = m;
}

static double xent_row_value(const xent_sums *r, int64_t cols, float zl, float eps) {
  double lin = (1.0 - eps) * ((double)zl - r->m) + eps / (double)cols * r->u;
  double loss = log(r->s) - XENT_C * lin;
  return isfinite(loss) ? loss : NAN; /* not finite only for non-finite logits */
}

static int xent_run(distac_range_fn range, int64_t rows, int64_t cols, const float *z,
                    int64_t ldz, const int32_t *labels, float eps, double *loss, float *grad,
                    int64_t ldg, int threads) {
  if (rows < 1 || cols < 1 || !z || !labels || !loss || ldz < cols || (grad && ldg < cols) ||
      !(eps >= 0 && eps <= 1))
    return DISTAC_EINVAL;
  for (int64_t r = 0; r < rows; r++)
    if (labels[r] < 0 || labels[r] >= cols) return DISTAC_EINVAL;
  xent_job j = {rows, cols, z, ldz, labels, eps, grad, ldg,
                grad && (double)rows * (double)cols * sizeof(float) >= XENT_STREAM_BYTES, NULL,
                XENT_BLOCK / cols + 1, 0};
  j.row_loss = (double *)malloc((size_t)rows * sizeof(double));
  if (!j.row_loss) return DISTAC_ENOMEM;
  /* one work item per thread, each taking blocks of rows (see kl.c) */
  int t = distac_threads_for(threads, rows, XENT_GRAIN / cols + 1);
  distac_parallel_for(t, t, 1, range, &j);
  double sum = 0;
  for (int64_t r = 0; r < rows; r++) sum += j.row_loss[r];
  *loss = sum / (double)rows;
  free(j.row_loss);
  return DISTAC_OK;
}

/* The SIMD variants differ only in these two routines. */
typedef void (*xent_chunk_fn)(const float *z, int64_t n, xent_sums *out);
typedef void (*xent_grad_fn)(const xent_job *j, const float *z, float *g, int64_t l,
                             const xent_sums *row);

/* Takes the next block of rows [*b, *e); 0 when none is left. */
static int xent_take(xent_job *j, int64_t *b, int64_t *e) {
  *b = atomic_fetch_add_explicit(&j->next, j->block, memory_order_relaxed);
  *e = *b + j->block < j->rows ? *b + j->block : j->rows;
  return *b < j->rows;
}

/* Per row: the online pass, then the gradient pass. */
static void xent_rows(xent_job *j, xent_chunk_fn chunk, xent_grad_fn grad) {
  for (int64_t b, e; xent_take(j, &b, &e);)
    for (int64_t r = b; r < e; r++) {
      const float *z = j->z + r * j->ldz;
      xent_sums row, c;
      for (int64_t k = 0; k < j->cols; k += XENT_CHUNK) {
        int64_t n = j->cols - k < XENT_CHUNK ? j->cols - k : XENT_CHUNK;
        chunk(z + k, n, k ? &c : &row);
        if (k) xent_join(&row, &c, k, n);
      }
      int64_t l = j->labels[r];
      j->row_loss[r] = xent_row_value(&row, j->cols, z[l], j->eps);
      if (j->grad) grad(j, z, j->grad + r * j->ldg, l, &row);
    }
  if (j->stream) _mm_sfence(); /* NT stores visible before the join */
}

/* The gradient's constants: g = e^u f + c0, plus cl at the label. */
static void xent_grad_consts(const xent_job *j, const xent_sums *row, float *f, float *c0,
                             float *cl) {
  *f = (float)(1.0 / (row->s * (double)j->rows));
  *c0 = (float)(-(double)j->eps / (double)j->cols / (double)j->rows);
  *cl = (float)(-(1.0 - (double)j->eps) / (double)j->rows);
}

/* ---------------------------------------------------------------- scalar ---
 * Portable reference: per row a max pass, a sum pass (expf, double sums) and a
 * gradient pass. */
static double xent_row_scalar(const xent_job *j, int64_t r) {
  const float *z = j->z + r * j->ldz;
  int64_t l = j->labels[r];
  float m = z[0];
  int finite = 1;
  for (int64_t c = 0; c < j->cols; c++) {
    finite &= isfinite(z[c]) != 0;
    if (z[c] > m) m = z[c];
  }
  double s = 0, su = 0;
  for (int64_t c = 0; c < j->cols; c++) s += expf(z[c] - m), su += (double)z[c] - m;
  if (j->grad) {
    float *g = j->grad + r * j->ldg;
    double f = 1.0 / (s * (double)j->rows), c0 = (double)j->eps / (double)j->cols / (double)j->rows;
    for (int64_t c = 0; c < j->cols; c++) g[c] = (float)(f * expf(z[c] - m) - c0);
    g[l] = (float)(f * expf(z[l] - m) - c0 - (1.0 - j->eps) / (double)j->rows);
  }
  if (!finite) return NAN;
  return log(s) - (1.0 - j->eps) * ((double)z[l] - m) - (double)j->eps / (double)j->cols * su;
}

static void xent_range_scalar(void *ctx, int64_t begin, int64_t end) {
  xent_job *j = (xent_job *)ctx;
  (void)begin, (void)end; /* rows are taken from the job's counter */
  for (int64_t b, e; xent_take(j, &b, &e);)
    for (int64_t r = b; r < e; r++) j->row_loss[r] = xent_row_scalar(j, r);
}

int distac_xent_ls_scalar(int64_t rows, int64_t cols, const float *z, int64_t ldz,
                          const int32_t *labels, float eps, double *loss, float *grad, int64_t ldg,
                          int threads) {
  return xent_run(xent_range_scalar, rows, cols, z, ldz, labels, eps, loss, grad, ldg, threads);
}

/* ------------------------------------------------------------------ AVX2 --- */
/* Max and sums of one chunk of n <= XENT_CHUNK columns. */
DISTAC_TARGET_AVX2 static void xent_chunk_avx2(const float *z, int64_t n, xent_sums *out) {
  const int64_t full = n & ~(int64_t)7;
  const __m256i tail = simd_head_mask_avx2(n - full);
  const __m256 tm = _mm256_castsi256_ps(tail), ninf = _mm256_set1_ps(-INFINITY);
  __m256 hi = ninf;
  for (int64_t c = 0; c < full; c += 8) hi = _mm256_max_ps(hi, _mm256_loadu_ps(z + c));
  if (full < n) /* masked-off lanes load as 0: blend in -Inf */
    hi = _mm256_max_ps(hi, _mm256_blendv_ps(ninf, _mm256_maskload_ps(z + full, tail), tm));
  out->m = simd_max_avx2(hi);

  const __m256 vm = _mm256_set1_ps(out->m), l2e = _mm256_set1_ps(XENT_LOG2E);
  __m256 s = _mm256_setzero_ps(), su = s;
  for (int64_t c = 0; c < full; c += 8) {
    if ((c & 15) == 0) /* one line: the next chunk arrives during the exps */
      _mm_prefetch((const char *)(z + c + XENT_CHUNK), _MM_HINT_T0);
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(z + c), vm);
    s = _mm256_add_ps(s, simd_exp2_avx2(_mm256_mul_ps(d, l2e))), su = _mm256_add_ps(su, d);
  }
  if (full < n) { /* zero the masked-off lanes */
    __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(z + full, tail), vm), tm);
    s = _mm256_add_ps(s, _mm256_and_ps(simd_exp2_avx2(_mm256_mul_ps(d, l2e)), tm));
    su = _mm256_add_ps(su, d);
  }
  out->s = simd_sum_avx2(s), out->u = simd_sum_avx2(su);
}

/* One vector of gradient: e^u f + c0, plus cl in lane `lane` if it is in 0..7. */
DISTAC_TARGET_AVX2 static inline __m256 xent_grad_vec_avx2(__m256 z, __m256 m, __m256 f, __m256 c0,
                                                           float cl, int64_t lane) {
  __m256 e = simd_exp2_avx2(_mm256_mul_ps(_mm256_sub_ps(z, m), _mm256_set1_ps(XENT_LOG2E)));
  __m256 g = _mm256_fmadd_ps(e, f, c0);
  if ((uint64_t)lane >= 8) return g;
  __m256i hit = _mm256_cmpeq_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                   _mm256_set1_epi32((int)lane));
  return _mm256_add_ps(g, _mm256_and_ps(_mm256_set1_ps(cl), _mm256_castsi256_ps(hit)));
}

/* Gradient of one row; the body is 32-byte aligned for NT stores if j->stream. */
DISTAC_TARGET_AVX2 static void xent_grad_avx2(const xent_job *j, const float *z, float *g,
                                              int64_t l, const xent_sums *row) {
  float f, c0, cl;
  xent_grad_consts(j, row, &f, &c0, &cl);
  const __m256 vm = _mm256_set1_ps(row->m), vf = _mm256_set1_ps(f), vc0 = _mm256_set1_ps(c0);
  const int64_t n = j->cols;
  int64_t c = 0;
  if (j->stream && ((uintptr_t)g & 3) == 0) {
    int64_t head = (int64_t)((32 - ((uintptr_t)g & 31)) & 31) / 4;
    if (head > n) head = n;
    if (head) {
      __m256i m = simd_head_mask_avx2(head);
      _mm256_maskstore_ps(g, m, xent_grad_vec_avx2(_mm256_maskload_ps(z, m), vm, vf, vc0, cl, l));
    }
    for (c = head; c + 8 <= n; c += 8)
      _mm256_stream_ps(g + c, xent_grad_vec_avx2(_mm256_loadu_ps(z + c), vm, vf, vc0, cl, l - c));
  }
  for (; c + 8 <= n; c += 8)
    _mm256_storeu_ps(g + c, xent_grad_vec_avx2(_mm256_loadu_ps(z + c), vm, vf, vc0, cl, l - c));
  if (c < n) {
    __m256i m = simd_head_mask_avx2(n - c);
    _mm256_maskstore_ps(g + c, m,
                        xent_grad_vec_avx2(_mm256_maskload_ps(z + c, m), vm, vf, vc0, cl, l - c));
  }
}

static void xent_range_avx2(void *ctx, int64_t begin, int64_t end) {
  (void)begin, (void)end; /* rows are taken from the job's counter */
  xent_rows((xent_job *)ctx, xent_chunk_avx2, xent_grad_avx2);
}

int distac_xent_ls_avx2(int64_t rows, int64_t cols, const float *z, int64_t ldz,
                        const int32_t *labels, float eps, double *loss, float *grad, int64_t ldg,
                        int threads) {
  return xent_run(xent_range_avx2, rows, cols, z, ldz, labels, eps, loss, grad, ldg, threads);
}

/* --------------------------------------------------------------- AVX-512 --- */
DISTAC_TARGET_AVX512 static void xent_chunk_avx512(const float *z, int64_t n, xent_sums *out) {
  const int64_t full = n & ~(int64_t)15;
  const __mmask16 tail = simd_head_mask_avx512(n - full);
  __m512 hi = _mm512_set1_ps(-INFINITY);
  for (int64_t c = 0; c < full; c += 16) hi = _mm512_max_ps(hi, _mm512_loadu_ps(z + c));
  if (full < n) hi = _mm512_mask_max_ps(hi, tail, hi, _mm512_maskz_loadu_ps(tail, z + full));
  out->m = _mm512_reduce_max_ps(hi);

  const __m512 vm = _mm512_set1_ps(out->m), l2e = _mm512_set1_ps(XENT_LOG2E);
  __m512 s = _mm512_setzero_ps(), su = s;
  for (int64_t c = 0; c < full; c += 16) {
    _mm_prefetch((const char *)(z + c + XENT_CHUNK), _MM_HINT_T0); /* the next chunk */
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(z + c), vm);
    s = _mm512_add_ps(s, simd_exp2_avx512(_mm512_mul_ps(d, l2e))), su = _mm512_add_ps(su, d);
  }
  if (full < n) {
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(tail, z + full), vm);
    s = _mm512_mask_add_ps(s, tail, s, simd_exp2_avx512(_mm512_mul_ps(d, l2e)));
    su = _mm512_mask_add_ps(su, tail, su, d);
  }
  out->s = simd_sum_avx512(s), out->u = simd_sum_avx512(su);
}

DISTAC_TARGET_AVX512 static inline __m512 xent_grad_vec_avx512(__m512 z, __m512 m, __m512 f,
                                                               __m512 c0, float cl,
                                                               int64_t lane) {
  __m512 e = simd_exp2_avx512(_mm512_mul_ps(_mm512_sub_ps(z, m), _mm512_set1_ps(XENT_LOG2E)));
  __m512 g = _mm512_fmadd_ps(e, f, c0);
  if ((uint64_t)lane >= 16) return g;
  return _mm512_mask_add_ps(g, (__mmask16)(1u << lane), g, _mm512_set1_ps(cl));
}

DISTAC_TARGET_AVX512 static void xent_grad_avx512(const xent_job *j, const float *z, float *g,
                                                  int64_t l, const xent_sums *row) {
  float f, c0, cl;
  xent_grad_consts(j, row, &f, &c0, &cl);
  const __m512 vm = _mm512_set1_ps(row->m), vf = _mm512_set1_ps(f), vc0 = _mm512_set1_ps(c0);
  const int64_t n = j->cols;
  int64_t c = 0;
  if (j->stream && ((uintptr_t)g & 3) == 0) {
    int64_t head = (int64_t)((64 - ((uintptr_t)g & 63)) & 63) / 4;
    if (head > n) head = n;
    if (head) {
      __mmask16 m = simd_head_mask_avx512(head);
      _mm512_mask_storeu_ps(g, m,
                            xent_grad_vec_avx512(_mm512_maskz_loadu_ps(m, z), vm, vf, vc0, cl, l));
    }
    for (c = head; c + 16 <= n; c += 16)
      _mm512_stream_ps(g + c,
                       xent_grad_vec_avx512(_mm512_loadu_ps(z + c), vm, vf, vc0, cl, l - c));
  }
  for (; c + 16 <= n; c += 16)
    _mm512_storeu_ps(g + c, xent_grad_vec_avx512(_mm512_loadu_ps(z + c), vm, vf, vc0, cl, l - c));
  if (c < n) {
    __mmask16 m = simd_head_mask_avx512(n - c);
    _mm512_mask_storeu_ps(
        g + c, m, xent_grad_vec_avx512(_mm512_maskz_loadu_ps(m, z + c), vm, vf, vc0, cl, l - c));
  }
}

static void xent_range_avx512(void *ctx, int64_t begin, int64_t end) {
  (void)begin, (void)end; /* rows are taken from the job's counter */
  xent_rows((xent_job *)ctx, xent_chunk_avx512, xent_grad_avx512);
}

int distac_xent_ls_avx512(int64_t rows, int64_t cols, const float *z, int64_t ldz,
                          const int32_t *labels, float eps, double *loss, float *grad,
                          int64_t ldg, int threads) {
  return xent_run(xent_range_avx512, rows, cols, z, ldz, labels, eps, loss, grad, ldg, threads);
}

DISTAC_DEFINE_DISPATCH(xent_ls,
                       (int64_t rows, int64_t cols, const float *z, int64_t ldz,
                        const int32_t *labels, float eps, double *loss, float *grad, int64_t ldg,
                        int threads),
                       (rows, cols, z, ldz, labels, eps, loss, grad, ldg, threads))
