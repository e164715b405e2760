/*
 * taskvec.c — elementwise task-vector ops: sub, sumsq, scale, axpy, wsum, and
 * sub_accum (taskvec_accum.h), which fuses sub, a wsum step and sumsq.
 *
 * All are memory-bound, so the SIMD loops aim at one pass at full bandwidth:
 * unaligned loads, and for large outputs that are written without being read
 * (sub, wsum) non-temporal stores, which skip the read-for-ownership of each
 * destination line. Tails use masks (AVX2 vmaskmov, AVX-512 k-masks) or the
 * scalar code, never reading or writing past n.
 *
 * sumsq is bit-identical on every ISA and for any thread count: element i of
 * a block goes to float64 lane i % 16 (x*x is exact in float64, so the order
 * of additions is all that matters), the 16 lanes are folded pairwise, and
 * block sums are added in block order.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "simd_map.h" /* internal.h; the x86 intrinsics on x86 */

/* Ops that move at least this many bytes (read + written) stream their f32
 * output past the cache; smaller ones keep dst cached for its next reader. */
#define TV_STREAM_BYTES ((int64_t)8 << 20)
/* Fewest sumsq blocks per thread: below ~4 MiB a thread costs more than it saves. */
#define TV_SUMSQ_GRAIN 16

#define TV_INLINE static inline __attribute__((always_inline))

static size_t tv_size(distac_dtype t) { return t == DISTAC_F32 ? 4 : 2; }

static const void *tv_at(distac_dtype t, const void *p, int64_t i) {
  return (const char *)p + (size_t)i * tv_size(t);
}

static int tv_dtype_ok(distac_dtype t) { return (unsigned)t <= DISTAC_BF16; }

/* Runs fn(dst, FT, ft, BASE, base, n) with both dtypes as constants, so each
 * of the nine pairs gets a loop compiled without dtype switches. */
#define TV_SUB_PAIRS(fn)                                                                     \
  switch (ft_type * 3 + base_type) {                                                         \
    case DISTAC_F32 * 3 + DISTAC_F32: fn(dst, DISTAC_F32, ft, DISTAC_F32, base, n); break;   \
    case DISTAC_F32 * 3 + DISTAC_F16: fn(dst, DISTAC_F32, ft, DISTAC_F16, base, n); break;   \
    case DISTAC_F32 * 3 + DISTAC_BF16: fn(dst, DISTAC_F32, ft, DISTAC_BF16, base, n); break; \
    case DISTAC_F16 * 3 + DISTAC_F32: fn(dst, DISTAC_F16, ft, DISTAC_F32, base, n); break;   \
    case DISTAC_F16 * 3 + DISTAC_F16: fn(dst, DISTAC_F16, ft, DISTAC_F16, base, n); break;   \
    case DISTAC_F16 * 3 + DISTAC_BF16: fn(dst, DISTAC_F16, ft, DISTAC_BF16, base, n); break; \
    case DISTAC_BF16 * 3 + DISTAC_F32: fn(dst, DISTAC_BF16, ft, DISTAC_F32, base, n); break; \
    case DISTAC_BF16 * 3 + DISTAC_F16: fn(dst, DISTAC_BF16, ft, DISTAC_F16, base, n); break; \
    default: fn(dst, DISTAC_BF16, ft, DISTAC_BF16, base, n); break;                          \
  }

/* ================================================================ scalar === */

/* dst[begin, end) = f32(ft) - f32(base), widening with distac_convert (exact)
 * in chunks that stay in L1. Also the SIMD variants' head and tail. */
static void tv_sub_range(float *dst, distac_dtype ft_type, const void *ft,
                         distac_dtype base_type, const void *base, int64_t begin, int64_t end) {
  float a[256], b[256];
  for (int64_t i = begin; i < end; i += 256) {
    int64_t len = end - i < 256 ? end - i : 256;
    distac_convert_scalar(DISTAC_F32, a, ft_type, tv_at(ft_type, ft, i), len);
    distac_convert_scalar(DISTAC_F32, b, base_type, tv_at(base_type, base, i), len);
    for (int64_t k = 0; k < len; k++) dst[i + k] = a[k] - b[k];
  }
}

