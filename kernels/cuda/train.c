/*
 * train.c — launchers of the training ops (layernorm.cu, gelu.cu,
 * softmax.cu, bias.cu, attention.cu, l2norm.cu, adam.cu) with the argument
 * rules of distac_train.h.
 */
#include <math.h>

#include "driver.h"

#define TR_ROW_BLOCK 32
#define TR_THREADS 256

static int tr_rows_ok(int64_t rows, int64_t cols, int64_t ld1, int64_t ld2) {
  return rows >= 0 && cols >= 1 && ld1 >= cols && ld2 >= cols && rows <= 2147483647;
}

int distac_cuda_layernorm_forward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr x,
                                  int64_t ldx, CUdeviceptr gamma, CUdeviceptr beta, float eps,
                                  CUdeviceptr y, int64_t ldy, CUdeviceptr mean, CUdeviceptr rstd,
                                  CUstream s) {
  if (!c || !tr_rows_ok(rows, cols, ldx, ldy) || !(eps >= 0) || (rows > 0 && (!x || !gamma || !beta || !y)))
    return DISTAC_EINVAL;
  if (rows == 0) return DISTAC_OK;
  void *p[] = {&cols, &x, &ldx, &gamma, &beta, &eps, &y, &ldy, &mean, &rstd};
  return dc_launch(c, K_LN_FWD, (unsigned)rows, 1, 1, TR_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_layernorm_backward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr dy,
                                   int64_t lddy, CUdeviceptr x, int64_t ldx, CUdeviceptr mean,
                                   CUdeviceptr rstd, CUdeviceptr gamma, CUdeviceptr dx,
                                   int64_t lddx, int accumulate, CUdeviceptr dgamma,
                                   CUdeviceptr dbeta, CUstream s) {
  if (!c || !tr_rows_ok(rows, cols, lddy, ldx) || lddx < cols ||
      (rows > 0 && (!dy || !x || !mean || !rstd || !gamma || !dx)))
    return DISTAC_EINVAL;
  if (rows == 0) return DISTAC_OK;
  int rc = DISTAC_OK;
  if (dgamma || dbeta) { /* before dx: dx may be dy */
    void *r[] = {&rows, &cols, &dy, &lddy, &x, &ldx, &mean, &rstd, &dgamma, &dbeta};
    rc = dc_launch(c, K_LN_REDUCE, dc_blocks(cols, TR_THREADS), 1, 1, TR_THREADS, 1, 1, 0, s, r);
    if (rc != DISTAC_OK) return rc;
  }
  int acc = accumulate != 0;
  void *p[] = {&cols, &dy, &lddy, &x, &ldx, &mean, &rstd, &gamma, &dx, &lddx, &acc};
  return dc_launch(c, K_LN_BWD, (unsigned)rows, 1, 1, TR_THREADS, 1, 1, 0, s, p);
}

static int tr_gelu(distac_cuda *c, distac_gelu_kind kind, int64_t n, CUdeviceptr x, CUdeviceptr dy,
                   CUdeviceptr out, CUstream s) {
  if (!c || (kind != DISTAC_GELU_ERF && kind != DISTAC_GELU_QUICK) || n < 0 || (n > 0 && (!x || !out)))
    return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  int q = kind == DISTAC_GELU_QUICK;
  void *p[] = {&q, &n, &x, &dy, &out};
  return dc_launch(c, K_GELU, dc_blocks(n, TR_THREADS * 8), 1, 1, TR_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_gelu_forward(distac_cuda *c, distac_gelu_kind kind, int64_t n, CUdeviceptr x,
                             CUdeviceptr y, CUstream s) {
  return tr_gelu(c, kind, n, x, 0, y, s);
}

int distac_cuda_gelu_backward(distac_cuda *c, distac_gelu_kind kind, int64_t n, CUdeviceptr x,
                              CUdeviceptr dy, CUdeviceptr dx, CUstream s) {
  if (n > 0 && !dy) return DISTAC_EINVAL;
  return tr_gelu(c, kind, n, x, dy, dx, s);
}

int distac_cuda_softmax_forward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr x,
                                int64_t ldx, CUdeviceptr y, int64_t ldy, CUstream s) {
  if (!c || !tr_rows_ok(rows, cols, ldx, ldy) || (rows > 0 && (!x || !y))) return DISTAC_EINVAL;
  if (rows == 0) return DISTAC_OK;
  void *p[] = {&cols, &x, &ldx, &y, &ldy};
  return dc_launch(c, K_SOFTMAX_FWD, (unsigned)rows, 1, 1, TR_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_softmax_backward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr y,
                                 int64_t ldy, CUdeviceptr dy, int64_t lddy, CUdeviceptr dx,
                                 int64_t lddx, CUstream s) {
  if (!c || !tr_rows_ok(rows, cols, ldy, lddy) || lddx < cols || (rows > 0 && (!y || !dy || !dx)))
    return DISTAC_EINVAL;
  if (rows == 0) return DISTAC_OK;
  void *p[] = {&cols, &y, &ldy, &dy, &lddy, &dx, &lddx};
  return dc_launch(c, K_SOFTMAX_BWD, (unsigned)rows, 1, 1, TR_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_bias_add(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr y, int64_t ldy,
                         CUdeviceptr b, CUstream s) {
  if (!c || rows < 0 || cols < 0 || ldy < (cols > 1 ? cols : 1)) return DISTAC_EINVAL;
  if (rows == 0 || cols == 0) return DISTAC_OK;
  if (!y || !b) return DISTAC_EINVAL;
  void *p[] = {&rows, &cols, &y, &ldy, &b};
  return dc_launch(c, K_BIAS_ADD, dc_blocks(rows * cols, TR_THREADS * 8), 1, 1, TR_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_bias_grad(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr dy, int64_t lddy,
                          CUdeviceptr db, CUstream s) {
  if (!c || rows < 0 || cols < 0 || lddy < (cols > 1 ? cols : 1)) return DISTAC_EINVAL;
  if (rows == 0 || cols == 0) return DISTAC_OK;
  if (!dy || !db) return DISTAC_EINVAL;
  int64_t nb = (rows + TR_ROW_BLOCK - 1) / TR_ROW_BLOCK;
  if (nb > 65535) return DISTAC_EINVAL; /* grid y: 2M rows */
  CUdeviceptr part = 0;
  int rc = dc_scratch(c, (size_t)(nb * cols) * sizeof(float), s, &part);
  if (rc != DISTAC_OK) return rc;
  void *p[] = {&rows, &cols, &dy, &lddy, &part};
  rc = dc_launch(c, K_BIAS_PARTIAL, dc_blocks(cols, TR_THREADS), (unsigned)nb, 1, TR_THREADS, 1, 1, 0, s, p);
  if (rc == DISTAC_OK) {
    void *r[] = {&nb, &cols, &part, &db};
    rc = dc_launch(c, K_BIAS_REDUCE, dc_blocks(cols, TR_THREADS), 1, 1, TR_THREADS, 1, 1, 0, s, r);
  }
  dc_scratch_free(c, part, s);
  return rc;
}

static int tr_attn_ok(int64_t batch, int64_t seq, int64_t heads, int64_t hd, float scale, int64_t ldqkv,
                      int64_t ldout) {
  return batch >= 0 && seq >= 1 && heads >= 1 && hd >= 1 && isfinite(scale) && ldqkv >= 3 * heads * hd &&
         ldout >= heads * hd && seq <= 2147483647 && batch * heads <= 65535 && seq * 4 <= 160 * 1024;
}

int distac_cuda_attention_forward(distac_cuda *c, int64_t batch, int64_t seq, int64_t heads,
                                  int64_t head_dim, float scale, CUdeviceptr qkv, int64_t ldqkv,
                                  CUdeviceptr probs, CUdeviceptr out, int64_t ldout, CUstream s) {
  if (!c || !tr_attn_ok(batch, seq, heads, head_dim, scale, ldqkv, ldout) || (batch > 0 && (!qkv || !out)))
    return DISTAC_EINVAL;
  if (batch == 0) return DISTAC_OK;
  void *p[] = {&seq, &heads, &head_dim, &scale, &qkv, &ldqkv, &probs, &out, &ldout};
  return dc_launch(c, K_ATTN_FWD, (unsigned)seq, (unsigned)(batch * heads), 1, 128, 1, 1,
                   (unsigned)(seq * 4), s, p);
}

int distac_cuda_attention_backward(distac_cuda *c, int64_t batch, int64_t seq, int64_t heads,
                                   int64_t head_dim, float scale, CUdeviceptr qkv, int64_t ldqkv,
                                   CUdeviceptr probs, CUdeviceptr dout, int64_t lddout,
                                   CUdeviceptr dqkv, int64_t lddqkv, CUstream s) {
  if (!c || !tr_attn_ok(batch, seq, heads, head_dim, scale, ldqkv, lddout) || lddqkv < 3 * heads * head_dim ||
      (batch > 0 && (!qkv || !probs || !dout || !dqkv)))
    return DISTAC_EINVAL;
  if (batch == 0) return DISTAC_OK;
  CUdeviceptr ds = 0;
  int rc = dc_scratch(c, (size_t)(batch * heads * seq * seq) * sizeof(float), s, &ds);
  if (rc != DISTAC_OK) return rc;
  for (int pass = 1; pass <= 2 && rc == DISTAC_OK; pass++) {
    void *p[] = {&pass, &seq, &heads, &head_dim, &scale, &qkv, &ldqkv, &probs, &dout, &lddout, &dqkv, &lddqkv, &ds};
    rc = dc_launch(c, K_ATTN_BWD, (unsigned)seq, (unsigned)(batch * heads), 1, 128, 1, 1,
                   pass == 1 ? (unsigned)(seq * 4) : 0, s, p);
  }
  dc_scratch_free(c, ds, s);
  return rc;
}

int distac_cuda_l2norm_forward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr x,
                               int64_t ldx, float eps, CUdeviceptr y, int64_t ldy, CUdeviceptr norm,
                               CUstream s) {
  if (!c || !tr_rows_ok(rows, cols, ldx, ldy) || !(eps > 0) || !isfinite(eps) || (rows > 0 && (!x || !y)))
    return DISTAC_EINVAL;
  if (rows == 0) return DISTAC_OK;
  void *p[] = {&cols, &x, &ldx, &eps, &y, &ldy, &norm};
  return dc_launch(c, K_L2_FWD, (unsigned)rows, 1, 1, TR_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_l2norm_backward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr dy,
                                int64_t lddy, CUdeviceptr y, int64_t ldy, CUdeviceptr norm, float eps,
                                CUdeviceptr dx, int64_t lddx, CUstream s) {
  if (!c || !tr_rows_ok(rows, cols, lddy, ldy) || lddx < cols || !(eps > 0) || !isfinite(eps) ||
      (rows > 0 && (!dy || !y || !norm || !dx)))
    return DISTAC_EINVAL;
  if (rows == 0) return DISTAC_OK;
  void *p[] = {&cols, &dy, &lddy, &y, &ldy, &norm, &eps, &dx, &lddx};
  return dc_launch(c, K_L2_BWD, (unsigned)rows, 1, 1, TR_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_adam_step(distac_cuda *c, int64_t n, CUdeviceptr theta, CUdeviceptr grad,
                          CUdeviceptr m, CUdeviceptr v, CUdeviceptr theta_init, float lr, float b1,
                          float b2, float eps, float beta_anchor, float clip_scale, int64_t step,
                          CUstream s) {
  if (!c || n < 0 || step < 1 || !(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1) || !(eps >= 0) ||
      !(beta_anchor >= 0) || !isfinite(beta_anchor) || !isfinite(lr) || !isfinite(clip_scale) ||
      (n > 0 && (!theta || !grad || !m || !v)) || (beta_anchor != 0 && n > 0 && !theta_init))
    return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  double bc1 = 1.0 - pow((double)b1, (double)step), bc2 = 1.0 - pow((double)b2, (double)step);
  float step_size = (float)((double)lr / bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
  float two_beta = 2.0f * beta_anchor;
  CUdeviceptr init = beta_anchor != 0 ? theta_init : 0;
  void *p[] = {&n, &theta, &grad, &m, &v, &init, &two_beta, &clip_scale, &b1, &b2, &step_size, &inv_sqrt_bc2, &eps};
  return dc_launch(c, K_ADAM, dc_blocks(n, TR_THREADS * 8), 1, 1, TR_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_anchored_sumsq(distac_cuda *c, int64_t n, CUdeviceptr grad, CUdeviceptr theta,
                               CUdeviceptr theta_init, float beta_anchor, CUdeviceptr out,
                               CUstream s) {
  if (!c || !out || n < 0 || !(beta_anchor >= 0) || !isfinite(beta_anchor) || (n > 0 && !grad) ||
      (beta_anchor != 0 && n > 0 && (!theta || !theta_init)))
    return DISTAC_EINVAL;
  CUdeviceptr init = beta_anchor != 0 ? theta_init : 0, th = beta_anchor != 0 ? theta : 0, sums = 0;
  float two_beta = 2.0f * beta_anchor;
  void *p[] = {&grad, &th, &init, &two_beta, &n, &sums};
  return dc_sumsq_blocks(c, K_ANCHORED_BLOCKS, K_ANCHORED_FINISH, p, n, &sums, out, s);
}
