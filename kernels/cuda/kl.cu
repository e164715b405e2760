/*
 * kl.cu — fused KL distillation: loss and student-logit gradient in one
 * kernel, one thread block per row (kernels/avx/kl.c is the CPU twin).
 * With a = zt/Tt, b = zs/Ts, u = a - max a, v = b - max b,
 * S = sum e^u, Q = sum e^v, W = sum e^u (u - v):
 *   KL(p || q) = W/S + log(Q/S)              (row_kl, float64)
 *   grad_j     = Tt/B (e^v_j / Q - e^u_j / S)
 * Three sweeps over the row (max, sums, gradient) that hit L1/L2 after the
 * first. S, Q and W are summed per thread in float64 and reduced in a fixed
 * tree; the finish kernel adds the rows in row order. A NaN or Inf anywhere
 * in a row makes its KL NaN (NaN max, Inf - Inf, or 0 * Inf in W).
 * Never run on a GPU.
 */
#include "common.cuh"

KERNEL void __launch_bounds__(256) distac_kl_rows_k(i64 cols, const float *zt, i64 ldt, const float *zs, i64 lds,
                                                    float it, float is, double gscale, float *grad, i64 ldg,
                                                    double *row_kl) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  const i64 r = blockIdx.x;
  const float *t = zt + r * ldt, *s = zs + r * lds;
  float mt = -__builtin_inff(), ms = -__builtin_inff();
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
    mt = dc_fmax_nan(mt, t[j]);
    ms = dc_fmax_nan(ms, s[j]);
  }
  mt = dc_block_max(mt, shf);
  ms = dc_block_max(ms, shf);
  double S = 0.0, Q = 0.0, W = 0.0;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
    float u = (t[j] - mt) * it, v = (s[j] - ms) * is;
    float eu = dc_exp(u), ev = dc_exp(v);
    S += (double)eu;
    Q += (double)ev;
    W += (double)eu * ((double)u - (double)v);
  }
  S = dc_block_sum_d(S, shd);
  Q = dc_block_sum_d(Q, shd);
  W = dc_block_sum_d(W, shd);
  if (threadIdx.x == 0) row_kl[r] = W / S + dc_log_d(Q / S);
  if (!grad) return;
  float gs = (float)(gscale / S), gq = (float)(gscale / Q);
  float *g = grad + r * ldg;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
    float u = (t[j] - mt) * it, v = (s[j] - ms) * is;
    g[j] = dc_exp(v) * gq - dc_exp(u) * gs;
  }
}

/* *loss = scale * sum of the row KLs in row order; a non-finite row gives NaN. */
KERNEL void distac_kl_finish_k(const double *row_kl, i64 rows, double scale, double *loss) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  double sum = 0.0;
  for (i64 r = 0; r < rows; r++) {
    double v = row_kl[r];
    sum += (v - v == 0.0) ? v : __builtin_nan("");
  }
  *loss = scale * sum;
}
