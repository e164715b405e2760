/*
 * tall.cu — TALL masks and consensus (kernels/avx/tall.c). Never run on a GPU.
 */
#include "common.cuh"

KERNEL void distac_tall_consensus_k(float *dst, u8 *counts, int count, const float *const *xs,
                                    const float *lambdas, int min_agree, i64 n) {
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) {
    float mtl = 0.0f;
    for (int t = 0; t < count; t++) mtl += xs[t][i];
    int c = 0;
    for (int t = 0; t < count; t++) {
      float v = xs[t][i];
      c += dc_fabs(v) > lambdas[t] * dc_fabs(mtl - v);
    }
    if (counts) counts[i] = (u8)c;
    if (dst) dst[i] = (c >= min_agree || mtl != mtl) ? mtl : 0.0f;
  }
}
