/*
 * attention.c — the fused multi-head self-attention core, forward and
 * backward (distac_train.h): per (batch item b, head h), S = scale Q K^T,
 * P = softmax(S) by rows, out = P V.
 *
 * A (b, h) pair is one work item, computed start to end by one thread into
 * entries no other pair touches: same bits for any thread count.
 *
 * Each pair is built from four row kernels per ISA, vectorised over head_dim:
 *   dots:     s[j] = alpha * <q, X_j>, j < n        (rows of Q K^T, of dout V^T)
 *   softmax:  nr <= 4 rows in place, max subtracted  (every exp <= 1)
 *   dsoftmax: ds = alpha * p * (dp - <dp, p>), nr rows (dp in ds on entry)
 *   wsum:     o_r = sum_k w[r][k] X_k, r < nr <= 4   (P V, dS K, dS^T Q, P^T dout)
 * dots runs 8 (AVX2) or 16 (AVX-512) rows X_j at a time and folds their
 * accumulators into one vector of sums with a transpose-add tree: the
 * horizontal reduction costs ~3 instructions per dot instead of ~8. wsum
 * keeps nr x (1..4) vector accumulators, so each loaded chunk of X_k feeds nr
 * independent FMA chains. softmax and dsoftmax take the block's rows together:
 * one row is a serial chain (reduce, exp, reduce, divide) that leaves the
 * core idle, four interleave. Each row's arithmetic does not depend on nr.
 *
 * Backward, per pair: pass 1 over query rows i forms dP_i = dout_i V^T and
 * dS_i (times scale) into a seq x seq scratch, then dQ = dS K by row blocks;
 * pass 2 reads dS and P by columns for dK = dS^T Q and dV = P^T dout. Every
 * output row is written once, never read.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "attention.h"

/* Scratch floats a thread keeps on its stack (16 KiB); more is allocated. */
#define ATT_STACK_FLOATS 4096

typedef struct {
  int64_t seq, heads, dh, d; /* d = heads * dh */
  float scale;
  const float *qkv, *probs_in, *dout;
  float *probs, *out, *dqkv;
  int64_t ldqkv, ldout, lddout, lddqkv;
  const att_kernels *k;
  /* Per-thread scratch of slot floats each: heap slots claimed one per range
   * call (distac_parallel_for makes at most distac_threads_for calls), or
   * NULL for a stack buffer; need: floats a pair uses (0: none). */
  float *heap;
  int64_t need;
  atomic_int next_slot;
} att_ctx;

static void att_fwd_pair(const att_ctx *c, int64_t pair, float *scratch) {
  const int64_t seq = c->seq, b = pair / c->heads, h = pair % c->heads;
  const float *q = c->qkv + b * seq * c->ldqkv + h * c->dh;
  const float *k = q + c->d, *v = q + 2 * c->d;
  float *o = c->out + b * seq * c->ldout + h * c->dh;
  float *pp = c->probs ? c->probs + pair * seq * seq : NULL;
  for (int64_t i0 = 0; i0 < seq; i0 += ATT_RB) {
    int64_t nr = seq - i0 < ATT_RB ? seq - i0 : ATT_RB;
    float *p = pp ? pp + i0 * seq : scratch; /* nr rows of P, stride seq */
    for (int64_t r = 0; r < nr; r++) {
      c->k->dots(seq, c->dh, c->scale, q + (i0 + r) * c->ldqkv, k, c->ldqkv, p + r * seq);
    }
    c->k->softmax(nr, seq, p);
    c->k->wsum(nr, seq, c->dh, p, seq, 1, v, c->ldqkv, o + i0 * c->ldout, c->ldout);
  }
}

