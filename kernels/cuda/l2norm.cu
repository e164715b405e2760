/*
 * l2norm.cu — row L2 normalize forward and backward (torch's F.normalize),
 * one block per row, sums in float64 (kernels/avx/l2norm.c). Never run on a GPU.
 */
#include "common.cuh"

KERNEL void __launch_bounds__(256) distac_l2norm_fwd_k(i64 cols, const float *x, i64 ldx, float eps, float *y, i64 ldy,
                                                       float *norm) {
  __shared__ double shd[32];
  const i64 r = blockIdx.x;
  const float *xr = x + r * ldx;
  float *yr = y + r * ldy;
  double s = 0.0;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) s += (double)xr[j] * (double)xr[j];
  s = dc_block_sum_d(s, shd);
  float n = (float)__builtin_sqrt(s);
  float d = n > eps ? n : eps;
  if (n != n) d = n;
  float inv = 1.0f / d;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = xr[j] * inv;
  if (norm && threadIdx.x == 0) norm[r] = n;
}

KERNEL void __launch_bounds__(256) distac_l2norm_bwd_k(i64 cols, const float *dy, i64 lddy, const float *y, i64 ldy,
                                                       const float *norm, float eps, float *dx, i64 lddx) {
  __shared__ double shd[32];
  const i64 r = blockIdx.x;
  const float *dyr = dy + r * lddy, *yr = y + r * ldy;
  float *dxr = dx + r * lddx;
  const float n = norm[r];
  double dot = 0.0;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) dot += (double)dyr[j] * (double)yr[j];
  dot = dc_block_sum_d(dot, shd);
  const float df = (float)dot;
  if (n > eps) {
    float inv = 1.0f / n;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) dxr[j] = (dyr[j] - yr[j] * df) * inv;
  } else {
    float inv = 1.0f / eps;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) dxr[j] = (n != n) ? n : dyr[j] * inv;
  }
}
