/*
 * simd_map.h — one name per vector type and operation, for SIMD code that
 * is written once and compiled for both AVX2 (8 float lanes) and AVX-512
 * (16), in the manner of ggml's simd-mappings. Not part of the ABI.
 *
 * A body written with these names lives in a template header that
 * simd_each.h includes once per ISA, with SIMD_PICK(avx2, avx512) defined
 * to pick its first or second argument. Each name gives both ISAs' forms
 * side by side: the exact intrinsics the two variants used when they were
 * written out twice, so a template compiles to the same instructions. Where
 * the ISAs do a thing differently (masked tails, reductions) the name says
 * what it does and each side does it its own way; where the variants spelled
 * one thing two ways (a tail condition, a float or an integer mask) there
 * are two names, as GCC's code for them differs.
 *
 * Tails and conditions, kept as they were measured:
 *  - VMASK: a hardware mask for masked loads and stores on both ISAs
 *    (AVX2 vmaskmov, AVX-512 k-masks); VBOOL: a comparison's result (AVX2
 *    a float lane mask);
 *  - VPART: "the first min(rem, W) lanes" for the training kernels, where
 *    AVX2 keeps the count (full vectors take plain loads and stores, a
 *    partial one a masked load and a store through the stack, as vmaskmov
 *    stores are microcoded and slow on AMD Zen) and AVX-512 a k-mask;
 *  - VSEL: a vector that is whole or the tail: AVX2 branches between a
 *    plain and a masked load, AVX-512 picks the mask.
 */
#ifndef DISTAC_SIMD_MAP_H
#define DISTAC_SIMD_MAP_H

#include "internal.h"

#if DISTAC_HAVE_X86
#include <immintrin.h>

/* ----------------------------------------------------- AVX2 helpers --- */

/* Lanes [0, n) set, n in 0..8. */
static inline DISTAC_TARGET_AVX2 __m256i simd_mask_avx2(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Stores lanes [0, n) of v through a stack copy (not vmaskmovps, see above). */
static inline DISTAC_TARGET_AVX2 void simd_store_head_avx2(float *p, __m256 v, int64_t n) {
  float tmp[8];
  _mm256_storeu_ps(tmp, v);
  for (int64_t i = 0; i < n; i++) p[i] = tmp[i];
}

/* p[0, min(rem, 8)) as a vector, 0 in the lanes past rem. */
static inline DISTAC_TARGET_AVX2 __m256 simd_load_part_avx2(const float *p, int64_t rem) {
  return rem >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, simd_mask_avx2(rem));
}

/* Stores lanes [0, min(rem, 8)) of v at p. */
static inline DISTAC_TARGET_AVX2 void simd_store_part_avx2(float *p, __m256 v, int64_t rem) {
  if (rem >= 8) _mm256_storeu_ps(p, v);
  else simd_store_head_avx2(p, v, rem);
}

/* Sum and largest of the lanes, in float (NaN lanes may or may not win the
 * max; callers detect NaN elsewhere). */
static inline DISTAC_TARGET_AVX2 float simd_hsum_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline DISTAC_TARGET_AVX2 float simd_hmax_avx2(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* Sum of the double lanes. */
static inline DISTAC_TARGET_AVX2 double simd_hsum_pd_avx2(__m256d a) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* Sum of the float lanes, added in double. */
static inline DISTAC_TARGET_AVX2 double simd_sum_pd_avx2(__m256 v) {
  __m256d s = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)),
                            _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
}

/* p * 2^k for integral k in [-150, 128], as two normal factors 2^k1 * 2^k2
 * so that results fall into subnormals and overflow to +inf correctly (what
 * AVX-512's scalef does in one instruction). */
static inline DISTAC_TARGET_AVX2 __m256 simd_scale_pow2_avx2(__m256 p, __m256 k) {
  __m256i ki = _mm256_cvtps_epi32(k);
  __m256i k1 = _mm256_srai_epi32(ki, 1);
  __m256i k2 = _mm256_sub_epi32(ki, k1);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, bias), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* v plus x in lane `lane` (0..7). */
static inline DISTAC_TARGET_AVX2 __m256 simd_add_lane_avx2(__m256 v, int64_t lane, float x) {
  __m256i hit = _mm256_cmpeq_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                   _mm256_set1_epi32((int)lane));
  return _mm256_add_ps(v, _mm256_and_ps(_mm256_set1_ps(x), _mm256_castsi256_ps(hit)));
}

/* -------------------------------------------------- AVX-512 helpers --- */