static int tv_sub_check(const float *dst, distac_dtype ft_type, const void *ft,
                        distac_dtype base_type, const void *base, int64_t n) {
  if (!tv_dtype_ok(ft_type) || !tv_dtype_ok(base_type) || n < 0) return DISTAC_EINVAL;
  if (n > 0 && (!dst || !ft || !base)) return DISTAC_EINVAL;
  return DISTAC_OK;
}

int distac_sub_scalar(float *dst, distac_dtype ft_type, const void *ft, distac_dtype base_type,
                      const void *base, int64_t n) {
  int rc = tv_sub_check(dst, ft_type, ft, base_type, base, n);
  if (rc == DISTAC_OK) tv_sub_range(dst, ft_type, ft, base_type, base, 0, n);
  return rc;
}

/* Folds the 16 lanes pairwise: l[j] += l[j + w] for w = 8, 4, 2, 1. */
static double tv_fold16(double l[16]) {
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; j++) l[j] += l[j + w];
  return l[0];
}

/* Lanes 16*(len/16) .. len-1 of a block, the tail every ISA adds the same way. */
static double tv_sumsq_finish(double l[16], const float *x, int64_t i, int64_t len) {
  for (; i < len; i++) l[i & 15] += (double)x[i] * x[i];
  return tv_fold16(l);
}

static double tv_sumsq_block_scalar(const float *x, int64_t len) {
  double l[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= len; i += 16)
    for (int j = 0; j < 16; j++) l[j] += (double)x[i + j] * x[i + j];
  return tv_sumsq_finish(l, x, i, len);
}

typedef double (*tv_block_fn)(const float *x, int64_t len);

typedef struct {
  const float *x;
  int64_t n, blocks;
  double *partial;
  tv_block_fn block;
  atomic_llong next; /* the next unclaimed block */
} tv_sumsq_ctx;

/* Elements of block b of an n-element vector. */
static int64_t tv_block_len(int64_t n, int64_t b) {
  int64_t left = n - b * DISTAC_SUMSQ_BLOCK;
  return left < DISTAC_SUMSQ_BLOCK ? left : DISTAC_SUMSQ_BLOCK;
}

/* One worker: claims blocks until none are left. Claiming instead of a fixed
 * split keeps a descheduled thread from holding up the rest; which thread
 * sums a block does not change its partial. */
static void tv_sumsq_worker(void *p, int64_t begin, int64_t end) {
  tv_sumsq_ctx *c = (tv_sumsq_ctx *)p;
  (void)begin, (void)end;
  for (int64_t b; (b = atomic_fetch_add(&c->next, 1)) < c->blocks;)
    c->partial[b] = c->block(c->x + b * DISTAC_SUMSQ_BLOCK, tv_block_len(c->n, b));
}

/* The block scheme of the header: workers fill one partial per block, then
 * the partials are added in block order on the calling thread. Small inputs
 * skip the thread machinery (and its CPU count lookup) altogether. */
static int tv_sumsq(tv_block_fn block, const float *x, int64_t n, double *out, int threads) {
  if (!out || n < 0 || (n > 0 && !x)) return DISTAC_EINVAL;
  int64_t blocks = (n + DISTAC_SUMSQ_BLOCK - 1) / DISTAC_SUMSQ_BLOCK;
  int workers = 1;
  if (blocks >= 2 * TV_SUMSQ_GRAIN) workers = distac_threads_for(threads, blocks, TV_SUMSQ_GRAIN);
  double *partial = workers > 1 ? (double *)malloc((size_t)blocks * sizeof(double)) : NULL;
  double sum = 0;
  if (!partial) { /* one worker, or no room for the partials: the same additions, serially */
    for (int64_t b = 0; b < blocks; b++)
      sum += block(x + b * DISTAC_SUMSQ_BLOCK, tv_block_len(n, b));
  } else {
    tv_sumsq_ctx ctx = {x, n, blocks, partial, block, 0};
    distac_parallel_for(workers, workers, 1, tv_sumsq_worker, &ctx);
    for (int64_t b = 0; b < blocks; b++) sum += partial[b];
    free(partial);
  }
  *out = sum;
  return DISTAC_OK;
}

int distac_scale_scalar(float *x, int64_t n, float a) {
  if (n < 0 || (n > 0 && !x)) return DISTAC_EINVAL;
  for (int64_t i = 0; i < n; i++) x[i] *= a;
  return DISTAC_OK;
}

