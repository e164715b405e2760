/*
 * tall_simd.h — the AVX2 and AVX-512 loop of tall.c around each ISA's
 * per-vector mask and count (tall_vec_ISA in tall.c), written once with the
 * simd_map.h names; tall.c includes it once per ISA (simd_each.h). The
 * tails differ: AVX2 finishes with the scalar element code, AVX-512 with a
 * masked vector.
 */

/* The vector at i (all lanes) and the prefetches of the 2W lanes from i:
 * one per 64 bytes of each input. */
#if SIMD_W == 8
#define TALL_VEC(i) tall_vec_avx2(dst, counts, count, xs, lambdas, min, nt, i)
#define TALL_PREFETCH(i) tall_prefetch(count, xs, i)
#else
#define TALL_VEC(i) tall_vec_avx512(dst, counts, count, xs, lambdas, min, nt, i, 0xffff)
#define TALL_PREFETCH(i) (tall_prefetch(count, xs, i), tall_prefetch(count, xs, (i) + 16))
#endif

SIMD_TARGET int SIMD_FN(distac_tall_consensus)(float *dst, uint8_t *counts, int32_t count,
                                               const float *const *xs, const float *lambdas,
                                               int32_t min_agree, int64_t n) {
  if (!tall_args(dst, counts, count, xs, lambdas, n)) return DISTAC_EINVAL;
  if (!dst && !counts) return DISTAC_OK;
  const VI min = vi_set1(min_agree);
  const int nt = tall_stream(dst, n);
  int64_t i = 0;
  for (; nt && i < n && ((uintptr_t)(dst + i) & 63); i++)
    tall1(dst, counts, count, xs, lambdas, min_agree, i);
  /* 2W lanes (AVX2: 64 bytes of each input) per iteration: two independent
   * blocks for the out-of-order core */
  for (; i + 2 * SIMD_W <= n; i += 2 * SIMD_W) {
    TALL_PREFETCH(i);
    TALL_VEC(i);
    TALL_VEC(i + SIMD_W);
  }
#if SIMD_W == 8
  for (; i < n; i++) tall1(dst, counts, count, xs, lambdas, min_agree, i);
#else
  for (; i < n; i += 16)
    tall_vec_avx512(dst, counts, count, xs, lambdas, min, 0, i,
                    n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1));
#endif
  if (nt) _mm_sfence();
  return DISTAC_OK;
}

#undef TALL_VEC
#undef TALL_PREFETCH
