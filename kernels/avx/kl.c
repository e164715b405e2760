/*
 * kl.c — fused KL distillation loss and gradient (distac_kl_distill_*).
 *
 * Per row, with a = zt/Tt, b = zs/Ts, p = softmax(a), q = softmax(b), and the
 * shifted logits u = a - max a, v = b - max b:
 *   KL(p || q) = sum_j p_j (u_j - v_j) + log(Q/S),   S = sum e^u, Q = sum e^v
 *   grad_j     = Tt/B (e^v_j / Q - e^u_j / S)
 * (the max terms cancel, so nothing of size |logit| is ever subtracted).
 *
 * SIMD variants, per row:
 *  1. an online pass over chunks of KL_CHUNK columns. A max sweep brings the
 *     chunk into L1; an exp sweep sums S_k, Q_k and W_k = sum e^u (u - v)
 *     shifted by the chunk's own maxima (float lanes, added into double per
 *     chunk); the chunk then joins the row's running sums in double, rescaled
 *     to the larger max: with alpha = (old max a - new max a) and beta the same
 *     for b,  S <- e^alpha S,  Q <- e^beta Q,  W <- e^alpha (W + (alpha - beta) S).
 *  2. if a gradient is wanted, a pass that recomputes e^u, e^v with the row
 *     maxima (the row is still in L2 for typical widths) and writes the
 *     gradient, with non-temporal stores when it is too big to stay cached.
 * So each matrix is read from memory once (twice for rows wider than L2) and
 * the gradient written once. Keeping e^u, e^v in a scratch row instead was
 * measured slower: its stores and reloads cost more than two exps. The exps
 * are base 2 (simd_math.h), on u log2(e) and v log2(e).
 *
 * Non-finite inputs: NaN propagates through the exps; -Inf gives 0 * Inf in W
 * or Inf - Inf in a max shift; +Inf gives Inf - Inf. So a finite KL means
 * finite inputs, and a row whose KL is not finite gets NaN.
 * Rows are split over threads; per-row KLs are summed in row order afterwards,
 * so the loss has the same bits for any thread count.
 */
#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"
#include "simd_math.h"

#define KL_CHUNK 1024             /* columns per chunk: 2 x 4 KiB of logits stay in L1 */
#define KL_GRAIN (1 << 17)        /* minimum elements per thread (thread start ~ 30 us) */
#define KL_BLOCK (1 << 16)        /* elements a thread takes at a time (~50 us of work) */
#define KL_STREAM_BYTES (4 << 20) /* gradients this large bypass the cache (NT stores) */

/* A row's running maxima and sums (or one chunk's, in float-lane sums). */
typedef struct {
  float mt, ms;    /* maxima of zt and zs */
  double s, q, w;  /* S, Q, W, relative to those maxima */
} kl_sums;

typedef struct {
  int64_t rows, cols;
  const float *zt, *zs;
  int64_t ldt, lds;
  float it, is;   /* 1/Tt, 1/Ts (scalar variant) */
  float it2, is2; /* log2(e)/Tt, log2(e)/Ts (SIMD variants) */
  double gscale;  /* Tt / B */
  float *grad;
  int64_t ldg;
  int stream;     /* use non-temporal stores for grad */
  double *row_kl; /* KL of each row */
  int64_t block;  /* rows a thread takes at a time */
  _Atomic int64_t next; /* the first row no thread has taken */
} kl_job;

/* Adds chunk c into the running row sums r, in double. The scales are the
 * chunks' own (it2 ln 2 for 1/Tt), so chunk and row use one temperature. */
static void kl_join(kl_sums *r, const kl_sums *c, float it2, float is2) {
  const double it = (double)it2 * SIMD_LN2, is = (double)is2 * SIMD_LN2;
  float mt = c->mt > r->mt ? c->mt : r->mt, ms = c->ms > r->ms ? c->ms : r->ms;
  double w = 0, s = 0, q = 0;
  for (int i = 0; i < 2; i++) { /* the old sums, then the chunk's */
    const kl_sums *x = i ? c : r;
    double alpha = ((double)x->mt - mt) * it, beta = ((double)x->ms - ms) * is;
    /* 0 for the side holding the max; far below it e^alpha may underflow to
     * 0 and that side vanishes, as it should */
    double ea = alpha == 0 ? 1 : exp(alpha), eb = beta == 0 ? 1 : exp(beta);
    w += ea * (x->w + (alpha - beta) * x->s);
    s += ea * x->s, q += eb * x->q;
  }
  *r = (kl_sums){mt, ms, s, q, w};
}