static int tv_axpy_check(int64_t n, const float *x, const float *y) {
  return n < 0 || (n > 0 && (!x || !y)) ? DISTAC_EINVAL : DISTAC_OK;
}

int distac_axpy_scalar(int64_t n, float a, const float *x, float *y) {
  int rc = tv_axpy_check(n, x, y);
  if (rc != DISTAC_OK) return rc;
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
  return DISTAC_OK;
}

static int tv_wsum_check(const float *dst, int32_t count, const float *const *xs, const float *w,
                         int64_t n) {
  if (count < 1 || n < 0) return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  if (!dst || !xs || !w) return DISTAC_EINVAL;
  for (int32_t t = 0; t < count; t++)
    if (!xs[t]) return DISTAC_EINVAL;
  return DISTAC_OK;
}

int distac_wsum_scalar(float *dst, int32_t count, const float *const *xs, const float *w,
                       int64_t n) {
  int rc = tv_wsum_check(dst, count, xs, w, n);
  if (rc != DISTAC_OK) return rc;
  for (int64_t i = 0; i < n; i++) {
    float acc = w[0] * xs[0][i];
    for (int32_t t = 1; t < count; t++) acc += w[t] * xs[t][i];
    dst[i] = acc;
  }
  return DISTAC_OK;
}

#if DISTAC_HAVE_X86 /* ------------------------- the SIMD variants (x86) --- */

/* Elements to write before dst reaches a 64-byte boundary when an output of n
 * floats, from an op moving `bytes` per element, should be streamed, else -1. */
static int64_t tv_stream_head(const float *dst, int64_t n, int64_t bytes) {
  uintptr_t p = (uintptr_t)dst;
  if (n < TV_STREAM_BYTES / bytes || p % 4) return -1;
  int64_t head = (int64_t)((64 - p % 64) % 64 / 4);
  return head < n ? head : n;
}

/* Bytes sub moves per element. */
static int64_t tv_sub_bytes(distac_dtype ft_type, distac_dtype base_type) {
  return (int64_t)(4 + tv_size(ft_type) + tv_size(base_type));
}

/* ================================================================== AVX2 === */

TV_INLINE DISTAC_TARGET_AVX2 __m256 tv_load8_avx2(distac_dtype t, const void *p, int64_t i) {
  const uint16_t *h = (const uint16_t *)p + i;
  switch (t) {
    case DISTAC_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
    case DISTAC_BF16: /* bf16 is the top half of an f32 */
      return _mm256_castsi256_ps(
          _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)h)), 16));
    default: return _mm256_loadu_ps((const float *)p + i);
  }
}

/* Prefetch hints for both inputs TV_PREFETCH_BYTES past element i (a prefetch
 * never faults; the address is formed as an integer so running past the end
 * is defined). The inputs of a merge are mapped checkpoint pages that nothing
 * has read yet, and the hardware prefetchers stop at every 4 KiB page. */
#define TV_PREFETCH_BYTES 2048

static inline void tv_prefetch2(distac_dtype ft_type, const void *ft, distac_dtype base_type,
                                const void *base, int64_t i) {
  _mm_prefetch((const char *)((uintptr_t)tv_at(ft_type, ft, i) + TV_PREFETCH_BYTES), _MM_HINT_T0);
  _mm_prefetch((const char *)((uintptr_t)tv_at(base_type, base, i) + TV_PREFETCH_BYTES),
               _MM_HINT_T0);
}

TV_INLINE DISTAC_TARGET_AVX2 void tv_sub_run_avx2(float *dst, distac_dtype ft_type, const void *ft,
                                                  distac_dtype base_type, const void *base,
                                                  int64_t n) {
  int64_t head = tv_stream_head(dst, n, tv_sub_bytes(ft_type, base_type)), i;
  if (head >= 0) {
    tv_sub_range(dst, ft_type, ft, base_type, base, 0, head);
    for (i = head; i + 8 <= n; i += 8)
      _mm256_stream_ps(dst + i, _mm256_sub_ps(tv_load8_avx2(ft_type, ft, i),
                                              tv_load8_avx2(base_type, base, i)));
    _mm_sfence(); /* streamed stores are weakly ordered: fence before returning */
  } else {
    for (i = 0; i + 16 <= n; i += 16) {
      tv_prefetch2(ft_type, ft, base_type, base, i);
      _mm256_storeu_ps(dst + i, _mm256_sub_ps(tv_load8_avx2(ft_type, ft, i),
                                              tv_load8_avx2(base_type, base, i)));
      _mm256_storeu_ps(dst + i + 8, _mm256_sub_ps(tv_load8_avx2(ft_type, ft, i + 8),
                                                  tv_load8_avx2(base_type, base, i + 8)));
    }
  }
  tv_sub_range(dst, ft_type, ft, base_type, base, i, n);
}

