/*
 * topk.cu — the radix-select building blocks of the TIES threshold
 * (kernels/avx/topk.c): abs_histogram and abs_window. Counts are integers,
 * so atomics give exact, order-free results. Never run on a GPU.
 */
#include "common.cuh"

/* Histogram of (u >> shift) & (2^bits - 1) for the u = |x| bits whose
 * prefix matches; bins <= 4096 are counted in shared memory first. */
KERNEL void distac_abs_histogram_k(const float *x, i64 n, int shift, int bits, u32 prefix, u64 *hist) {
  __shared__ unsigned sh[4096];
  const u32 nbins = 1u << bits, mask = nbins - 1u;
  const int local = nbins <= 4096;
  const int top = shift + bits >= 32;
  if (local) {
    for (u32 i = threadIdx.x; i < nbins; i += blockDim.x) sh[i] = 0;
    dc_sync();
  }
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) {
    u32 u = dc_f2u(x[i]) & 0x7fffffffu;
    if (!top && (u >> (shift + bits)) != prefix) continue;
    u32 bin = (u >> shift) & mask;
    if (local) dc_atomic_add_u32_shared(&sh[bin], 1u);
    else dc_atomic_add_u64(&hist[bin], 1ull);
  }
  if (local) {
    dc_sync();
    for (u32 i = threadIdx.x; i < nbins; i += blockDim.x)
      if (sh[i]) dc_atomic_add_u64(&hist[i], (u64)sh[i]);
  }
}

/* hist[u - lo] += 1 for lo <= u < lo + span; *above += #{u >= lo + span}. */
KERNEL void distac_abs_window_k(const float *x, i64 n, u32 lo, u32 span, u64 *hist, u64 *above) {
  __shared__ unsigned sh_above;
  if (threadIdx.x == 0) sh_above = 0;
  dc_sync();
  unsigned mine = 0;
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) {
    u32 u = dc_f2u(x[i]) & 0x7fffffffu;
    if (u < lo) continue;
    if (u - lo >= span) mine++;
    else dc_atomic_add_u64(&hist[u - lo], 1ull);
  }
  if (mine) dc_atomic_add_u32_shared(&sh_above, mine);
  dc_sync();
  if (threadIdx.x == 0 && sh_above) dc_atomic_add_u64(above, (u64)sh_above);
}