/* KL of a row from its sums; NaN unless finite (see the top of the file). */
static double kl_row_value(const kl_sums *r) {
  double kl = r->w / r->s + log(r->q / r->s);
  return isfinite(kl) ? kl : NAN;
}

static int kl_run(distac_range_fn range, int64_t rows, int64_t cols, const float *zt, int64_t ldt,
                  const float *zs, int64_t lds, float t_tcr, float t_stu, double *loss,
                  float *grad, int64_t ldg, int threads) {
  if (rows < 1 || cols < 1 || !zt || !zs || !loss || ldt < cols || lds < cols ||
      (grad && ldg < cols) || !(t_tcr > 0) || !(t_stu > 0) || isinf(t_tcr) || isinf(t_stu))
    return DISTAC_EINVAL;
  kl_job j = {rows, cols, zt, zs, ldt, lds, 1.0f / t_tcr, 1.0f / t_stu,
              (float)(SIMD_LOG2E / t_tcr), (float)(SIMD_LOG2E / t_stu),
              (double)t_tcr / (double)rows, grad, ldg,
              grad && (double)rows * (double)cols * sizeof(float) >= KL_STREAM_BYTES, NULL,
              KL_BLOCK / cols + 1, 0};
  j.row_kl = (double *)malloc((size_t)rows * sizeof(double));
  if (!j.row_kl) return DISTAC_ENOMEM;
  /* One work item per thread; each takes blocks of rows from j.next until
   * none are left, so a thread slowed by a busy core does less of the work.
   * Which thread does a row does not change its KL. */
  int t = distac_threads_for(threads, rows, KL_GRAIN / cols + 1);
  distac_parallel_for(t, t, 1, range, &j);
  double sum = 0;
  for (int64_t r = 0; r < rows; r++) sum += j.row_kl[r];
  *loss = (double)t_tcr * (double)t_stu / (double)rows * sum;
  free(j.row_kl);
  return DISTAC_OK;
}

/* The SIMD variants differ only in these two routines. */
typedef void (*kl_chunk_fn)(const float *zt, const float *zs, int64_t n, float it2, float is2,
                            kl_sums *out);
typedef void (*kl_grad_fn)(const kl_job *j, const float *zt, const float *zs, float *g,
                           const kl_sums *row);

/* Takes the next block of rows [*b, *e); 0 when none is left. */
static int kl_take(kl_job *j, int64_t *b, int64_t *e) {
  *b = atomic_fetch_add_explicit(&j->next, j->block, memory_order_relaxed);
  *e = *b + j->block < j->rows ? *b + j->block : j->rows;
  return *b < j->rows;
}

/* Per row: the online pass, then the gradient pass. */
static void kl_rows(kl_job *j, kl_chunk_fn chunk, kl_grad_fn grad) {
  for (int64_t b, e; kl_take(j, &b, &e);)
    for (int64_t r = b; r < e; r++) {
      const float *t = j->zt + r * j->ldt, *s = j->zs + r * j->lds;
      kl_sums row, c;
      for (int64_t k = 0; k < j->cols; k += KL_CHUNK) {
        chunk(t + k, s + k, j->cols - k < KL_CHUNK ? j->cols - k : KL_CHUNK, j->it2, j->is2,
              k ? &c : &row);
        if (k) kl_join(&row, &c, j->it2, j->is2);
      }
      j->row_kl[r] = kl_row_value(&row);
      if (j->grad) grad(j, t, s, j->grad + r * j->ldg, &row);
    }
  if (j->stream) _mm_sfence(); /* NT stores visible before the join */
}

/* ---------------------------------------------------------------- scalar ---
 * Portable reference: per row a max pass, a sum pass (expf, double sums) and a
 * gradient pass. */
static double kl_row_scalar(const kl_job *j, int64_t r) {
  const float *t = j->zt + r * j->ldt, *s = j->zs + r * j->lds;
  float mt = t[0], ms = s[0];
  int finite = 1;
  for (int64_t c = 0; c < j->cols; c++) {
    finite &= isfinite(t[c]) && isfinite(s[c]);
    if (t[c] > mt) mt = t[c];
    if (s[c] > ms) ms = s[c];
  }
  double sa = 0, sb = 0, w = 0;
  for (int64_t c = 0; c < j->cols; c++) {
    float u = (t[c] - mt) * j->it, v = (s[c] - ms) * j->is;
    double e = expf(u);
    sa += e, sb += expf(v), w += e * ((double)u - v);
  }
  if (j->grad) {
    float *g = j->grad + r * j->ldg;
    double fa = j->gscale / sa, fb = j->gscale / sb;
    for (int64_t c = 0; c < j->cols; c++)
      g[c] = (float)(fb * expf((s[c] - ms) * j->is) - fa * expf((t[c] - mt) * j->it));
  }
  return finite ? w / sa + log(sb / sa) : NAN;
}

