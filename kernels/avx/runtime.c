/*
 * runtime.c — CPU feature detection and the fork/join helper.
 * __builtin_cpu_supports checks the OS too (XGETBV): AVX-512 is reported only
 * where the kernel saves ZMM/opmask state.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

int distac_isa_supported(distac_isa isa) {
  __builtin_cpu_init();
  switch (isa) {
    case DISTAC_ISA_SCALAR:
      return 1;
    case DISTAC_ISA_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case DISTAC_ISA_AVX512:
      return distac_isa_supported(DISTAC_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  }
  return 0;
}

distac_isa distac_isa_best(void) {
  if (distac_isa_supported(DISTAC_ISA_AVX512)) return DISTAC_ISA_AVX512;
  if (distac_isa_supported(DISTAC_ISA_AVX2)) return DISTAC_ISA_AVX2;
  return DISTAC_ISA_SCALAR;
}

const char *distac_isa_name(distac_isa isa) {
  switch (isa) {
    case DISTAC_ISA_SCALAR: return "scalar";
    case DISTAC_ISA_AVX2: return "avx2";
    case DISTAC_ISA_AVX512: return "avx512";
  }
  return "unknown";
}

int distac_default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 ? (int)n : 1;
}

int distac_threads_for(int threads, int64_t n, int64_t grain) {
  if (threads <= 0) threads = distac_default_threads();
  if (grain < 1) grain = 1;
  int64_t most = n / grain;
  if (most < 1) most = 1;
  return most < threads ? (int)most : threads;
}

typedef struct {
  distac_range_fn fn;
  void *ctx;
  int64_t begin, end;
} chunk;

static void *run_chunk(void *p) {
  chunk *c = (chunk *)p;
  c->fn(c->ctx, c->begin, c->end);
  return NULL;
}

void distac_parallel_for(int threads, int64_t n, int64_t grain, distac_range_fn fn, void *ctx) {
  if (n <= 0) return;
  int t = distac_threads_for(threads, n, grain);
  if (t <= 1) {
    fn(ctx, 0, n);
    return;
  }
  chunk *cs = (chunk *)calloc((size_t)t, sizeof(chunk));
  pthread_t *ids = (pthread_t *)calloc((size_t)t, sizeof(pthread_t));
  char *started = (char *)calloc((size_t)t, 1);
  if (!cs || !ids || !started) { /* no memory for bookkeeping: run serially */
    free(cs), free(ids), free(started);
    fn(ctx, 0, n);
    return;
  }
  for (int i = 0; i < t; i++) {
    cs[i] = (chunk){fn, ctx, n * i / t, n * (i + 1) / t};
  }
  for (int i = 1; i < t; i++) started[i] = pthread_create(&ids[i], NULL, run_chunk, &cs[i]) == 0;
  run_chunk(&cs[0]);
  for (int i = 1; i < t; i++) {
    if (started[i]) pthread_join(ids[i], NULL);
    else run_chunk(&cs[i]);
  }
  free(cs), free(ids), free(started);
}
