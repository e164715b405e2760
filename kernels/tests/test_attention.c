/*
 * test_attention.c — the fused attention core (distac_train.h) on every
 * instruction set this CPU runs, against float64 references: out and probs
 * of the forward (with and without stored probs: the same bits), dQ, dK, dV
 * of the backward, the same bits for 1, 2 and 3 threads, the allocated
 * scratch paths (seq > 64 backward, seq > 1024 forward without probs), and
 * bad arguments. Every matrix has ld > its width with a sentinel in the gaps
 * that must survive.
 */
#include "distac_train.h"
#include "testutil.h"

#define SENTINEL TU_SENTINEL
#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct {
  int64_t batch, seq, heads, dh;
} att_shape;

static const att_shape k_shapes[] = {
    {1, 1, 1, 1},   {2, 17, 4, 16}, {1, 50, 12, 64}, {3, 17, 3, 65}, {5, 3, 2, 3},
    {2, 50, 1, 1},  {4, 1, 5, 16},  {1, 17, 12, 3},  {2, 9, 7, 64},  {1, 70, 2, 16},
    {1, 33, 1, 100}, {1, 1030, 1, 3},
};


/* rows x cols with leading dimension cols + pad: values in the columns,
 * SENTINEL in the gaps (vals: uniform in [-1, 1), or SENTINEL everywhere). */
static float *alloc_mat(uint64_t *s, int64_t rows, int64_t cols, int64_t pad, int fill, int64_t *ld) {
  *ld = cols + pad;
  float *m = tu_alloc_f(rows * *ld);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < *ld; c++) m[r * *ld + c] = fill && c < cols ? tu_uniform(s, 1.0f) : SENTINEL;
  return m;
}



/* Forward reference: out (rows x D dense) and P (pairs x seq x seq). */
static void ref_forward(const att_shape *sh, float scale, const float *qkv, int64_t ld,
                        double *out, double *p) {
  const int64_t seq = sh->seq, dh = sh->dh, d = sh->heads * dh;
  for (int64_t b = 0; b < sh->batch; b++)
    for (int64_t h = 0; h < sh->heads; h++) {
      double *pp = p + (b * sh->heads + h) * seq * seq;
      for (int64_t i = 0; i < seq; i++) {
        const float *q = qkv + (b * seq + i) * ld + h * dh;
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < seq; j++) {
          const float *k = qkv + (b * seq + j) * ld + d + h * dh;
          double dot = 0;
          for (int64_t c = 0; c < dh; c++) dot += (double)q[c] * k[c];
          pp[i * seq + j] = scale * dot;
          m = fmax(m, pp[i * seq + j]);
        }
        for (int64_t j = 0; j < seq; j++) sum += pp[i * seq + j] = exp(pp[i * seq + j] - m);
        for (int64_t j = 0; j < seq; j++) pp[i * seq + j] /= sum;
        for (int64_t c = 0; c < dh; c++) {
          double o = 0;
          for (int64_t j = 0; j < seq; j++) o += pp[i * seq + j] * qkv[(b * seq + j) * ld + 2 * d + h * dh + c];
          out[(b * seq + i) * d + h * dh + c] = o;
        }
      }
    }
}

/* Backward reference from the kernel's fp32 probs: dqkv (rows x 3D dense) and
 * per element the size of its terms (dS = P (dP - t) cancels, so dQ and dK
 * are measured against sums of |P| (|dP| + |t|) |K| and |Q|). */
static void ref_backward(const att_shape *sh, float scale, const float *qkv, int64_t ld,
                         const float *p, const float *dout, int64_t ldo, double *dqkv,
                         double *size) {
  const int64_t seq = sh->seq, dh = sh->dh, d = sh->heads * dh, w = 3 * d;
  double *ds = tu_alloc_d(seq * seq), *dsa = tu_alloc_d(seq * seq);
  for (int64_t b = 0; b < sh->batch; b++)
    for (int64_t h = 0; h < sh->heads; h++) {
      const float *pp = p + (b * sh->heads + h) * seq * seq;
      for (int64_t i = 0; i < seq; i++) {
        double t = 0;
        for (int64_t j = 0; j < seq; j++) {
          double dp = 0;
          for (int64_t c = 0; c < dh; c++) dp += (double)dout[(b * seq + i) * ldo + h * dh + c] * qkv[(b * seq + j) * ld + 2 * d + h * dh + c];
          ds[i * seq + j] = dp, t += dp * pp[i * seq + j];
        }
        for (int64_t j = 0; j < seq; j++) {
          dsa[i * seq + j] = pp[i * seq + j] * (fabs(ds[i * seq + j]) + fabs(t));
          ds[i * seq + j] = pp[i * seq + j] * (ds[i * seq + j] - t);
        }
      }
      for (int64_t i = 0; i < seq; i++)
        for (int64_t c = 0; c < dh; c++) {
          double dq = 0, dk = 0, dv = 0, sq = 0, sk = 0, sv = 0;
          for (int64_t j = 0; j < seq; j++) {
            const float *kj = qkv + (b * seq + j) * ld + d + h * dh;
            const float *qj = qkv + (b * seq + j) * ld + h * dh;
            double go = dout[(b * seq + j) * ldo + h * dh + c];
            dq += ds[i * seq + j] * kj[c], sq += dsa[i * seq + j] * fabs(kj[c]);
            dk += ds[j * seq + i] * qj[c], sk += dsa[j * seq + i] * fabs(qj[c]);
            dv += pp[j * seq + i] * go, sv += pp[j * seq + i] * fabs(go);
          }
          double *o = dqkv + (b * seq + i) * w + h * dh + c, *z = size + (b * seq + i) * w + h * dh + c;
          o[0] = scale * dq, o[d] = scale * dk, o[2 * d] = dv;
          z[0] = fabs(scale) * sq, z[d] = fabs(scale) * sk, z[2 * d] = sv;
        }
    }
  free(ds), free(dsa);
}