static void kl_range_scalar(void *ctx, int64_t begin, int64_t end) {
  kl_job *j = (kl_job *)ctx;
  (void)begin, (void)end; /* rows are taken from the job's counter */
  for (int64_t b, e; kl_take(j, &b, &e);)
    for (int64_t r = b; r < e; r++) j->row_kl[r] = kl_row_scalar(j, r);
}

int distac_kl_distill_scalar(int64_t rows, int64_t cols, const float *zt, int64_t ldt,
                             const float *zs, int64_t lds, float t_tcr, float t_stu, double *loss,
                             float *grad, int64_t ldg, int threads) {
  return kl_run(kl_range_scalar, rows, cols, zt, ldt, zs, lds, t_tcr, t_stu, loss, grad, ldg,
                threads);
}

/* ------------------------------------------------------------------ AVX2 --- */
/* Maxima and sums of one chunk of n <= KL_CHUNK columns. */
DISTAC_TARGET_AVX2 static void kl_chunk_avx2(const float *zt, const float *zs, int64_t n,
                                             float it2, float is2, kl_sums *out) {
  const int64_t full = n & ~(int64_t)7;
  const __m256i tail = simd_head_mask_avx2(n - full);
  const __m256 tm = _mm256_castsi256_ps(tail), ninf = _mm256_set1_ps(-INFINITY);
  __m256 mt = ninf, ms = ninf;
  for (int64_t c = 0; c < full; c += 8) {
    mt = _mm256_max_ps(mt, _mm256_loadu_ps(zt + c));
    ms = _mm256_max_ps(ms, _mm256_loadu_ps(zs + c));
  }
  if (full < n) { /* masked-off lanes load as 0: blend in -Inf */
    mt = _mm256_max_ps(mt, _mm256_blendv_ps(ninf, _mm256_maskload_ps(zt + full, tail), tm));
    ms = _mm256_max_ps(ms, _mm256_blendv_ps(ninf, _mm256_maskload_ps(zs + full, tail), tm));
  }
  out->mt = simd_max_avx2(mt), out->ms = simd_max_avx2(ms);

  const __m256 vmt = _mm256_set1_ps(out->mt), vms = _mm256_set1_ps(out->ms);
  const __m256 vit = _mm256_set1_ps(it2), vis = _mm256_set1_ps(is2);
  __m256 s = _mm256_setzero_ps(), q = s, w = s;
  for (int64_t c = 0; c < full; c += 8) {
    if ((c & 15) == 0) { /* one line per matrix: the next chunk arrives during the exps */
      _mm_prefetch((const char *)(zt + c + KL_CHUNK), _MM_HINT_T0);
      _mm_prefetch((const char *)(zs + c + KL_CHUNK), _MM_HINT_T0);
    }
    __m256 u = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(zt + c), vmt), vit);
    __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(zs + c), vms), vis);
    __m256 a = simd_exp2_avx2(u);
    s = _mm256_add_ps(s, a), q = _mm256_add_ps(q, simd_exp2_avx2(v));
    w = _mm256_fmadd_ps(a, _mm256_sub_ps(u, v), w);
  }
  if (full < n) { /* zero the masked-off lanes: their exps and u - v are junk */
    __m256 u = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(zt + full, tail), vmt), vit);
    __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(zs + full, tail), vms), vis);
    __m256 a = _mm256_and_ps(simd_exp2_avx2(u), tm);
    s = _mm256_add_ps(s, a), q = _mm256_add_ps(q, _mm256_and_ps(simd_exp2_avx2(v), tm));
    w = _mm256_fmadd_ps(a, _mm256_and_ps(_mm256_sub_ps(u, v), tm), w);
  }
  /* w summed a (u - v) log2(e): back to natural units */
  out->s = simd_sum_avx2(s), out->q = simd_sum_avx2(q), out->w = simd_sum_avx2(w) * SIMD_LN2;
}

/* One vector of gradient: fs e^v - ft e^u. */
DISTAC_TARGET_AVX2 static inline __m256 kl_grad_vec_avx2(__m256 x, __m256 y, __m256 mt, __m256 ms,
                                                         __m256 it, __m256 is, __m256 ft,
                                                         __m256 fs) {
  __m256 a = simd_exp2_avx2(_mm256_mul_ps(_mm256_sub_ps(x, mt), it));
  __m256 b = simd_exp2_avx2(_mm256_mul_ps(_mm256_sub_ps(y, ms), is));
  return _mm256_fmsub_ps(b, fs, _mm256_mul_ps(a, ft));
}

