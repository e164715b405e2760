/*
 * common.cuh — the prelude of every device file in kernels/cuda/: the CUDA
 * keywords clang needs without the CUDA toolkit's headers, the thread
 * indices (clang's own __clang_cuda_builtin_vars.h), and small helpers.
 *
 * Built by scripts/ptx.sh with Debian's clang (no CUDA toolkit, no libdevice):
 *   clang-19 -x cuda --cuda-device-only -nocudainc -nocudalib \
 *     --cuda-gpu-arch=sm_80|sm_90a -Xclang -target-feature -Xclang +ptx80 -O3 -S
 * so nothing here may call a libdevice function (expf, logf, erff, ...):
 * the math is in devmath.h, plain arithmetic that the host tests check too.
 *
 * No device code in this directory has ever run on a GPU.
 */
#ifndef DISTAC_CUDA_COMMON_CUH
#define DISTAC_CUDA_COMMON_CUH

#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(n) __attribute__((launch_bounds(n)))
#include <__clang_cuda_builtin_vars.h>

typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

#define DEV static __device__ __forceinline__
#define KERNEL extern "C" __global__

/* The device math shares its source with the host tests (devmath.h). */
#define DC_MATH DEV
#include "devmath.h"

DEV void dc_sync(void) { __syncthreads(); }

/* Global index of this thread and the grid's thread count, in 64 bits. */
DEV i64 dc_gid(void) { return (i64)blockIdx.x * blockDim.x + threadIdx.x; }
DEV i64 dc_gstride(void) { return (i64)gridDim.x * blockDim.x; }

DEV float dc_shfl_xor(float v, int lane) { return __nvvm_shfl_sync_bfly_f32(0xffffffffu, v, lane, 31); }
DEV double dc_shfl_xor_d(double v, int lane) {
  long long b = __nvvm_bitcast_d2ll(v);
  int lo = __nvvm_shfl_sync_bfly_i32(0xffffffffu, (int)b, lane, 31);
  int hi = __nvvm_shfl_sync_bfly_i32(0xffffffffu, (int)(b >> 32), lane, 31);
  return __nvvm_bitcast_ll2d(((long long)hi << 32) | (unsigned)lo);
}

DEV double dc_shfl_down_d(double v, int delta) {
  long long b = __nvvm_bitcast_d2ll(v);
  int lo = __nvvm_shfl_sync_down_i32(0xffffffffu, (int)b, delta, 31);
  int hi = __nvvm_shfl_sync_down_i32(0xffffffffu, (int)(b >> 32), delta, 31);
  return __nvvm_bitcast_ll2d(((long long)hi << 32) | (unsigned)lo);
}

/* Loads element i of a tensor of distac_dtype t (0 f32, 1 f16, 2 bf16) as f32. */
DEV float dc_load_any(int t, const void *p, i64 i) {
  if (t == 0) return ((const float *)p)[i];
  u16 h = ((const u16 *)p)[i];
  return t == 1 ? dc_f16_to_f32(h) : dc_bf16_to_f32(h);
}

/* The CPU's deterministic float64 sum of squares over blocks of
 * DISTAC_SUMSQ_BLOCK (kernels/avx/taskvec.c): element i of a block goes to
 * lane i % 16, lanes are summed in element order, then folded pairwise
 * (l[j] += l[j + w], w = 8, 4, 2, 1). Here a group of 16 consecutive threads
 * sums one block, thread j being lane j, so the additions are the CPU's.
 * term(i) gives the value squared. Lane 0 of the group returns the sum. */
#define DC_SUMSQ_BLOCK 65536
DEV double dc_fold16(double l) {
  for (int w = 8; w >= 1; w >>= 1) l += dc_shfl_down_d(l, w);
  return l;
}

/* Warp reductions: every lane gets the result, combined in a fixed tree
 * (the same bits on every run). */
DEV float dc_warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += dc_shfl_xor(v, o);
  return v;
}
DEV double dc_warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += dc_shfl_xor_d(v, o);
  return v;
}
DEV float dc_warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = dc_fmax_nan(v, dc_shfl_xor(v, o));
  return v;
}

/* Block reductions for blockDim.x a multiple of 32 and at most 1024; sh
 * holds 32 values. Every thread gets the result; fixed order. Warp is the
 * warp reduction, pad its identity (for the lanes past the last warp). */
template <typename T, T (*Warp)(T)> DEV T dc_block_reduce(T v, T *sh, T pad) {
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = Warp(v);
  dc_sync();
  if (lane == 0) sh[w] = v;
  dc_sync();
  v = lane < nw ? sh[lane] : pad;
  return Warp(v);
}
DEV float dc_block_sum(float v, float *sh) { return dc_block_reduce<float, dc_warp_sum>(v, sh, 0.0f); }
DEV double dc_block_sum_d(double v, double *sh) { return dc_block_reduce<double, dc_warp_sum_d>(v, sh, 0.0); }
DEV float dc_block_max(float v, float *sh) {
  return dc_block_reduce<float, dc_warp_max>(v, sh, -__builtin_inff());
}

/* x[0] + x[1] + ... + x[n-1] in index order, on one thread: how the finish
 * kernels add per-block or per-row partial sums, in the CPU's order. */
DEV double dc_serial_sum(const double *x, i64 n) {
  double s = 0.0;
  for (i64 i = 0; i < n; i++) s += x[i];
  return s;
}

DEV unsigned long long dc_atomic_add_u64(unsigned long long *p, unsigned long long v) {
  return (unsigned long long)__nvvm_atom_add_gen_ll((long long *)p, (long long)v);
}
DEV unsigned dc_atomic_add_u32_shared(unsigned *p, unsigned v) {
  return (unsigned)__nvvm_atom_add_gen_i((int *)p, (int)v);
}

#endif
