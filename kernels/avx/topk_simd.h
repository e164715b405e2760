/*
 * topk_simd.h — the AVX2 and AVX-512 digit passes of topk.c
 * (abs_histogram), written once with the simd_map.h names; topk.c includes
 * it once per ISA (simd_each.h). The window pass differs per ISA (topk.c).
 */

#if SIMD_W == 8
typedef uint32_t topk_hits_avx2; /* one bit per element of 4 vectors */
#define TOPK_ADD(dig) topk_add8(dig, s)
#define TOPK_CTZ __builtin_ctz
#else
typedef uint64_t topk_hits_avx512;
/* The scatter of counts is scalar on every ISA; AVX-512 adds wider digit
 * extraction and mask registers for the filtered pass. */
#define TOPK_ADD(dig) \
  (topk_add8(_mm512_castsi512_si256(dig), s), topk_add8(_mm512_extracti64x4_epi64(dig, 1), s))
#define TOPK_CTZ __builtin_ctzll
#endif

static SIMD_TARGET void SIMD_FN(topk_count)(const float *x, int64_t n, const topk_digit *d,
                                            uint32_t *const *s) {
  const VI abs = vi_set1(0x7fffffff), mask = vi_set1((int)d->mask);
  const __m128i sh = _mm_cvtsi32_si128(d->shift);
  int64_t i = 0;
  for (; i + SIMD_W <= n; i += SIMD_W) {
    VI u = vi_and(vi_loadu(x + i), abs);
    VI dig = vi_and(vi_srl(u, sh), mask);
    TOPK_ADD(dig);
  }
  topk_count_scalar(x + i, n - i, d, s);
}

/* Filtered passes: most elements miss the prefix, so test 4 vectors at a
 * time and count the few that match one by one. */
static SIMD_TARGET void SIMD_FN(topk_match)(const float *x, int64_t n, const topk_digit *d,
                                            uint64_t *hist) {
  if (d->full) {
    topk_match_scalar(x, n, d, hist);
    return;
  }
  const VI abs = vi_set1(0x7fffffff), want = vi_set1((int)d->prefix);
  const __m128i hs = _mm_cvtsi32_si128(d->high);
  int64_t i = 0;
  for (; i + 4 * SIMD_W <= n; i += 4 * SIMD_W) {
    SIMD_FN(topk_hits) hit = 0;
    for (int q = 0; q < 4; q++) {
      VI u = vi_and(vi_loadu(x + i + SIMD_W * q), abs);
      hit |= (SIMD_FN(topk_hits))vi_eq_bits(vi_srl(u, hs), want) << (SIMD_W * q);
    }
    for (; hit; hit &= hit - 1) {
      uint32_t u = topk_bits(x[i + TOPK_CTZ(hit)]);
      hist[(u >> d->shift) & d->mask]++;
    }
  }
  topk_match_scalar(x + i, n - i, d, hist);
}

#undef TOPK_ADD
#undef TOPK_CTZ