/* Gradient of one row; the body is 32-byte aligned for NT stores if j->stream. */
DISTAC_TARGET_AVX2 static void kl_grad_avx2(const kl_job *j, const float *zt, const float *zs,
                                            float *g, const kl_sums *row) {
  const __m256 mt = _mm256_set1_ps(row->mt), ms = _mm256_set1_ps(row->ms);
  const __m256 it = _mm256_set1_ps(j->it2), is = _mm256_set1_ps(j->is2);
  const __m256 ft = _mm256_set1_ps((float)(j->gscale / row->s));
  const __m256 fs = _mm256_set1_ps((float)(j->gscale / row->q));
  const int64_t n = j->cols;
  int64_t c = 0;
  if (j->stream && ((uintptr_t)g & 3) == 0) {
    int64_t head = (int64_t)((32 - ((uintptr_t)g & 31)) & 31) / 4;
    if (head > n) head = n;
    if (head) {
      __m256i m = simd_head_mask_avx2(head);
      __m256 x = _mm256_maskload_ps(zt, m), y = _mm256_maskload_ps(zs, m);
      _mm256_maskstore_ps(g, m, kl_grad_vec_avx2(x, y, mt, ms, it, is, ft, fs));
    }
    for (c = head; c + 8 <= n; c += 8)
      _mm256_stream_ps(g + c, kl_grad_vec_avx2(_mm256_loadu_ps(zt + c), _mm256_loadu_ps(zs + c),
                                               mt, ms, it, is, ft, fs));
  }
  for (; c + 8 <= n; c += 8)
    _mm256_storeu_ps(g + c, kl_grad_vec_avx2(_mm256_loadu_ps(zt + c), _mm256_loadu_ps(zs + c), mt,
                                             ms, it, is, ft, fs));
  if (c < n) {
    __m256i m = simd_head_mask_avx2(n - c);
    _mm256_maskstore_ps(g + c, m,
                        kl_grad_vec_avx2(_mm256_maskload_ps(zt + c, m),
                                         _mm256_maskload_ps(zs + c, m), mt, ms, it, is, ft, fs));
  }
}

static void kl_range_avx2(void *ctx, int64_t begin, int64_t end) {
  (void)begin, (void)end; /* rows are taken from the job's counter */
  kl_rows((kl_job *)ctx, kl_chunk_avx2, kl_grad_avx2);
}

int distac_kl_distill_avx2(int64_t rows, int64_t cols, const float *zt, int64_t ldt,
                           const float *zs, int64_t lds, float t_tcr, float t_stu, double *loss,
                           float *grad, int64_t ldg, int threads) {
  return kl_run(kl_range_avx2, rows, cols, zt, ldt, zs, lds, t_tcr, t_stu, loss, grad, ldg,
                threads);
}

/* --------------------------------------------------------------- AVX-512 --- */
DISTAC_TARGET_AVX512 static void kl_chunk_avx512(const float *zt, const float *zs, int64_t n,
                                                 float it2, float is2, kl_sums *out) {
  const int64_t full = n & ~(int64_t)15;
  const __mmask16 tail = simd_head_mask_avx512(n - full);
  __m512 mt = _mm512_set1_ps(-INFINITY), ms = mt;
  for (int64_t c = 0; c < full; c += 16) {
    mt = _mm512_max_ps(mt, _mm512_loadu_ps(zt + c));
    ms = _mm512_max_ps(ms, _mm512_loadu_ps(zs + c));
  }
  if (full < n) {
    mt = _mm512_mask_max_ps(mt, tail, mt, _mm512_maskz_loadu_ps(tail, zt + full));
    ms = _mm512_mask_max_ps(ms, tail, ms, _mm512_maskz_loadu_ps(tail, zs + full));
  }
  out->mt = _mm512_reduce_max_ps(mt), out->ms = _mm512_reduce_max_ps(ms);

  const __m512 vmt = _mm512_set1_ps(out->mt), vms = _mm512_set1_ps(out->ms);
  const __m512 vit = _mm512_set1_ps(it2), vis = _mm512_set1_ps(is2);
  __m512 s = _mm512_setzero_ps(), q = s, w = s;
  for (int64_t c = 0; c < full; c += 16) {
    /* one line per matrix: the next chunk arrives while the exps compute */
    _mm_prefetch((const char *)(zt + c + KL_CHUNK), _MM_HINT_T0);
    _mm_prefetch((const char *)(zs + c + KL_CHUNK), _MM_HINT_T0);
    __m512 u = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(zt + c), vmt), vit);
    __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(zs + c), vms), vis);
    __m512 a = simd_exp2_avx512(u);
    s = _mm512_add_ps(s, a), q = _mm512_add_ps(q, simd_exp2_avx512(v));
    w = _mm512_fmadd_ps(a, _mm512_sub_ps(u, v), w);
  }
  if (full < n) {
    __m512 u = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, zt + full), vmt), vit);
    __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, zs + full), vms), vis);
    __m512 a = simd_exp2_avx512(u);
    s = _mm512_mask_add_ps(s, tail, s, a);
    q = _mm512_mask_add_ps(q, tail, q, simd_exp2_avx512(v));
    w = _mm512_mask3_fmadd_ps(a, _mm512_sub_ps(u, v), w, tail);
  }
  out->s = simd_sum_avx512(s), out->q = simd_sum_avx512(q), out->w = simd_sum_avx512(w) * SIMD_LN2;
}

