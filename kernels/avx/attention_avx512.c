/*
 * attention_avx512.c — the AVX-512 row kernels of the attention core (see
 * attention.c for the algorithm, attention.h for the kernels' contract):
 * attention_simd.h for AVX-512, with the transposing sum it needs.
 */
#include "attention.h"

#if DISTAC_HAVE_X86
/* The 16 sums of a[0..15] as one vector (lane g = sum of a[g]). */
static inline DISTAC_TARGET_AVX512 __m512 att_hsum_avx512(const __m512 a[16]) {
  /* 1: 128-bit quarters 0,1 of r[m] hold the half-sums of a[2m], 2,3 those of a[2m+1]. */
  __m512 r[8], s[4];
  ATT_UNROLL
  for (int m = 0; m < 8; m++) {
    r[m] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(a[2 * m], a[2 * m + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  /* 2: quarter L of s[m] holds 4 partial sums of a[4m + L]. */
  ATT_UNROLL
  for (int m = 0; m < 4; m++) {
    s[m] = _mm512_add_ps(_mm512_shuffle_f32x4(r[2 * m], r[2 * m + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(r[2 * m], r[2 * m + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  /* 3: within quarters (as hadd): element e of quarter L = sum of a[4e + L]. */
  __m512 t0 = _mm512_add_ps(_mm512_shuffle_ps(s[0], s[1], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_ps(s[0], s[1], _MM_SHUFFLE(3, 1, 3, 1)));
  __m512 t1 = _mm512_add_ps(_mm512_shuffle_ps(s[2], s[3], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_ps(s[2], s[3], _MM_SHUFFLE(3, 1, 3, 1)));
  __m512 f = _mm512_add_ps(_mm512_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)),
                           _mm512_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1)));
  /* Lane 4L + e holds a[4e + L]: lane g comes from 4 (g % 4) + g / 4. */
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(idx, f);
}
#endif

#define SIMD_TEMPLATE "attention_simd.h"
#define SIMD_ONLY 16
#include "simd_each.h"
