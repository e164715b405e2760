/*
 * layernorm.cu — layernorm forward and backward, one block per row, row
 * statistics in float64 (kernels/avx/layernorm.c is the CPU twin); dgamma
 * and dbeta by the CPU's row blocks (bias.cu's scheme). Never run on a GPU.
 */
#include "common.cuh"

#define DC_ROW_BLOCK 32

KERNEL void __launch_bounds__(256) distac_layernorm_fwd_k(i64 cols, const float *x, i64 ldx, const float *gamma,
                                                          const float *beta, float eps, float *y, i64 ldy,
                                                          float *mean, float *rstd) {
  __shared__ double shd[32];
  const i64 r = blockIdx.x;
  const float *xr = x + r * ldx;
  float *yr = y + r * ldy;
  double s = 0.0;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) s += (double)xr[j];
  double mu = dc_block_sum_d(s, shd) / (double)cols;
  double q = 0.0;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
    double d = (double)xr[j] - mu;
    q += d * d;
  }
  double var = dc_block_sum_d(q, shd) / (double)cols;
  float muf = (float)mu, rs = (float)(1.0 / __builtin_sqrt(var + (double)eps));
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = (xr[j] - muf) * rs * gamma[j] + beta[j];
  if (threadIdx.x == 0) {
    if (mean) mean[r] = muf;
    if (rstd) rstd[r] = rs;
  }
}

/* dx per row; with part, the row blocks' fp32 partial sums of dy*xhat
 * (part[rb][c]) and dy (part[nb + rb][c]) are written by the partial pass. */
KERNEL void __launch_bounds__(256) distac_layernorm_bwd_k(i64 cols, const float *dy, i64 lddy, const float *x,
                                                          i64 ldx, const float *mean, const float *rstd,
                                                          const float *gamma, float *dx, i64 lddx, int accumulate) {
  __shared__ double shd[32];
  const i64 r = blockIdx.x;
  const float *dyr = dy + r * lddy, *xr = x + r * ldx;
  float *dxr = dx + r * lddx;
  const float mu = mean[r], rs = rstd[r];
  double s1 = 0.0, s2 = 0.0;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
    float g = dyr[j] * gamma[j], xh = (xr[j] - mu) * rs;
    s1 += (double)g;
    s2 += (double)g * (double)xh;
  }
  s1 = dc_block_sum_d(s1, shd);
  s2 = dc_block_sum_d(s2, shd);
  const float m1 = (float)(s1 / (double)cols), m2 = (float)(s2 / (double)cols);
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
    float g = dyr[j] * gamma[j], xh = (xr[j] - mu) * rs;
    float d = rs * (g - m1 - xh * m2);
    dxr[j] = accumulate ? dxr[j] + d : d;
  }
}

/* Row-block partials of dgamma (dy * xhat) and dbeta (dy), then their
 * float64 sum in block order added once into dgamma / dbeta (each optional). */
KERNEL void distac_layernorm_reduce_k(i64 rows, i64 cols, const float *dy, i64 lddy, const float *x, i64 ldx,
                                      const float *mean, const float *rstd, float *dgamma, float *dbeta) {
  i64 c = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  double ag = 0.0, ab = 0.0;
  for (i64 r0 = 0; r0 < rows; r0 += DC_ROW_BLOCK) {
    i64 r1 = r0 + DC_ROW_BLOCK < rows ? r0 + DC_ROW_BLOCK : rows;
    float pg = 0.0f, pb = 0.0f;
    for (i64 r = r0; r < r1; r++) {
      float d = dy[r * lddy + c];
      pg += d * ((x[r * ldx + c] - mean[r]) * rstd[r]);
      pb += d;
    }
    ag += (double)pg;
    ab += (double)pb;
  }
  if (dgamma) dgamma[c] = (float)((double)dgamma[c] + ag);
  if (dbeta) dbeta[c] = (float)((double)dbeta[c] + ab);
}
