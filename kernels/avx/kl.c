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
#include <math.h>
#include <stdint.h>

#include "loss_rows.h"
#include "simd_map.h"
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

/* Adds chunk c into the running row sums r, in double. The scales are the
 * chunks' own (it2 ln 2 for 1/Tt), so chunk and row use one temperature. */
static inline void kl_join(kl_sums *r, const kl_sums *c, float it2, float is2) {
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
static inline double kl_row_value(const kl_sums *r) {
  double kl = r->w / r->s + log(r->q / r->s);
  return isfinite(kl) ? kl : NAN;
}

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
  loss_rows q;    /* the KL of each row */
} kl_job;

static int kl_run(distac_range_fn range, int64_t rows, int64_t cols, const float *zt, int64_t ldt,
                  const float *zs, int64_t lds, float t_tcr, float t_stu, double *loss,
                  float *grad, int64_t ldg, int threads) {
  if (rows < 1 || cols < 1 || !zt || !zs || !loss || ldt < cols || lds < cols ||
      (grad && ldg < cols) || !(t_tcr > 0) || !(t_stu > 0) || isinf(t_tcr) || isinf(t_stu))
    return DISTAC_EINVAL;
  kl_job j = {rows, cols, zt, zs, ldt, lds, 1.0f / t_tcr, 1.0f / t_stu,
              (float)(SIMD_LOG2E / t_tcr), (float)(SIMD_LOG2E / t_stu),
              (double)t_tcr / (double)rows, grad, ldg,
              grad && (double)rows * (double)cols * sizeof(float) >= KL_STREAM_BYTES,
              {NULL, KL_BLOCK / cols + 1, 0}};
  double sum;
  int rc = loss_rows_run(&j.q, rows, threads, KL_GRAIN / cols + 1, range, &j, &sum);
  if (rc == DISTAC_OK) *loss = (double)t_tcr * (double)t_stu / (double)rows * sum;
  return rc;
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
  LOSS_ROWS_FOR(j, r) j->q.vals[r] = kl_row_scalar(j, r);
}

/* ------------------------------------------------------- AVX2, AVX-512 --- */

#if DISTAC_HAVE_X86
/* The SIMD variants (kl_simd.h) differ only in these two routines. */
typedef void (*kl_chunk_fn)(const float *zt, const float *zs, int64_t n, float it2, float is2,
                            kl_sums *out);
typedef void (*kl_grad_fn)(const kl_job *j, const float *zt, const float *zs, float *g,
                           const kl_sums *row);

/* Per row: the online pass, then the gradient pass. */
static void kl_rows(kl_job *j, kl_chunk_fn chunk, kl_grad_fn grad) {
  LOSS_ROWS_FOR(j, r) {
    const float *t = j->zt + r * j->ldt, *s = j->zs + r * j->lds;
    kl_sums row, c;
    for (int64_t k = 0; k < j->cols; k += KL_CHUNK) {
      chunk(t + k, s + k, j->cols - k < KL_CHUNK ? j->cols - k : KL_CHUNK, j->it2, j->is2,
            k ? &c : &row);
      if (k) kl_join(&row, &c, j->it2, j->is2);
    }
    j->q.vals[r] = kl_row_value(&row);
    if (j->grad) grad(j, t, s, j->grad + r * j->ldg, &row);
  }
  if (j->stream) _mm_sfence(); /* NT stores visible before the join */
}
#endif

#define SIMD_TEMPLATE "kl_simd.h"
#include "simd_each.h"

#define KL_PARAMS                                                                            \
  (int64_t rows, int64_t cols, const float *zt, int64_t ldt, const float *zs, int64_t lds,   \
   float t_tcr, float t_stu, double *loss, float *grad, int64_t ldg, int threads)
#define KL_ARGS (rows, cols, zt, ldt, zs, lds, t_tcr, t_stu, loss, grad, ldg, threads)
#define KL_CALL(isa) \
  kl_run(kl_range_##isa, rows, cols, zt, ldt, zs, lds, t_tcr, t_stu, loss, grad, ldg, threads)
DISTAC_DEFINE_OP(kl_distill, KL_PARAMS, KL_ARGS, KL_CALL)