DISTAC_TARGET_AVX512 static inline __m512 kl_grad_vec_avx512(__m512 x, __m512 y, __m512 mt,
                                                             __m512 ms, __m512 it, __m512 is,
                                                             __m512 ft, __m512 fs) {
  __m512 a = simd_exp2_avx512(_mm512_mul_ps(_mm512_sub_ps(x, mt), it));
  __m512 b = simd_exp2_avx512(_mm512_mul_ps(_mm512_sub_ps(y, ms), is));
  return _mm512_fmsub_ps(b, fs, _mm512_mul_ps(a, ft));
}

DISTAC_TARGET_AVX512 static void kl_grad_avx512(const kl_job *j, const float *zt, const float *zs,
                                                float *g, const kl_sums *row) {
  const __m512 mt = _mm512_set1_ps(row->mt), ms = _mm512_set1_ps(row->ms);
  const __m512 it = _mm512_set1_ps(j->it2), is = _mm512_set1_ps(j->is2);
  const __m512 ft = _mm512_set1_ps((float)(j->gscale / row->s));
  const __m512 fs = _mm512_set1_ps((float)(j->gscale / row->q));
  const int64_t n = j->cols;
  int64_t c = 0;
  if (j->stream && ((uintptr_t)g & 3) == 0) {
    int64_t head = (int64_t)((64 - ((uintptr_t)g & 63)) & 63) / 4;
    if (head > n) head = n;
    if (head) {
      __mmask16 m = simd_head_mask_avx512(head);
      _mm512_mask_storeu_ps(g, m, kl_grad_vec_avx512(_mm512_maskz_loadu_ps(m, zt),
                                                     _mm512_maskz_loadu_ps(m, zs), mt, ms, it, is,
                                                     ft, fs));
    }
    for (c = head; c + 16 <= n; c += 16)
      _mm512_stream_ps(g + c, kl_grad_vec_avx512(_mm512_loadu_ps(zt + c), _mm512_loadu_ps(zs + c),
                                                 mt, ms, it, is, ft, fs));
  }
  for (; c + 16 <= n; c += 16)
    _mm512_storeu_ps(g + c, kl_grad_vec_avx512(_mm512_loadu_ps(zt + c), _mm512_loadu_ps(zs + c), mt,
                                               ms, it, is, ft, fs));
  if (c < n) {
    __mmask16 m = simd_head_mask_avx512(n - c);
    _mm512_mask_storeu_ps(g + c, m,
                          kl_grad_vec_avx512(_mm512_maskz_loadu_ps(m, zt + c),
                                             _mm512_maskz_loadu_ps(m, zs + c), mt, ms, it, is,
                                             ft, fs));
  }
}

static void kl_range_avx512(void *ctx, int64_t begin, int64_t end) {
  (void)begin, (void)end; /* rows are taken from the job's counter */
  kl_rows((kl_job *)ctx, kl_chunk_avx512, kl_grad_avx512);
}

int distac_kl_distill_avx512(int64_t rows, int64_t cols, const float *zt, int64_t ldt,
                             const float *zs, int64_t lds, float t_tcr, float t_stu, double *loss,
                             float *grad, int64_t ldg, int threads) {
  return kl_run(kl_range_avx512, rows, cols, zt, ldt, zs, lds, t_tcr, t_stu, loss, grad, ldg,
                threads);
}

DISTAC_DEFINE_DISPATCH(kl_distill,
                       (int64_t rows, int64_t cols, const float *zt, int64_t ldt, const float *zs,
                        int64_t lds, float t_tcr, float t_stu, double *loss, float *grad,
                        int64_t ldg, int threads),
                       (rows, cols, zt, ldt, zs, lds, t_tcr, t_stu, loss, grad, ldg, threads))
