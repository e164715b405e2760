/*
 * internal.h — shared by the kernel sources, not part of the ABI.
 *
 * Each op file defines distac_OP_scalar/_avx2/_avx512 and then
 * DISTAC_DEFINE_DISPATCH(OP, (params), (args)) to get distac_OP_isa and
 * distac_OP, or has DISTAC_DEFINE_OP write all five from one call per ISA.
 * SIMD functions carry function-level target attributes, so one build (no
 * -mavx2) holds every variant and the CPU check happens at run time.
 *
 * Off x86 (DISTAC_HAVE_X86 0) the SIMD code is not compiled: the files
 * guard it, and the dispatch macros define each distac_OP_avx2/_avx512 as
 * a stub returning DISTAC_EISA, so the ABI keeps every symbol and
 * distac_isa_supported (runtime.c) reports only the scalar path.
 */
#ifndef DISTAC_INTERNAL_H
#define DISTAC_INTERNAL_H

#include <string.h>

#include "distac_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define DISTAC_HAVE_X86 1
#else
#define DISTAC_HAVE_X86 0
#endif

#define DISTAC_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define DISTAC_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

#define DISTAC_EXPAND(...) __VA_ARGS__
#define DISTAC_STRIP(list) DISTAC_EXPAND list

#if DISTAC_HAVE_X86
#define DISTAC_EISA_STUBS(name, params)
#else
/* The SIMD variants of an op on a CPU that cannot have them. */
#define DISTAC_EISA_STUBS(name, params)                                \
  _Pragma("GCC diagnostic push")                                       \
  _Pragma("GCC diagnostic ignored \"-Wunused-parameter\"")             \
  int distac_##name##_avx2 params { return DISTAC_EISA; }              \
  int distac_##name##_avx512 params { return DISTAC_EISA; }            \
  _Pragma("GCC diagnostic pop")
#endif

#define DISTAC_DEFINE_DISPATCH(name, params, args)                      \
  DISTAC_EISA_STUBS(name, params)                                       \
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

/* All five forms of an op whose variants differ only in what they pass to a
 * shared driver: distac_OP_ISA params { return CALL(ISA); } for ISA in
 * scalar, avx2, avx512, where CALL is a function-like macro of the ISA
 * suffix (e.g. #define OP_CALL(isa) op_run(x, n, op_row_##isa)). */
#if DISTAC_HAVE_X86
#define DISTAC_DEFINE_SIMD_VARIANTS(name, params, CALL)    \
  int distac_##name##_avx2 params { return CALL(avx2); }   \
  int distac_##name##_avx512 params { return CALL(avx512); }
#else
#define DISTAC_DEFINE_SIMD_VARIANTS(name, params, CALL)
#endif
#define DISTAC_DEFINE_OP(name, params, args, CALL)        \
  int distac_##name##_scalar params { return CALL(scalar); } \
  DISTAC_DEFINE_SIMD_VARIANTS(name, params, CALL)         \
  DISTAC_DEFINE_DISPATCH(name, params, args)

/* keep ? v : +0 without a branch (keep is 0 or 1): the merge kernels' masks
 * and signs are coin flips per element, which branches mispredict half the
 * time. */
static inline float distac_keep_f32(int keep, float v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  u &= 0u - (uint32_t)keep;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* The bf16 bits of the f32 with bits x, rounded to nearest even; a NaN
 * stays a (quiet) NaN. convert.c and gemm_bf16.c round with it. */
static inline uint16_t distac_bf16_bits(uint32_t x) {
  if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)(x >> 16 | 0x40);
  return (uint16_t)((x + 0x7fff + (x >> 16 & 1)) >> 16);
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

/* Scratch memory of `bytes` (64-byte aligned), NULL if it cannot be had;
 * distac_scratch_put returns it. The calling thread's block is reused from
 * call to call (runtime.c), so packing buffers do not fault in fresh pages
 * each time; get and put on the same thread. */
void *distac_scratch_get(size_t bytes);
void distac_scratch_put(void *p);

/* The data cache sizes of this CPU in bytes, L1d and L2 per core, read once
 * (sysconf, which glibc answers from cpuid); 32 KiB and 1 MiB where the C
 * library cannot say. Kernels derive their cache blocks from these. */
void distac_cache_sizes(int64_t *l1d, int64_t *l2);

#endif
