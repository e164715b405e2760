/*
 * adam.cu — the fused Adam step with the DisTaC anchor and the clip scale,
 * and the anchored gradient's sum of squares (kernels/avx/adam.c), in the
 * CPU scalar code's order of operations. Never run on a GPU.
 */
#include "common.cuh"

KERNEL void distac_adam_k(i64 n, float *theta, const float *grad, float *m, float *v, const float *init,
                          float two_beta, float clip, float b1, float b2, float step_size, float inv_sqrt_bc2,
                          float eps) {
  const float omb1 = 1.0f - b1, omb2 = 1.0f - b2;
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) {
    float g = grad[i];
    if (init) g = g + two_beta * (theta[i] - init[i]);
    g *= clip;
    float mi = b1 * m[i] + omb1 * g;
    float vi = b2 * v[i] + omb2 * g * g;
    m[i] = mi, v[i] = vi;
    theta[i] -= step_size * mi / (dc_sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

/* Block sums of (grad + 2 beta (theta - init))^2 in the scheme of
 * distac_sumsq (see dc_fold16); init NULL: the plain gradient. */
KERNEL void distac_anchored_blocks_k(const float *grad, const float *theta, const float *init, float two_beta,
                                     i64 n, double *out) {
  int j = threadIdx.x & 15;
  i64 b = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 4;
  i64 nb = (n + DC_SUMSQ_BLOCK - 1) / DC_SUMSQ_BLOCK;
  double l = 0.0;
  if (b < nb) {
    i64 lo = b * DC_SUMSQ_BLOCK, len = n - lo;
    if (len > DC_SUMSQ_BLOCK) len = DC_SUMSQ_BLOCK;
    for (i64 i = lo + j; i < lo + len; i += 16) {
      float g = grad[i];
      if (init) g = g + two_beta * (theta[i] - init[i]);
      l += (double)g * (double)g;
    }
  }
  l = dc_fold16(l);
  if (j == 0 && b < nb) out[b] = l;
}

KERNEL void distac_anchored_finish_k(const double *sums, i64 nb, double *out) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *out = dc_serial_sum(sums, nb);
}
