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
#include <math.h>
#include <stdint.h>

#include "loss_rows.h"
#include "simd_map.h"
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
  loss_rows q;      /* the loss of each row */
} xent_job;

/* The exps are 2^((z - m) * (float)log2 e) = e^(XENT_C (z - m)) with
 * XENT_C = (float)log2(e) * ln 2, 1 up to 1e-8; the sums in double use the
 * same scale, so exps and logs agree. */
#define XENT_C ((double)XENT_LOG2E * SIMD_LN2)

/* Adds chunk c (after `done` columns) into the running row sums r. */
static inline void xent_join(xent_sums *r, const xent_sums *c, int64_t done, int64_t n) {
  float m = c->m > r->m ? c->m : r->m;
  double dr = (double)r->m - m, dc = (double)c->m - m; /* one of them is 0 */
  r->s = (dr == 0 ? r->s : exp(dr * XENT_C) * r->s) +
         (dc == 0 ? c->s : exp(dc * XENT_C) * c->s);
  r->u = r->u + (double)done * dr + c->u + (double)n * dc;
  r->m = m;
}

static inline double xent_row_value(const xent_sums *r, int64_t cols, float zl, float eps) {
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
                grad && (double)rows * (double)cols * sizeof(float) >= XENT_STREAM_BYTES,
                {NULL, XENT_BLOCK / cols + 1, 0}};
  double sum;
  int rc = loss_rows_run(&j.q, rows, threads, XENT_GRAIN / cols + 1, range, &j, &sum);
  if (rc == DISTAC_OK) *loss = sum / (double)rows;
  return rc;
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
  LOSS_ROWS_FOR(j, r) j->q.vals[r] = xent_row_scalar(j, r);
}

/* ------------------------------------------------------- AVX2, AVX-512 --- */

#if DISTAC_HAVE_X86
/* The SIMD variants (xent_simd.h) differ only in these two routines. */
typedef void (*xent_chunk_fn)(const float *z, int64_t n, xent_sums *out);
typedef void (*xent_grad_fn)(const xent_job *j, const float *z, float *g, int64_t l,
                             const xent_sums *row);

/* Per row: the online pass, then the gradient pass. */
static void xent_rows(xent_job *j, xent_chunk_fn chunk, xent_grad_fn grad) {
  LOSS_ROWS_FOR(j, r) {
    const float *z = j->z + r * j->ldz;
    xent_sums row, c;
    for (int64_t k = 0; k < j->cols; k += XENT_CHUNK) {
      int64_t n = j->cols - k < XENT_CHUNK ? j->cols - k : XENT_CHUNK;
      chunk(z + k, n, k ? &c : &row);
      if (k) xent_join(&row, &c, k, n);
    }
    int64_t l = j->labels[r];
    j->q.vals[r] = xent_row_value(&row, j->cols, z[l], j->eps);
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
#endif

#define SIMD_TEMPLATE "xent_simd.h"
#include "simd_each.h"

#define XENT_PARAMS                                                                  \
  (int64_t rows, int64_t cols, const float *z, int64_t ldz, const int32_t *labels,   \
   float eps, double *loss, float *grad, int64_t ldg, int threads)
#define XENT_ARGS (rows, cols, z, ldz, labels, eps, loss, grad, ldg, threads)
#define XENT_CALL(isa) \
  xent_run(xent_range_##isa, rows, cols, z, ldz, labels, eps, loss, grad, ldg, threads)
DISTAC_DEFINE_OP(xent_ls, XENT_PARAMS, XENT_ARGS, XENT_CALL)
