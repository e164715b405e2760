/*
 * attention_avx2.c — the AVX2 row kernels of the attention core (see
 * attention.c for the algorithm, attention.h for the kernels' contract):
 * attention_simd.h for AVX2, with the transposing sum it needs.
 */
#include "attention.h"

#if DISTAC_HAVE_X86
/* The 8 sums of a[0..7] as one vector (lane g = sum of a[g]). */
static inline DISTAC_TARGET_AVX2 __m256 att_hsum_avx2(const __m256 a[8]) {
  /* hadd works within 128-bit halves: after two rounds half L of u0 holds
   * the half-L sums of a[0..3], of u1 those of a[4..7]. */
  __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}
#endif

#define SIMD_TEMPLATE "attention_simd.h"
#define SIMD_ONLY 8
#include "simd_each.h"