/* Lanes 0-3, 4-7, 8-11, 12-15 of each 16 elements go to acc0..acc3. The
 * square of a widened float is exact in float64 (24-bit significands give a
 * 48-bit product), so fma(d, d, acc) rounds once, exactly like acc + d*d:
 * the same bits as the scalar loop, one instruction less per vector (about
 * 10% more from L2, where a merge's chunks are summed). */
DISTAC_TARGET_AVX2 static double tv_sumsq_block_avx2(const float *x, int64_t len) {
  __m256d acc0 = _mm256_setzero_pd(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  int64_t i = 0;
  for (; i + 16 <= len; i += 16) {
    __m256d d0 = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    __m256d d1 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
    __m256d d2 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 8));
    __m256d d3 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 12));
    acc0 = _mm256_fmadd_pd(d0, d0, acc0);
    acc1 = _mm256_fmadd_pd(d1, d1, acc1);
    acc2 = _mm256_fmadd_pd(d2, d2, acc2);
    acc3 = _mm256_fmadd_pd(d3, d3, acc3);
  }
  double l[16];
  _mm256_storeu_pd(l, acc0), _mm256_storeu_pd(l + 4, acc1);
  _mm256_storeu_pd(l + 8, acc2), _mm256_storeu_pd(l + 12, acc3);
  return tv_sumsq_finish(l, x, i, len);
}

DISTAC_TARGET_AVX2 int distac_scale_avx2(float *x, int64_t n, float a) {
  if (n < 0 || (n > 0 && !x)) return DISTAC_EINVAL;
  __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), va));
  if (i < n) {
    __m256i m = simd_mask_avx2(n - i);
    _mm256_maskstore_ps(x + i, m, _mm256_mul_ps(_mm256_maskload_ps(x + i, m), va));
  }
  return DISTAC_OK;
}

DISTAC_TARGET_AVX2 int distac_axpy_avx2(int64_t n, float a, const float *x, float *y) {
  int rc = tv_axpy_check(n, x, y);
  if (rc != DISTAC_OK) return rc;
  __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  if (i < n) {
    __m256i m = simd_mask_avx2(n - i);
    __m256 r = _mm256_fmadd_ps(va, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m));
    _mm256_maskstore_ps(y + i, m, r);
  }
  return DISTAC_OK;
}

/* =============================================================== AVX-512 === */

/* 16 elements of dtype t as f32 under mask m (masked-off lanes read nothing). */
TV_INLINE DISTAC_TARGET_AVX512 __m512 tv_load16_avx512(distac_dtype t, const void *p, int64_t i,
                                                       __mmask16 m) {
  const uint16_t *h = (const uint16_t *)p + i;
  switch (t) {
    case DISTAC_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h));
    case DISTAC_BF16:
      return _mm512_castsi512_ps(
          _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, h)), 16));
    default: return _mm512_maskz_loadu_ps(m, (const float *)p + i);
  }
}

TV_INLINE __mmask16 tv_mask16(int64_t r) { return r >= 16 ? 0xffff : (__mmask16)((1u << r) - 1); }

TV_INLINE DISTAC_TARGET_AVX512 __m512 tv_sub16_avx512(distac_dtype ft_type, const void *ft,
                                                      distac_dtype base_type, const void *base,
                                                      int64_t i, __mmask16 m) {
  return _mm512_sub_ps(tv_load16_avx512(ft_type, ft, i, m),
                       tv_load16_avx512(base_type, base, i, m));
}