static void test_shape(tu_counts *tc, distac_isa isa, uint64_t *s, const att_shape *sh) {
  const char *name = distac_isa_name(isa);
  const int64_t rows = sh->batch * sh->seq, d = sh->heads * sh->dh;
  const int64_t np = sh->batch * sh->heads * sh->seq * sh->seq;
  const float scale = (float)(1.0 / sqrt((double)sh->dh));
  int64_t ld, ldo, ldg, ldd;
  float *qkv = alloc_mat(s, rows, 3 * d, 3, 1, &ld), *out = alloc_mat(s, rows, d, 2, 0, &ldo);
  float *out2 = alloc_mat(s, rows, d, 2, 0, &ldo), *dout = alloc_mat(s, rows, d, 1, 1, &ldg);
  float *dqkv = alloc_mat(s, rows, 3 * d, 1, 0, &ldd), *probs = tu_alloc_f(np + 1);
  double *rout = tu_alloc_d(rows * d), *rp = tu_alloc_d(np), *rd = tu_alloc_d(rows * 3 * d), *rs = tu_alloc_d(rows * 3 * d);
  for (int64_t i = 0; i <= np; i++) probs[i] = SENTINEL;
  char what[96];
  snprintf(what, sizeof what, "%lldx%lldx%lldx%lld", (long long)sh->batch, (long long)sh->seq,
           (long long)sh->heads, (long long)sh->dh);

  ref_forward(sh, scale, qkv, ld, rout, rp);
  int rc = distac_attention_forward_isa(isa, sh->batch, sh->seq, sh->heads, sh->dh, scale, qkv, ld, probs, out, ldo, 0);
  double e = fmax(tu_mat_err(out, ldo, rout, NULL, rows, d), tu_rel_err(probs, rp, np));
  char label[128];
  snprintf(label, sizeof label, "attention fwd %s", what);
  tu_check(tc, rc == 0 && e < 1e-5 && tu_gaps_intact(out, rows, d, ldo) && probs[np] == SENTINEL, name, label, e);

  /* Without stored probs: the same bits. */
  rc = distac_attention_forward_isa(isa, sh->batch, sh->seq, sh->heads, sh->dh, scale, qkv, ld, NULL, out2, ldo, 0);
  snprintf(label, sizeof label, "attention fwd no probs %s", what);
  tu_check(tc, rc == 0 && memcmp(out, out2, (size_t)(rows * ldo) * sizeof(float)) == 0, name, label, 0);

  ref_backward(sh, scale, qkv, ld, probs, dout, ldg, rd, rs);
  rc = distac_attention_backward_isa(isa, sh->batch, sh->seq, sh->heads, sh->dh, scale, qkv, ld, probs, dout, ldg, dqkv, ldd, 0);
  e = tu_mat_err(dqkv, ldd, rd, rs, rows, 3 * d);
  snprintf(label, sizeof label, "attention bwd %s", what);
  tu_check(tc, rc == 0 && e < 1e-5 && tu_gaps_intact(dqkv, rows, 3 * d, ldd), name, label, e);
  free(qkv), free(out), free(out2), free(dout), free(dqkv), free(probs);
  free(rout), free(rp), free(rd), free(rs);
}

