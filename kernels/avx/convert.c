/*
 * convert.c — distac_convert: dtype conversion between f32, f16 and bf16.
 *
 * Every pair goes through f32 bits, so there is at most one rounding:
 *   f16  -> f32   exact (vcvtph2ps); a NaN keeps its payload and gets the quiet bit
 *   bf16 -> f32   exact: the bf16 bits are the top half of the f32
 *   f32  -> f16   round to nearest even (vcvtps2ph); |x| >= 65520 gives +-Inf;
 *                 a NaN keeps the top of its payload and gets the quiet bit
 *   f32  -> bf16  bf16(x) = (x + 0x7fff + ((x >> 16) & 1)) >> 16 on the bits:
 *                 adds just under half an ulp, plus one more when the kept lsb
 *                 is odd, so ties go to even and overflow carries into Inf. A
 *                 NaN would carry into the sign, so it is truncated instead,
 *                 with its quiet bit (0x0040) set.
 * Subnormals are exact in both directions (F16C never flushes f16 subnormals).
 * The scalar code is the reference; the SIMD variants match it bit for bit.
 * Large outputs are written with non-temporal stores (see CVT_STREAM_BYTES).
 */
#include <stdint.h>
#include <string.h>

#include "simd_map.h" /* internal.h; the x86 intrinsics on x86 */

/* Conversions that move at least this many bytes (read + written) stream
 * their output past the cache: from memory, that saves the read-for-ownership
 * of every destination line (a quarter of the traffic of f32 -> bf16, two
 * fifths of bf16 -> f32). Smaller ones keep dst in cache for its next reader. */
#define CVT_STREAM_BYTES ((int64_t)8 << 20)

#define CVT_INLINE static inline __attribute__((always_inline))

static size_t cvt_size(distac_dtype t) { return t == DISTAC_F32 ? 4 : 2; }

/* ------------------------------------------------------------- scalar --- */

static uint32_t cvt_f16_to_f32_bits(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0x1f) return sign | 0x7f800000 | (mant ? 0x400000 | mant << 13 : 0);
  if (exp == 0) {
    if (mant == 0) return sign;
    /* subnormal m * 2^-24: shift the leading one up to bit 10 */
    exp = 1;
    while (!(mant & 0x400)) mant <<= 1, exp--;
    mant &= 0x3ff;
  }
  return sign | (exp + 112) << 23 | mant << 13; /* rebias 15 -> 127 */
}

static uint16_t cvt_f32_bits_to_f16(uint32_t x) {
  uint16_t sign = (uint16_t)(x >> 16 & 0x8000);
  uint32_t a = x & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00 | (a >> 13 & 0x3ff); /* NaN, quieted */
  if (a >= 0x47800000) return sign | 0x7c00;                     /* >= 2^16: Inf */
  if (a >= 0x38800000) {                                         /* normal f16 */
    a += 0xfff + (a >> 13 & 1); /* round to nearest even at bit 13 */
    return sign | (uint16_t)((a >> 13) - (112 << 10)); /* may carry to Inf */
  }
  if (a <= 0x33000000) return sign; /* <= 2^-25: ties to the even zero */
  /* f16 subnormal: q = round(|x| / 2^-24), |x| = m * 2^(e - 150) */
  uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000;
  uint32_t s = 126 - e; /* 14..24 */
  uint32_t q = m >> s, rem = m & ((1u << s) - 1), half = 1u << (s - 1);
  if (rem > half || (rem == half && (q & 1))) q++;
  return sign | (uint16_t)q; /* q == 0x400 is the smallest normal: still right */
}

static uint32_t cvt_load_bits(distac_dtype t, const void *src, int64_t i) {
  switch (t) {
    case DISTAC_F16: return cvt_f16_to_f32_bits(((const uint16_t *)src)[i]);
    case DISTAC_BF16: return (uint32_t)((const uint16_t *)src)[i] << 16;
    default: {
      uint32_t u;
      memcpy(&u, (const char *)src + 4 * i, 4);
      return u;
    }
  }
}

static void cvt_store_bits(distac_dtype t, void *dst, int64_t i, uint32_t x) {
  switch (t) {
    case DISTAC_F16: ((uint16_t *)dst)[i] = cvt_f32_bits_to_f16(x); break;
    case DISTAC_BF16: ((uint16_t *)dst)[i] = distac_bf16_bits(x); break;
    default: memcpy((char *)dst + 4 * i, &x, 4); break;
  }
}

/* Converts elements [begin, end); also the SIMD variants' head and tail. */
static void cvt_range(distac_dtype dt, void *dst, distac_dtype st, const void *src,
                      int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; i++) cvt_store_bits(dt, dst, i, cvt_load_bits(st, src, i));
}

static int cvt_check(distac_dtype dt, const void *dst, distac_dtype st, const void *src,
                     int64_t n) {
  if ((unsigned)dt > DISTAC_BF16 || (unsigned)st > DISTAC_BF16) return DISTAC_EINVAL;
  if (n < 0 || n > INT64_MAX / 4) return DISTAC_EINVAL;
  if (n > 0 && (!dst || !src)) return DISTAC_EINVAL;
  return DISTAC_OK;
}

int distac_convert_scalar(distac_dtype dst_type, void *dst, distac_dtype src_type,
                          const void *src, int64_t n) {
  int rc = cvt_check(dst_type, dst, src_type, src, n);
  if (rc != DISTAC_OK || n == 0) return rc;
  if (dst_type == src_type) memcpy(dst, src, (size_t)n * cvt_size(dst_type));
  else cvt_range(dst_type, dst, src_type, src, 0, n);
  return DISTAC_OK;
}

/* ------------------------------------------------------- AVX2, AVX-512 ---
 * Both ISAs' loops are convert_simd.h, around the streaming head below and
 * each ISA's bf16 rounding of the header comment on W lanes, packed to 16
 * bits. */
#if DISTAC_HAVE_X86
/* Elements to convert before dst reaches a 64-byte boundary when the output
 * should be streamed, else -1. */
static int64_t cvt_stream_head(distac_dtype dt, const void *dst, distac_dtype st, int64_t n) {
  size_t es = cvt_size(dt);
  uintptr_t p = (uintptr_t)dst;
  if (n < CVT_STREAM_BYTES / (int64_t)(es + cvt_size(st)) || p % es) return -1;
  int64_t head = (int64_t)((64 - p % 64) % 64 / es);
  return head < n ? head : n;
}

CVT_INLINE DISTAC_TARGET_AVX2 __m128i cvt_bf16_avx2(__m256 v) {
  __m256i x = _mm256_castps_si256(v);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb);
  __m256i abs = _mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff));
  __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
  r = _mm256_blendv_epi8(r, _mm256_or_si256(x, _mm256_set1_epi32(0x400000)), nan);
  r = _mm256_srli_epi32(r, 16);
  return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

CVT_INLINE DISTAC_TARGET_AVX512 __m256i cvt_bf16_avx512(__m512 v) {
  __m512i x = _mm512_castps_si512(v);
  __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7fff)), lsb);
  __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)),
                                          _mm512_set1_epi32(0x7f800000));
  r = _mm512_mask_or_epi32(r, nan, x, _mm512_set1_epi32(0x400000));
  return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}
#endif

#define SIMD_TEMPLATE "convert_simd.h"
#include "simd_each.h"

DISTAC_DEFINE_DISPATCH(convert,
                       (distac_dtype dst_type, void *dst, distac_dtype src_type, const void *src,
                        int64_t n),
                       (dst_type, dst, src_type, src, n))