static void att_bwd_pair(const att_ctx *c, int64_t pair, float *ds) {
  const int64_t seq = c->seq, b = pair / c->heads, h = pair % c->heads, dh = c->dh;
  const float *q = c->qkv + b * seq * c->ldqkv + h * dh;
  const float *k = q + c->d, *v = q + 2 * c->d;
  const float *go = c->dout + b * seq * c->lddout + h * dh;
  const float *p = c->probs_in + pair * seq * seq;
  float *dq = c->dqkv + b * seq * c->lddqkv + h * dh;
  float *dk = dq + c->d, *dv = dq + 2 * c->d;
  for (int64_t i0 = 0; i0 < seq; i0 += ATT_RB) {
    int64_t nr = seq - i0 < ATT_RB ? seq - i0 : ATT_RB;
    for (int64_t i = i0; i < i0 + nr; i++) {
      c->k->dots(seq, dh, 1.0f, go + i * c->lddout, v, c->ldqkv, ds + i * seq);
    }
    c->k->dsoftmax(nr, seq, c->scale, p + i0 * seq, ds + i0 * seq);
  }
  for (int64_t i0 = 0; i0 < seq; i0 += ATT_RB) {
    int64_t nr = seq - i0 < ATT_RB ? seq - i0 : ATT_RB;
    c->k->wsum(nr, seq, dh, ds + i0 * seq, seq, 1, k, c->ldqkv, dq + i0 * c->lddqkv, c->lddqkv);
    /* Columns j0.. of dS and P: w[r][i] = dS[i][j0 + r]. */
    c->k->wsum(nr, seq, dh, ds + i0, 1, seq, q, c->ldqkv, dk + i0 * c->lddqkv, c->lddqkv);
    c->k->wsum(nr, seq, dh, p + i0, 1, seq, go, c->lddout, dv + i0 * c->lddqkv, c->lddqkv);
  }
}

static float *att_scratch(att_ctx *c, float *stack) {
  if (!c->heap) return stack;
  return c->heap + (int64_t)atomic_fetch_add(&c->next_slot, 1) * c->need;
}

static void att_fwd_range(void *p, int64_t p0, int64_t p1) {
  att_ctx *c = (att_ctx *)p;
  float stack[ATT_STACK_FLOATS];
  float *scratch = c->need ? att_scratch(c, stack) : NULL;
  for (int64_t pair = p0; pair < p1; pair++) att_fwd_pair(c, pair, scratch);
}

static void att_bwd_range(void *p, int64_t p0, int64_t p1) {
  att_ctx *c = (att_ctx *)p;
  float stack[ATT_STACK_FLOATS];
  float *scratch = att_scratch(c, stack);
  for (int64_t pair = p0; pair < p1; pair++) att_bwd_pair(c, pair, scratch);
}

/* a * b without int64 overflow (both >= 0). */
static int att_fits(int64_t a, int64_t b) {
  int64_t t;
  return !__builtin_mul_overflow(a, b, &t);
}

/* The shape checks both directions share; *d = heads * head_dim. Every
 * product that indexes memory must fit in int64. */
static int att_shape_ok(int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, float scale,
                        int64_t *d) {
  if (batch < 0 || seq < 1 || heads < 1 || head_dim < 1 || !isfinite(scale)) return 0;
  if (!att_fits(heads, head_dim) || !att_fits(3, heads * head_dim)) return 0;
  *d = heads * head_dim;
  return att_fits(batch, seq) && att_fits(batch, heads) && att_fits(seq, seq) &&
         att_fits(batch * heads, seq * seq);
}

/* A leading dimension of at least `least` for batch*seq rows. */
static int att_ld_ok(int64_t rows, int64_t ld, int64_t least) {
  return ld >= least && att_fits(rows, ld);
}

/* Runs fn over the pairs with `need` scratch floats per thread. */
static int att_run(att_ctx *c, int64_t pairs, int threads, distac_range_fn fn) {
  if (pairs == 0) return DISTAC_OK;
  /* A thread start costs ~10 us; a pair does ~4 seq^2 dh flops. */
  int64_t grain = train_grain(c->seq * c->seq * c->dh / 2);
  if (c->need > ATT_STACK_FLOATS) {
    int t = distac_threads_for(threads, pairs, grain);
    c->heap = (float *)malloc((size_t)t * (size_t)c->need * sizeof(float));
    if (!c->heap) return DISTAC_ENOMEM;
  }
  atomic_init(&c->next_slot, 0);
  distac_parallel_for(threads, pairs, grain, fn, c);
  free(c->heap);
  return DISTAC_OK;
}

static int att_forward_run(int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                           float scale, const float *qkv, int64_t ldqkv, float *probs, float *out,
                           int64_t ldout, int threads, const att_kernels *k) {
  int64_t d;
  if (!att_shape_ok(batch, seq, heads, head_dim, scale, &d) ||
      !att_ld_ok(batch * seq, ldqkv, 3 * d) || !att_ld_ok(batch * seq, ldout, d) || !qkv ||
      !out) {
    return DISTAC_EINVAL;
  }
  att_ctx c = {.seq = seq, .heads = heads, .dh = head_dim, .d = d, .scale = scale, .qkv = qkv,
               .probs = probs, .out = out, .ldqkv = ldqkv, .ldout = ldout, .k = k,
               .need = probs ? 0 : ATT_RB * seq};
  return att_run(&c, batch * heads, threads, att_fwd_range);
}