/* Forward and backward have the same bits for 1, 2 and 3 threads. */
static void test_threads(tu_counts *tc, distac_isa isa, uint64_t *s) {
  const att_shape sh = {8, 50, 12, 64};
  const int64_t rows = sh.batch * sh.seq, d = sh.heads * sh.dh, np = sh.batch * sh.heads * sh.seq * sh.seq;
  int64_t ld, ldo;
  float *qkv = alloc_mat(s, rows, 3 * d, 0, 1, &ld), *dout = alloc_mat(s, rows, d, 0, 1, &ldo);
  float *out[3], *probs[3], *dqkv[3];
  int ok = 1;
  for (int t = 0; t < 3; t++) {
    out[t] = tu_alloc_f(rows * d), probs[t] = tu_alloc_f(np), dqkv[t] = tu_alloc_f(rows * 3 * d);
    ok &= distac_attention_forward_isa(isa, sh.batch, sh.seq, sh.heads, sh.dh, 0.125f, qkv, ld, probs[t], out[t], ldo, t + 1) == 0;
    ok &= distac_attention_backward_isa(isa, sh.batch, sh.seq, sh.heads, sh.dh, 0.125f, qkv, ld, probs[t], dout, ldo, dqkv[t], ld, t + 1) == 0;
  }
  for (int t = 1; t < 3; t++) {
    ok &= !memcmp(out[0], out[t], (size_t)(rows * d) * 4) && !memcmp(probs[0], probs[t], (size_t)np * 4) &&
          !memcmp(dqkv[0], dqkv[t], (size_t)(rows * 3 * d) * 4);
  }
  tu_check(tc, ok, distac_isa_name(isa), "attention 8x50x12x64 1,2,3 threads", 0);
  free(qkv), free(dout);
  for (int t = 0; t < 3; t++) free(out[t]), free(probs[t]), free(dqkv[t]);
}

static void test_errors(tu_counts *tc, distac_isa isa) {
  /* 1 x 2 tokens, 2 heads of 2: D = 4, qkv 2 x 12. */
  float qkv[24] = {0}, p[8], out[8], g[8] = {0}, dq[24];
  for (int i = 0; i < 8; i++) p[i] = out[i] = SENTINEL;
  for (int i = 0; i < 24; i++) dq[i] = SENTINEL;
  int bad = 0;
  bad += distac_attention_forward_isa(isa, 1, 2, 2, 2, 1, qkv, 11, p, out, 4, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, 1, 2, 2, 2, 1, qkv, 12, p, out, 3, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, 1, 0, 2, 2, 1, qkv, 12, p, out, 4, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, 1, 2, 0, 2, 1, qkv, 12, p, out, 4, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, 1, 2, 2, 0, 1, qkv, 12, p, out, 4, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, -1, 2, 2, 2, 1, qkv, 12, p, out, 4, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, 1, 2, 2, 2, NAN, qkv, 12, p, out, 4, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, 1, 2, 2, 2, INFINITY, qkv, 12, p, out, 4, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, 1, 2, 2, 2, 1, NULL, 12, p, out, 4, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, 1, 2, 2, 2, 1, qkv, 12, p, NULL, 4, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, 1, 2, INT64_MAX / 2, 2, 1, qkv, INT64_MAX, p, out, INT64_MAX, 1) != DISTAC_EINVAL;
  bad += distac_attention_forward_isa(isa, INT64_MAX / 2, 4, 1, 1, 1, qkv, 3, p, out, 1, 1) != DISTAC_EINVAL;
  bad += distac_attention_backward_isa(isa, 1, 2, 2, 2, 1, qkv, 12, NULL, g, 4, dq, 12, 1) != DISTAC_EINVAL;
  bad += distac_attention_backward_isa(isa, 1, 2, 2, 2, 1, qkv, 12, p, NULL, 4, dq, 12, 1) != DISTAC_EINVAL;
  bad += distac_attention_backward_isa(isa, 1, 2, 2, 2, 1, qkv, 12, p, g, 3, dq, 12, 1) != DISTAC_EINVAL;
  bad += distac_attention_backward_isa(isa, 1, 2, 2, 2, 1, qkv, 12, p, g, 4, dq, 11, 1) != DISTAC_EINVAL;
  bad += distac_attention_backward_isa(isa, 1, 2, 2, 2, NAN, qkv, 12, p, g, 4, dq, 12, 1) != DISTAC_EINVAL;
  int untouched = 1;
  for (int i = 0; i < 8; i++) untouched &= p[i] == SENTINEL && out[i] == SENTINEL;
  for (int i = 0; i < 24; i++) untouched &= dq[i] == SENTINEL;
  /* batch 0: nothing to do, nothing written. */
  bad += distac_attention_forward_isa(isa, 0, 2, 2, 2, 1, qkv, 12, p, out, 4, 1) != DISTAC_OK;
  bad += distac_attention_backward_isa(isa, 0, 2, 2, 2, 1, qkv, 12, p, g, 4, dq, 12, 1) != DISTAC_OK;
  for (int i = 0; i < 8; i++) untouched &= out[i] == SENTINEL;
  tu_check(tc, bad == 0 && untouched, distac_isa_name(isa), "attention bad arguments: EINVAL, nothing written", bad);
}

static void test_isa(tu_counts *tc, distac_isa isa) {
  uint64_t s = 0x2545f4914f6cdd1dULL + (uint64_t)isa; /* isa is 0, 1, 2 */
  for (int i = 0; i < LEN(k_shapes); i++) test_shape(tc, isa, &s, &k_shapes[i]);
  test_threads(tc, isa, &s);
  test_errors(tc, isa);
}

TU_MAIN_EACH_ISA(test_isa)
