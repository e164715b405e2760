/*
 * internal.h — shared by the kernel sources, not part of the ABI.
 *
 * Each op file defines distac_OP_scalar/_avx2/_avx512 and then
 * DISTAC_DEFINE_DISPATCH(OP, (params), (args)) to get distac_OP_isa and
 * distac_OP. SIMD functions carry function-level target attributes, so one
 * build (no -mavx2) holds every variant and the CPU check happens at run time.
 */
#ifndef DISTAC_INTERNAL_H
#define DISTAC_INTERNAL_H

#include "distac_kernels.h"

#define DISTAC_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define DISTAC_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

#define DISTAC_EXPAND(...) __VA_ARGS__
#define DISTAC_STRIP(list) DISTAC_EXPAND list

#define DISTAC_DEFINE_DISPATCH(name, params, args)                      \
  int distac_##name##_isa(distac_isa isa, DISTAC_STRIP(params)) {       \
    if (!distac_isa_supported(isa)) return DISTAC_EISA;                 \
    switch (isa) {                                                      \
      case DISTAC_ISA_SCALAR: return distac_##name##_scalar args;       \
      case DISTAC_ISA_AVX2: return distac_##name##_avx2 args;           \
      case DISTAC_ISA_AVX512: return distac_##name##_avx512 args;       \
    }                                                                   \
    return DISTAC_EISA;                                                 \
  }                                                                     \
  int distac_##name params {                                            \
    return distac_##name##_isa(distac_isa_best(), DISTAC_STRIP(args));  \
  }

/* Runs fn(ctx, begin, end) over [0, n) split into at most `threads`
 * contiguous chunks of at least `grain` items (threads <= 0: all CPUs).
 * Chunk c is [n*c/t, n*(c+1)/t) for t chunks. The caller runs chunks too,
 * and the rest go to the kept worker pool of runtime.c (which thread runs
 * which chunk varies); with no pool the caller runs them all, in order. */
typedef void (*distac_range_fn)(void *ctx, int64_t begin, int64_t end);
void distac_parallel_for(int threads, int64_t n, int64_t grain, distac_range_fn fn, void *ctx);

/* Number of worker threads for n items of `grain` minimum each. */
int distac_threads_for(int threads, int64_t n, int64_t grain);

#endif