/* Lanes [0, n) set, n in 0..15. */
static inline DISTAC_TARGET_AVX512 __mmask16 simd_mask_avx512(int64_t n) {
  return (__mmask16)((1u << n) - 1u);
}

/* Sum of the float lanes, added in double. */
static inline DISTAC_TARGET_AVX512 double simd_sum_pd_avx512(__m512 v) {
  __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
  __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

/* ------------------------------------------------------------ names --- */

#define SIMD_TARGET SIMD_PICK(DISTAC_TARGET_AVX2, DISTAC_TARGET_AVX512)
#define SIMD_FN(name) SIMD_PICK(name##_avx2, name##_avx512) /* name_avx2, name_avx512 */

/* Types. The last four are tails and conditions, each in the form the two
 * variants used (see the top of the file). */
#define VF SIMD_PICK(__m256, __m512)        /* W floats */
#define VD SIMD_PICK(__m256d, __m512d)      /* W/2 doubles */
#define VI SIMD_PICK(__m256i, __m512i)      /* W int32 */
#define VH SIMD_PICK(__m128i, __m256i)      /* W 16-bit values (f16, bf16) */
#define VMASK SIMD_PICK(__m256i, __mmask16) /* a lane mask for masked loads and stores */
#define VPART SIMD_PICK(int64_t, __mmask16) /* the lanes of a vector before the end */
#define VBOOL SIMD_PICK(__m256, __mmask16)  /* a comparison's result per lane */
#define VSEL SIMD_PICK(int, __mmask16)      /* a vector that is whole or the tail */

/* Whole float vectors. */
#define vf_loadu(a) SIMD_PICK(_mm256_loadu_ps, _mm512_loadu_ps)(a)
#define vf_storeu(a, b) SIMD_PICK(_mm256_storeu_ps, _mm512_storeu_ps)(a, b)
#define vf_stream(a, b) SIMD_PICK(_mm256_stream_ps, _mm512_stream_ps)(a, b) /* non-temporal */
#define vf_set1(a) SIMD_PICK(_mm256_set1_ps, _mm512_set1_ps)(a)
#define vf_zero() SIMD_PICK(_mm256_setzero_ps, _mm512_setzero_ps)()
#define vf_add(a, b) SIMD_PICK(_mm256_add_ps, _mm512_add_ps)(a, b)
#define vf_sub(a, b) SIMD_PICK(_mm256_sub_ps, _mm512_sub_ps)(a, b)
#define vf_mul(a, b) SIMD_PICK(_mm256_mul_ps, _mm512_mul_ps)(a, b)
#define vf_div(a, b) SIMD_PICK(_mm256_div_ps, _mm512_div_ps)(a, b)
#define vf_min(a, b) SIMD_PICK(_mm256_min_ps, _mm512_min_ps)(a, b)
#define vf_max(a, b) SIMD_PICK(_mm256_max_ps, _mm512_max_ps)(a, b)
#define vf_sqrt(a) SIMD_PICK(_mm256_sqrt_ps, _mm512_sqrt_ps)(a)
#define vf_fmadd(a, b, c) SIMD_PICK(_mm256_fmadd_ps, _mm512_fmadd_ps)(a, b, c)    /* a*b + c */
#define vf_fmsub(a, b, c) SIMD_PICK(_mm256_fmsub_ps, _mm512_fmsub_ps)(a, b, c)    /* a*b - c */
#define vf_fnmadd(a, b, c) SIMD_PICK(_mm256_fnmadd_ps, _mm512_fnmadd_ps)(a, b, c) /* c - a*b */
#define vf_abs(a)                                                                  \
  SIMD_PICK(_mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))), \
            _mm512_abs_ps(a))
#define vf_round(a) /* to the nearest integer */                 \
  SIMD_PICK(_mm256_round_ps, _mm512_roundscale_ps)(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vf_scale_pow2(p, k) /* p * 2^k, k integral */ \
  SIMD_PICK(simd_scale_pow2_avx2, _mm512_scalef_ps)(p, k)
/* p[i] in every lane. p and i go in unparenthesised, so the address is
 * formed as each variant wrote it: AVX2 p + i, AVX-512 p[i]. */
#define vf_bcast(p, i) SIMD_PICK(_mm256_broadcast_ss(p + i), _mm512_set1_ps(p[i]))

/* int32 vectors. */
#define vi_set1(a) SIMD_PICK(_mm256_set1_epi32, _mm512_set1_epi32)(a)
#define vi_loadu(p) SIMD_PICK(_mm256_loadu_si256((const __m256i *)(p)), _mm512_loadu_si512(p))
#define vi_and(a, b) SIMD_PICK(_mm256_and_si256, _mm512_and_si512)(a, b)
#define vi_srl(a, count) /* count: __m128i */ \
  SIMD_PICK(_mm256_srl_epi32, _mm512_srl_epi32)(a, count)
#define vi_eq_bits(a, b) /* bit l set where lane l of a equals that of b */          \
  SIMD_PICK(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b))), \
            _mm512_cmpeq_epi32_mask(a, b))

