/*
 * softmax.cu — row softmax forward and backward, one block per row, sums in
 * float64 (kernels/avx/softmax.c is the CPU twin). NaN, +inf or an all -inf
 * row gives NaN (x - max is then NaN). Never run on a GPU.
 */
#include "common.cuh"

KERNEL void __launch_bounds__(256) distac_softmax_fwd_k(i64 cols, const float *x, i64 ldx, float *y, i64 ldy) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  const float *xr = x + (i64)blockIdx.x * ldx;
  float *yr = y + (i64)blockIdx.x * ldy;
  float m = -__builtin_inff();
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) m = dc_fmax_nan(m, xr[j]);
  m = dc_block_max(m, shf);
  double s = 0.0;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) s += (double)dc_exp(xr[j] - m);
  s = dc_block_sum_d(s, shd); /* every thread has read its x before any y is written */
  float inv = (float)(1.0 / s);
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = dc_exp(xr[j] - m) * inv;
}

KERNEL void __launch_bounds__(256) distac_softmax_bwd_k(i64 cols, const float *y, i64 ldy, const float *dy, i64 lddy,
                                                        float *dx, i64 lddx) {
  __shared__ double shd[32];
  const float *yr = y + (i64)blockIdx.x * ldy, *dyr = dy + (i64)blockIdx.x * lddy;
  float *dxr = dx + (i64)blockIdx.x * lddx;
  double d = 0.0;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) d += (double)dyr[j] * (double)yr[j];
  d = dc_block_sum_d(d, shd);
  float df = (float)d;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) dxr[j] = yr[j] * (dyr[j] - df);
}
