/*
 * gelu.cu — GELU (erf) and QuickGELU, forward (dy NULL) and backward, with
 * devmath.h's fp32 evaluation (the CPU SIMD kernels' method, checked on the
 * host by test_devmath against float64). Never run on a GPU.
 */
#include "common.cuh"

KERNEL void distac_gelu_k(int quick, i64 n, const float *x, const float *dy, float *out) {
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) {
    float v = x[i];
    float f = quick ? dc_gelu_quick(v, dy != 0) : dc_gelu_erf(v, dy != 0);
    out[i] = dy ? dy[i] * f : f;
  }
}
