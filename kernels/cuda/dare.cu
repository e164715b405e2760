/*
 * dare.cu — DARE's drop mask (ffi/dare.go defines it: SplitMix64 of
 * key + golden * (i + 1), top 53 bits as a fraction, kept iff >= p).
 * Never run on a GPU.
 */
#include "common.cuh"

DEV u64 dc_mix64(u64 x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

KERNEL void distac_dare_drop_k(float *x, i64 n, u64 key, u64 first, double p) {
  for (i64 i = dc_gid(); i < n; i += dc_gstride()) {
    u64 c = key + 0x9E3779B97F4A7C15ull * (first + (u64)i + 1ull);
    double u = (double)(dc_mix64(c) >> 11) * (1.0 / 9007199254740992.0);
    if (!(u >= p)) x[i] = 0.0f;
  }
}