static int att_backward_run(int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                            float scale, const float *qkv, int64_t ldqkv, const float *probs,
                            const float *dout, int64_t lddout, float *dqkv, int64_t lddqkv,
                            int threads, const att_kernels *k) {
  int64_t d, rows = batch * seq;
  if (!att_shape_ok(batch, seq, heads, head_dim, scale, &d) || !att_ld_ok(rows, ldqkv, 3 * d) ||
      !att_ld_ok(rows, lddout, d) || !att_ld_ok(rows, lddqkv, 3 * d) || !qkv || !probs || !dout ||
      !dqkv) {
    return DISTAC_EINVAL;
  }
  att_ctx c = {.seq = seq, .heads = heads, .dh = head_dim, .d = d, .scale = scale, .qkv = qkv,
               .probs_in = probs, .dout = dout, .dqkv = dqkv, .ldqkv = ldqkv, .lddout = lddout,
               .lddqkv = lddqkv, .k = k, .need = seq * seq};
  return att_run(&c, batch * heads, threads, att_bwd_range);
}

/* ----------------------------------------------------------------- scalar */

static void att_dots_scalar(int64_t n, int64_t dh, float alpha, const float *q, const float *x,
                            int64_t ldx, float *s) {
  for (int64_t j = 0; j < n; j++) {
    float acc = 0;
    for (int64_t c = 0; c < dh; c++) acc += q[c] * x[j * ldx + c];
    s[j] = alpha * acc;
  }
}

static void att_softmax_scalar(int64_t nr, int64_t n, float *p) {
  for (float *row = p; row < p + nr * n; row += n) train_softmax_row_scalar(n, row, row);
}

static void att_dsoftmax_scalar(int64_t nr, int64_t n, float alpha, const float *p, float *ds) {
  for (int64_t r = 0; r < nr; r++, p += n, ds += n) {
    double t = 0;
    for (int64_t j = 0; j < n; j++) t += (double)ds[j] * p[j];
    float tf = (float)t;
    for (int64_t j = 0; j < n; j++) ds[j] = alpha * (p[j] * (ds[j] - tf));
  }
}

static void att_wsum_scalar(int64_t nr, int64_t n, int64_t dh, const float *w, int64_t wsr,
                            int64_t wsk, const float *x, int64_t ldx, float *o, int64_t ldo) {
  for (int64_t r = 0; r < nr; r++) {
    float *orow = o + r * ldo;
    for (int64_t c = 0; c < dh; c++) orow[c] = 0;
    for (int64_t k = 0; k < n; k++) {
      float wk = w[r * wsr + k * wsk];
      for (int64_t c = 0; c < dh; c++) orow[c] += wk * x[k * ldx + c];
    }
  }
}

/* (named as the SIMD tables, distac_att_ISA, for the entry points below) */
static const att_kernels distac_att_scalar = {att_dots_scalar, att_softmax_scalar,
                                              att_dsoftmax_scalar, att_wsum_scalar};

/* ---------------------------------------------------------------- entries */

#define ATT_FWD_PARAMS                                                                   \
  (int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, float scale,             \
   const float *qkv, int64_t ldqkv, float *probs, float *out, int64_t ldout, int threads)
#define ATT_FWD_ARGS (batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, out, ldout, threads)
#define ATT_BWD_PARAMS                                                                    \
  (int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, float scale,              \
   const float *qkv, int64_t ldqkv, const float *probs, const float *dout, int64_t lddout, \
   float *dqkv, int64_t lddqkv, int threads)
#define ATT_BWD_ARGS \
  (batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, dout, lddout, dqkv, lddqkv, threads)

#define ATT_FWD_CALL(isa)                                                                 \
  att_forward_run(batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, out, ldout, threads, \
                  &distac_att_##isa)
DISTAC_DEFINE_OP(attention_forward, ATT_FWD_PARAMS, ATT_FWD_ARGS, ATT_FWD_CALL)

#define ATT_BWD_CALL(isa)                                                                      \
  att_backward_run(batch, seq, heads, head_dim, scale, qkv, ldqkv, probs, dout, lddout, dqkv,  \
                   lddqkv, threads, &distac_att_##isa)
DISTAC_DEFINE_OP(attention_backward, ATT_BWD_PARAMS, ATT_BWD_ARGS, ATT_BWD_CALL)