/* 16-bit halves: loads and stores, f16 <-> f32 (F16C), bf16 -> f32. */
#define vh_loadu(p) \
  SIMD_PICK(_mm_loadu_si128((const __m128i *)(p)), _mm256_loadu_si256((const __m256i *)(p)))
#define vh_storeu(p, h) SIMD_PICK(_mm_storeu_si128, _mm256_storeu_si256)(p, h)
#define vh_stream(p, h) SIMD_PICK(_mm_stream_si128, _mm256_stream_si256)(p, h)
#define vf_from_f16(h) SIMD_PICK(_mm256_cvtph_ps, _mm512_cvtph_ps)(h)
#define vf_to_f16(v) \
  SIMD_PICK(_mm256_cvtps_ph, _mm512_cvtps_ph)(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vf_from_bf16(h)                                                             \
  SIMD_PICK(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)), \
            _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)))

/* Doubles, and the low and high halves of a float vector widened to them. */
#define vd_zero() SIMD_PICK(_mm256_setzero_pd, _mm512_setzero_pd)()
#define vd_add(a, b) SIMD_PICK(_mm256_add_pd, _mm512_add_pd)(a, b)
#define vd_fmadd(a, b, c) SIMD_PICK(_mm256_fmadd_pd, _mm512_fmadd_pd)(a, b, c)
#define vf_lo_pd(a) \
  SIMD_PICK(_mm256_cvtps_pd(_mm256_castps256_ps128(a)), _mm512_cvtps_pd(_mm512_castps512_ps256(a)))
#define vf_hi_pd(a)                                   \
  SIMD_PICK(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)), \
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1))))

/* Reductions (each ISA adds the lanes in its own order). */
#define vf_hsum(a) SIMD_PICK(simd_hsum_avx2, _mm512_reduce_add_ps)(a) /* in float */
#define vf_hmax(a) SIMD_PICK(simd_hmax_avx2, _mm512_reduce_max_ps)(a)
#define vd_hsum(a) SIMD_PICK(simd_hsum_pd_avx2, _mm512_reduce_add_pd)(a)
#define vf_sum_pd(a) SIMD_PICK(simd_sum_pd_avx2, simd_sum_pd_avx512)(a) /* in double */

/* Comparisons and selects (VBOOL). */
#define vf_lt(a, b) SIMD_PICK(_mm256_cmp_ps(a, b, _CMP_LT_OQ), _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ))
#define vf_blend(c, a, b) /* c ? b : a */ \
  SIMD_PICK(_mm256_blendv_ps(a, b, c), _mm512_mask_blend_ps(c, a, b))

/* Masked tails (VMASK). */
#define vmask_head(n) SIMD_PICK(simd_mask_avx2(n), simd_mask_avx512(n)) /* lanes [0, n), n < W */
#define vmask_first(rem) /* lanes [0, min(rem, W)) */                 \
  SIMD_PICK(simd_mask_avx2((rem) < 8 ? (rem) : 8),                    \
            ((rem) >= 16 ? (__mmask16)0xffff : simd_mask_avx512(rem)))
#define vf_load_mask(p, m) SIMD_PICK(_mm256_maskload_ps(p, m), _mm512_maskz_loadu_ps(m, p))
#define vf_store_mask(p, m, v) \
  SIMD_PICK(_mm256_maskstore_ps(p, m, v), _mm512_mask_storeu_ps(p, m, v))
/* p under mask m, `fill` in the other lanes */
#define vf_load_mask_or(p, m, fill)                                                   \
  SIMD_PICK(_mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m)), \
            _mm512_mask_loadu_ps(fill, m, p))
/* The lanes of m, which are the first n or min(n, W): AVX2 stores (loads)
 * n lanes through the stack (plain for a whole vector), AVX-512 uses m. */
#define vf_store_head(p, v, m, n) \
  SIMD_PICK(simd_store_head_avx2(p, v, n), _mm512_mask_storeu_ps(p, m, v))
#define vf_store_first(p, v, m, n) \
  SIMD_PICK(simd_store_part_avx2(p, v, n), _mm512_mask_storeu_ps(p, m, v))
#define vf_load_first(p, m, n) SIMD_PICK(simd_load_part_avx2(p, n), _mm512_maskz_loadu_ps(m, p))