TV_INLINE DISTAC_TARGET_AVX512 void tv_sub_run_avx512(float *dst, distac_dtype ft_type,
                                                      const void *ft, distac_dtype base_type,
                                                      const void *base, int64_t n) {
  int64_t head = tv_stream_head(dst, n, tv_sub_bytes(ft_type, base_type)), i = 0;
  if (head >= 0) {
    __mmask16 m = tv_mask16(head); /* head < 16 */
    _mm512_mask_storeu_ps(dst, m, tv_sub16_avx512(ft_type, ft, base_type, base, 0, m));
    for (i = head; i + 16 <= n; i += 16)
      _mm512_stream_ps(dst + i, tv_sub16_avx512(ft_type, ft, base_type, base, i, 0xffff));
    _mm_sfence();
  }
  for (; head < 0 && i + 16 <= n; i += 16) { /* cached output */
    tv_prefetch2(ft_type, ft, base_type, base, i);
    _mm512_storeu_ps(dst + i, tv_sub16_avx512(ft_type, ft, base_type, base, i, 0xffff));
  }
  for (; i < n; i += 16) {
    __mmask16 m = tv_mask16(n - i);
    _mm512_mask_storeu_ps(dst + i, m, tv_sub16_avx512(ft_type, ft, base_type, base, i, m));
  }
}

/* Lanes 0-7 and 8-15 of each 16 elements go to acc0 and acc1 (FMA as in
 * tv_sumsq_block_avx2: the same bits). */
DISTAC_TARGET_AVX512 static double tv_sumsq_block_avx512(const float *x, int64_t len) {
  __m512d acc0 = _mm512_setzero_pd(), acc1 = acc0;
  int64_t i = 0;
  for (; i + 16 <= len; i += 16) {
    __m512d d0 = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
    __m512d d1 = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8));
    acc0 = _mm512_fmadd_pd(d0, d0, acc0);
    acc1 = _mm512_fmadd_pd(d1, d1, acc1);
  }
  double l[16];
  _mm512_storeu_pd(l, acc0), _mm512_storeu_pd(l + 8, acc1);
  return tv_sumsq_finish(l, x, i, len);
}

DISTAC_TARGET_AVX512 int distac_scale_avx512(float *x, int64_t n, float a) {
  if (n < 0 || (n > 0 && !x)) return DISTAC_EINVAL;
  __m512 va = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tv_mask16(n - i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), va));
  }
  return DISTAC_OK;
}

DISTAC_TARGET_AVX512 int distac_axpy_avx512(int64_t n, float a, const float *x, float *y) {
  int rc = tv_axpy_check(n, x, y);
  if (rc != DISTAC_OK) return rc;
  __m512 va = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    __mmask16 m = tv_mask16(n - i);
    __m512 xv = _mm512_maskz_loadu_ps(m, x + i), yv = _mm512_maskz_loadu_ps(m, y + i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, xv, yv));
  }
  return DISTAC_OK;
}

/* ========================================================= AVX2, AVX-512 === */

#define SIMD_TEMPLATE "taskvec_simd.h"
#include "simd_each.h"
#endif /* DISTAC_HAVE_X86 */

#include "taskvec_accum.h"

/* ============================================================== dispatch === */

DISTAC_DEFINE_DISPATCH(sub,
                       (float *dst, distac_dtype ft_type, const void *ft, distac_dtype base_type,
                        const void *base, int64_t n),
                       (dst, ft_type, ft, base_type, base, n))
#define TV_SUMSQ_CALL(isa) tv_sumsq(tv_sumsq_block_##isa, x, n, out, threads)
DISTAC_DEFINE_OP(sumsq, (const float *x, int64_t n, double *out, int threads), (x, n, out, threads),
                 TV_SUMSQ_CALL)
DISTAC_DEFINE_DISPATCH(scale, (float *x, int64_t n, float a), (x, n, a))
DISTAC_DEFINE_DISPATCH(axpy, (int64_t n, float a, const float *x, float *y), (n, a, x, y))
DISTAC_DEFINE_DISPATCH(wsum,
                       (float *dst, int32_t count, const float *const *xs, const float *w,
                        int64_t n),
                       (dst, count, xs, w, n))
DISTAC_DEFINE_DISPATCH(sub_accum,
                       (float *tau, float *acc, distac_dtype ft_type, const void *ft,
                        distac_dtype base_type, const void *base, int64_t n, float w, int first,
                        double *sumsq),
                       (tau, acc, ft_type, ft, base_type, base, n, w, first, sumsq))
