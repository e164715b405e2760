/*
 * taskvec.cu — elementwise task-vector ops on the device: sub, sumsq (two
 * kernels: block sums, then their sum in block order), scale, axpy, wsum.
 * Launched by taskvec.c; checked against kernels/avx/taskvec.c by
 * tests/validate_taskvec.c. Never run on a GPU.
 */
#include "common.cuh"

/* dst[i] = f32(ft[i]) - f32(base[i]) */
KERNEL void distac_sub_k(float *dst, int ft_type, const void *ft, int base_type, const void *base, i64 n) {
  for (i64 i = dc_gid(); i < n; i += dc_gstride())
    dst[i] = dc_load_any(ft_type, ft, i) - dc_load_any(base_type, base, i);
}

/* One 16-thread group per block of DC_SUMSQ_BLOCK elements; out[b] is the
 * block's sum (see dc_fold16). blockDim.x is a multiple of 32. */
KERNEL void distac_sumsq_blocks_k(const float *x, i64 n, double *out) {
  int j = threadIdx.x & 15;
  i64 b = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 4;
  i64 nb = (n + DC_SUMSQ_BLOCK - 1) / DC_SUMSQ_BLOCK;
  double l = 0.0;
  if (b < nb) {
    const float *p = x + b * DC_SUMSQ_BLOCK;
    i64 len = n - b * DC_SUMSQ_BLOCK;
    if (len > DC_SUMSQ_BLOCK) len = DC_SUMSQ_BLOCK;
    for (i64 i = j; i < len; i += 16) {
      double v = (double)p[i];
      l += v * v;
    }
  }
  l = dc_fold16(l);
  if (j == 0 && b < nb) out[b] = l;
}

/* *out = sum of the nb block sums in block order (one thread: nb is n/65536). */
KERNEL void distac_sumsq_finish_k(const double *sums, i64 nb, double *out) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *out = dc_serial_sum(sums, nb);
}

KERNEL void distac_scale_k(float *x, i64 n, float a) {
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) x[i] *= a;
}

/* y[i] += a * x[i] (fused, as the AVX paths) */
KERNEL void distac_axpy_k(i64 n, float a, const float *x, float *y) {
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) y[i] = dc_fma(a, x[i], y[i]);
}

/* dst[i] = sum_t w[t] xs[t][i], fused multiply-adds in order of t. */
KERNEL void distac_wsum_k(float *dst, int count, const float *const *xs, const float *w, i64 n) {
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) {
    float acc = w[0] * xs[0][i];
    for (int t = 1; t < count; t++) acc = dc_fma(w[t], xs[t][i], acc);
    dst[i] = acc;
  }
}