/* Arithmetic on a masked tail. AVX2 zeroes the lanes outside the mask
 * (vf_keep) and then adds them plainly; AVX-512 keeps every lane and adds
 * under the mask. */
#define vf_keep(v, m) /* AVX2: 0 outside m */ \
  SIMD_PICK(_mm256_and_ps(v, _mm256_castsi256_ps(m)), (v))
#define vf_add_mask(a, m, b) SIMD_PICK(_mm256_add_ps(a, b), _mm512_mask_add_ps(a, m, a, b))
#define vf_fmadd_mask(a, b, c, m) \
  SIMD_PICK(_mm256_fmadd_ps(a, b, c), _mm512_mask3_fmadd_ps(a, b, c, m))
#define vf_sub_maskz(m, a, b) /* a - b in the lanes of m, 0 elsewhere */ \
  SIMD_PICK(_mm256_and_ps(_mm256_sub_ps(a, b), _mm256_castsi256_ps(m)), \
            _mm512_maskz_sub_ps(m, a, b))
/* max(a, b) in the lanes of m, a elsewhere (AVX2: max with -inf there) */
#define vf_max_mask(a, m, b)                                                                \
  SIMD_PICK(                                                                                \
      _mm256_max_ps(a, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), b, _mm256_castsi256_ps(m))), \
      _mm512_mask_max_ps(a, m, a, b))
#define vf_add_lane(v, lane, x) /* v plus x in lane `lane` (< W) */ \
  SIMD_PICK(simd_add_lane_avx2(v, lane, x),                         \
            _mm512_mask_add_ps(v, (__mmask16)(1u << (lane)), v, _mm512_set1_ps(x)))

/* The same on masks held as VBOOL (AVX2: float lane masks, __m256). */
#define vbool_first(rem)                                                   \
  SIMD_PICK(_mm256_castsi256_ps(simd_mask_avx2((rem) < 8 ? (rem) : 8)), \
            ((rem) >= 16 ? (__mmask16)0xffff : simd_mask_avx512(rem)))
#define vf_keep_b(v, c) SIMD_PICK(_mm256_and_ps(v, c), (v))
#define vf_sub_maskz_b(c, a, b) \
  SIMD_PICK(_mm256_and_ps(_mm256_sub_ps(a, b), c), _mm512_maskz_sub_ps(c, a, b))
#define vf_max_mask_b(a, c, b, ninf) \
  SIMD_PICK(_mm256_max_ps(a, _mm256_blendv_ps(ninf, b, c)), _mm512_mask_max_ps(a, c, a, b))

/* Whole-or-tail vectors (VSEL): AVX2 branches between a plain and a masked
 * load, AVX-512 picks the mask (and ignores tail). */
#define vsel_of(whole, tail) SIMD_PICK((whole), (whole) ? (__mmask16)0xffff : (tail))
#define vf_load_sel(p, s, tail) \
  SIMD_PICK((s) ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tail), _mm512_maskz_loadu_ps(s, p))

/* Partial vectors (VPART). The four constructors are spelled as the
 * variants spelled their tail conditions. */
#define vpart_of(rem) /* the first min(rem, W) lanes */ \
  SIMD_PICK((rem), ((rem) >= 16 ? (__mmask16)0xffff : simd_mask_avx512(rem)))
#define vpart_at(i, end) /* the lanes of [i, end) */ \
  SIMD_PICK((end) - (i), (i) + 16 <= (end) ? (__mmask16)0xffff : simd_mask_avx512((end) - (i)))
#define vpart_in(i, n, nv, tail) /* [i, n): nv = n rounded down to W, tail its mask */ \
  SIMD_PICK((n) - (i), (i) < (nv) ? (__mmask16)0xffff : (tail))
#define vpart_full() SIMD_PICK((int64_t)8, (__mmask16)0xffff)  /* all lanes */
#define vpart_tail(rem) SIMD_PICK((rem), simd_mask_avx512(rem)) /* the first rem < W lanes */
#define vf_load_part(p, k) SIMD_PICK(simd_load_part_avx2(p, k), _mm512_maskz_loadu_ps(k, p))
#define vf_store_part(p, v, k) \
  SIMD_PICK(simd_store_part_avx2(p, v, k), _mm512_mask_storeu_ps(p, k, v))
#define vf_store_tail(p, v, k) /* k from vpart_tail */ \
  SIMD_PICK(simd_store_head_avx2(p, v, k), _mm512_mask_storeu_ps(p, k, v))

#endif /* DISTAC_HAVE_X86 */
#endif
