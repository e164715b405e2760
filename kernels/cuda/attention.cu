/*
 * attention.cu — the multi-head self-attention core, forward and backward
 * (kernels/avx/attention.c is the CPU twin; layout in distac_train.h).
 * Version 1, correctness first: one block per (query row i, batch*head)
 * with the row of scores in dynamic shared memory (seq floats); sums in a
 * fixed order, so results do not depend on scheduling. Backward: pass 1 per
 * row i writes dQ_i and the row dS_i (scratch, like probs); pass 2 per key
 * row j sums dK_j and dV_j over i. Not a flash-attention kernel.
 * Never run on a GPU.
 */
#include "common.cuh"

extern __shared__ float dc_dyn[];

KERNEL void __launch_bounds__(128) distac_attention_fwd_k(i64 seq, i64 heads, i64 hd, float scale, const float *qkv,
                                                          i64 ldqkv, float *probs, float *out, i64 ldout) {
  __shared__ float shf[32];
  float *p = dc_dyn;
  const i64 i = blockIdx.x, bh = blockIdx.y, b = bh / heads, h = bh % heads, D = heads * hd;
  const float *q = qkv + (b * seq + i) * ldqkv + h * hd;
  for (i64 j = threadIdx.x; j < seq; j += blockDim.x) {
    const float *kr = qkv + (b * seq + j) * ldqkv + D + h * hd;
    float s = 0.0f;
    for (i64 c = 0; c < hd; c++) s = dc_fma(q[c], kr[c], s);
    p[j] = scale * s;
  }
  float m = -__builtin_inff();
  for (i64 j = threadIdx.x; j < seq; j += blockDim.x) m = dc_fmax_nan(m, p[j]);
  m = dc_block_max(m, shf);
  float sum = 0.0f;
  for (i64 j = threadIdx.x; j < seq; j += blockDim.x) {
    float e = dc_exp(p[j] - m);
    p[j] = e;
    sum += e;
  }
  sum = dc_block_sum(sum, shf);
  const float inv = 1.0f / sum;
  for (i64 j = threadIdx.x; j < seq; j += blockDim.x) {
    p[j] *= inv;
    if (probs) probs[(bh * seq + i) * seq + j] = p[j];
  }
  dc_sync();
  float *o = out + (b * seq + i) * ldout + h * hd;
  for (i64 c = threadIdx.x; c < hd; c += blockDim.x) {
    float acc = 0.0f;
    for (i64 j = 0; j < seq; j++) acc = dc_fma(p[j], qkv[(b * seq + j) * ldqkv + 2 * D + h * hd + c], acc);
    o[c] = acc;
  }
}

/* pass 1, per (i, bh): dP_ij = <dout_i, V_j>, dS_ij = P_ij (dP_ij - sum_j' dP P),
 * dQ_i = scale sum_j dS_ij K_j; dS goes to ds[(bh*seq + i)*seq + j]. */
KERNEL void __launch_bounds__(128) distac_attention_bwd_k(int pass, i64 seq, i64 heads, i64 hd, float scale,
                                                          const float *qkv, i64 ldqkv, const float *probs,
                                                          const float *dout, i64 lddout, float *dqkv, i64 lddqkv,
                                                          float *ds) {
  __shared__ float shf[32];
  float *d = dc_dyn;
  const i64 i = blockIdx.x, bh = blockIdx.y, b = bh / heads, h = bh % heads, D = heads * hd;
  const float *P = probs + bh * seq * seq, *S = ds + bh * seq * seq;
  if (pass == 1) {
    const float *go = dout + (b * seq + i) * lddout + h * hd;
    float dot = 0.0f;
    for (i64 j = threadIdx.x; j < seq; j += blockDim.x) {
      const float *v = qkv + (b * seq + j) * ldqkv + 2 * D + h * hd;
      float s = 0.0f;
      for (i64 c = 0; c < hd; c++) s = dc_fma(go[c], v[c], s);
      d[j] = s;
      dot = dc_fma(s, P[i * seq + j], dot);
    }
    dot = dc_block_sum(dot, shf);
    for (i64 j = threadIdx.x; j < seq; j += blockDim.x) {
      float v = P[i * seq + j] * (d[j] - dot);
      d[j] = v;
      ds[(bh * seq + i) * seq + j] = v;
    }
    dc_sync();
    float *dq = dqkv + (b * seq + i) * lddqkv + h * hd;
    for (i64 c = threadIdx.x; c < hd; c += blockDim.x) {
      float acc = 0.0f;
      for (i64 j = 0; j < seq; j++) acc = dc_fma(d[j], qkv[(b * seq + j) * ldqkv + D + h * hd + c], acc);
      dq[c] = scale * acc;
    }
    return;
  }
  /* pass 2, per (key row j = blockIdx.x, bh): dK_j = scale sum_i dS_ij Q_i,
   * dV_j = sum_i P_ij dout_i. */
  const i64 j = i;
  float *dk = dqkv + (b * seq + j) * lddqkv + D + h * hd, *dv = dk + D;
  for (i64 c = threadIdx.x; c < hd; c += blockDim.x) {
    float ak = 0.0f, av = 0.0f;
    for (i64 r = 0; r < seq; r++) {
      ak = dc_fma(S[r * seq + j], qkv[(b * seq + r) * ldqkv + h * hd + c], ak);
      av = dc_fma(P[r * seq + j], dout[(b * seq + r) * lddout + h * hd + c], av);
    }
    dk[c] = scale * ak;
    dv[c] = av;
  }
}
