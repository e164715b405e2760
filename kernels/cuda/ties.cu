/*
 * ties.cu — TIES trim and elect + disjoint mean (kernels/avx/ties.c), per
 * element, summing the tasks in order as the CPU does. Never run on a GPU.
 */
#include "common.cuh"

/* dst[i] = |x[i]| < threshold ? 0 : x[i] (NaN kept) */
KERNEL void distac_ties_trim_k(float *dst, const float *x, i64 n, float threshold) {
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) {
    float v = x[i];
    dst[i] = dc_fabs(v) < threshold ? 0.0f : v;
  }
}

/* One pass per element, the CPU's ties_merge1 exactly: the in-order sum s
 * elects the side; p (and q) add the values >= 0 (<= 0) and NaNs in input
 * order, so a NaN reaches whichever side is elected; an empty side gives 0. */
KERNEL void distac_ties_merge_k(float *dst, int count, const float *const *xs, const float *thr, i64 n) {
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) {
    float s = 0.0f, p = 0.0f, q = 0.0f;
    int cp = 0, cq = 0;
    for (int t = 0; t < count; t++) {
      float x = xs[t][i];
      float v = !(dc_fabs(x) < thr[t]) ? x : 0.0f;
      s += v;
      p += !(v < 0.0f) ? v : 0.0f;
      q += !(v > 0.0f) ? v : 0.0f;
      cp += v > 0.0f;
      cq += v < 0.0f;
    }
    float up = p / (float)(cp > 1 ? cp : 1), down = q / (float)(cq > 1 ? cq : 1);
    /* zero elects +; a NaN sum elects - (the CPU adds the unselected side's +0) */
    dst[i] = s >= 0.0f ? up + 0.0f : 0.0f + down;
  }
}
