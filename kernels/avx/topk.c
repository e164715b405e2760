/*
 * topk.c — the counting kernels behind a global top-k magnitude threshold
 * over many tensors, without sorting or copying (ffi/topk.go and the
 * streaming TIES merge select with them):
 *
 *   abs_histogram  one radix digit of |x|: hist[digit(u)] += 1 where the
 *                  higher digits of u equal prefix (u = bits(x) & 0x7fffffff)
 *   abs_window     hist[u - lo] += 1 inside a predicted window of u, and the
 *                  count of those above it
 *
 * Data pointers may be NULL only when n == 0. Every variant gives the same
 * counts as the scalar one.
 */
#include <stdlib.h>
#include <string.h>

#include "simd_map.h" /* internal.h; the x86 intrinsics on x86 */

/* ---------------------------------------------------------- abs_histogram */

/* Full passes (every element counted) spread their counts over TOPK_SUBS
 * uint32 sub-histograms, element j of each group of four going to table j:
 * task vectors crowd into a few bins, and four counters per bin keep
 * back-to-back increments of one bin from waiting on each other's store.
 * Counts are flushed into hist every TOPK_CHUNK elements, before a uint32
 * could overflow. Inputs with fewer elements than sub-histogram counters
 * count straight into hist: clearing and adding up the counters would cost
 * more than the sub-histograms save (about 30 us at 15 bits). */
#define TOPK_SUBS 4
#define TOPK_CHUNK ((int64_t)1 << 30)

typedef struct {
  int32_t shift; /* digit = (u >> shift) & mask */
  uint32_t mask;
  int full;      /* every element matches the prefix */
  int32_t high;  /* else: u >> high must equal prefix */
  uint32_t prefix;
} topk_digit;

/* Full pass: counts every digit of x[0, n) into the sub-histograms s[0..3]. */
typedef void (*topk_count_fn)(const float *x, int64_t n, const topk_digit *d, uint32_t *const *s);
/* Any pass, counting the elements that match the prefix straight into hist. */
typedef void (*topk_match_fn)(const float *x, int64_t n, const topk_digit *d, uint64_t *hist);

static uint32_t topk_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u & 0x7fffffffu;
}

static void topk_count_scalar(const float *x, int64_t n, const topk_digit *d,
                              uint32_t *const *s) {
  for (int64_t i = 0; i < n; i++) s[i & 3][(topk_bits(x[i]) >> d->shift) & d->mask]++;
}

static void topk_match_scalar(const float *x, int64_t n, const topk_digit *d, uint64_t *hist) {
  for (int64_t i = 0; i < n; i++) {
    uint32_t u = topk_bits(x[i]);
    if (d->full || (u >> d->high) == d->prefix) hist[(u >> d->shift) & d->mask]++;
  }
}

/* Checks arguments and works out the digit; returns 0 on bad arguments. */
static int topk_digit_init(topk_digit *d, const float *x, int64_t n, int32_t shift, int32_t bits,
                           uint32_t prefix, const uint64_t *hist) {
  if (n < 0 || (!x && n > 0) || !hist || bits < 1 || bits > 16 || shift < 0 || shift > 31)
    return 0;
  d->shift = shift;
  d->mask = (1u << bits) - 1;
  d->high = shift + bits;
  d->prefix = prefix;
  /* Bit 31 of u is always 0, so u >> 31 is 0: a pass ending at bit 31 with
   * prefix 0 counts everything (and with any other prefix, nothing). */
  d->full = d->high >= 32 || (d->high == 31 && prefix == 0);
  return 1;
}

static int topk_abs_histogram(const float *x, int64_t n, int32_t shift, int32_t bits,
                              uint32_t prefix, uint64_t *hist, topk_count_fn count,
                              topk_match_fn match) {
  topk_digit d;
  if (!topk_digit_init(&d, x, n, shift, bits, prefix, hist)) return DISTAC_EINVAL;
  /* u < 2^31, so u >> high < 2^(31 - high): a larger prefix matches nothing. */
  if (n == 0 || (!d.full && (prefix >> (31 - d.high)) != 0)) return DISTAC_OK;
  const size_t nb = (size_t)1 << bits;
  uint32_t *sub =
      d.full && n >= (int64_t)(TOPK_SUBS * nb) ? malloc(TOPK_SUBS * nb * sizeof *sub) : NULL;
  if (!sub) { /* filtered pass, short input, or no memory: count into hist */
    match(x, n, &d, hist);
    return DISTAC_OK;
  }
  uint32_t *const s[TOPK_SUBS] = {sub, sub + nb, sub + 2 * nb, sub + 3 * nb};
  for (int64_t c = 0; c < n; c += TOPK_CHUNK) {
    memset(sub, 0, TOPK_SUBS * nb * sizeof *sub);
    count(x + c, n - c < TOPK_CHUNK ? n - c : TOPK_CHUNK, &d, s);
    for (size_t b = 0; b < nb; b++)
      hist[b] += (uint64_t)s[0][b] + s[1][b] + s[2][b] + s[3][b];
  }
  free(sub);
  return DISTAC_OK;
}

#if DISTAC_HAVE_X86
/* Eight digits in a vector -> eight increments, two digits per 64-bit extract. */
DISTAC_TARGET_AVX2 static inline void topk_add8(__m256i dig, uint32_t *const *s) {
  __m128i lo = _mm256_castsi256_si128(dig), hi = _mm256_extracti128_si256(dig, 1);
  uint64_t a = (uint64_t)_mm_cvtsi128_si64(lo), b = (uint64_t)_mm_extract_epi64(lo, 1);
  uint64_t c = (uint64_t)_mm_cvtsi128_si64(hi), e = (uint64_t)_mm_extract_epi64(hi, 1);
  s[0][(uint32_t)a]++, s[1][a >> 32]++, s[2][(uint32_t)b]++, s[3][b >> 32]++;
  s[0][(uint32_t)c]++, s[1][c >> 32]++, s[2][(uint32_t)e]++, s[3][e >> 32]++;
}
#endif

#define SIMD_TEMPLATE "topk_simd.h"
#include "simd_each.h"

#define TOPK_HIST_CALL(isa) \
  topk_abs_histogram(x, n, shift, bits, prefix, hist, topk_count_##isa, topk_match_##isa)
DISTAC_DEFINE_OP(abs_histogram,
                 (const float *x, int64_t n, int32_t shift, int32_t bits, uint32_t prefix,
                  uint64_t *hist),
                 (x, n, shift, bits, prefix, hist), TOPK_HIST_CALL)

/* ------------------------------------------------------------- abs_window
 * One pass of a top-k select whose threshold was predicted from a sample:
 * most elements fall outside the predicted window, so the SIMD loops test
 * 32 (AVX2) or 64 (AVX-512) at a time and count those above the window in
 * vector lanes. The few inside are not counted on the spot: their offsets
 * u - lo are queued in a small buffer, and each full buffer is added to the
 * histogram with the bins prefetched a few entries ahead. A window's
 * histogram (up to a few MiB per task) lives in L3, so an increment done
 * where it is found waits for its line; queued, the misses overlap. With 1%
 * of the entries inside a 2 MiB histogram per task (8 tasks, data in L2,
 * Xeon, both built -O3): AVX-512 24 -> 30 GB/s, AVX2 16.5 -> 18. */

#define TOPK_QUEUE 512    /* queued offsets; a multiple of 64 */
#define TOPK_AHEAD 16     /* prefetch distance, in queued offsets */

typedef struct {
  uint32_t lo, span;
  uint64_t *hist;
  uint32_t queue[TOPK_QUEUE];
  int len;
} topk_window;

/* Adds the queued offsets to the histogram and empties the queue. */
static void topk_window_flush(topk_window *w) {
  int n = w->len;
  for (int k = 0; k < n; k++) {
    if (k + TOPK_AHEAD < n) __builtin_prefetch(&w->hist[w->queue[k + TOPK_AHEAD]], 1);
    w->hist[w->queue[k]]++;
  }
  w->len = 0;
}

/* Elements of x[0, n) above the window; those inside are queued in w. */
static uint64_t topk_window_scalar(const float *x, int64_t n, topk_window *w) {
  uint64_t above = 0;
  for (int64_t i = 0; i < n; i++) {
    uint32_t d = topk_bits(x[i]) - w->lo;
    if (d < w->span) {
      if (w->len == TOPK_QUEUE) topk_window_flush(w);
      w->queue[w->len++] = d;
    } else {
      above += d < 0x80000000u; /* outside, and not below lo (u - lo did not wrap) */
    }
  }
  return above;
}

typedef uint64_t (*topk_window_fn)(const float *x, int64_t n, topk_window *w);

static int topk_abs_window(const float *x, int64_t n, uint32_t lo, uint32_t span, uint64_t *hist,
                           uint64_t *above, topk_window_fn fn) {
  if (n < 0 || (!x && n > 0) || !hist || !above || span < 1 ||
      (uint64_t)lo + span > ((uint64_t)1 << 31))
    return DISTAC_EINVAL;
  topk_window w = {.lo = lo, .span = span, .hist = hist, .len = 0};
  uint64_t up = 0;
  /* Lane counters are int32: give each call of fn fewer than 2^31 vectors. */
  for (int64_t c = 0; c < n; c += TOPK_CHUNK) up += fn(x + c, n - c < TOPK_CHUNK ? n - c : TOPK_CHUNK, &w);
  topk_window_flush(&w);
  *above += up;
  return DISTAC_OK;
}

#if DISTAC_HAVE_X86
/* AVX2 has no unsigned compare: u - lo < span is min_epu32(d, span - 1) == d;
 * u >= lo + span is a signed u > lo + span - 1 (both below 2^31). */
DISTAC_TARGET_AVX2 static uint64_t topk_window_avx2(const float *x, int64_t n, topk_window *w) {
  const __m256i abs = _mm256_set1_epi32(0x7fffffff), lo = _mm256_set1_epi32((int)w->lo);
  const __m256i last = _mm256_set1_epi32((int)(w->span - 1));
  const __m256i top = _mm256_set1_epi32((int)(w->lo + w->span - 1));
  __m256i up = _mm256_setzero_si256(); /* minus the count above, per lane */
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint32_t hit = 0;
    for (int q = 0; q < 4; q++) {
      __m256i u = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i + 8 * q)), abs);
      __m256i d = _mm256_sub_epi32(u, lo);
      up = _mm256_add_epi32(up, _mm256_cmpgt_epi32(u, top));
      __m256i in = _mm256_cmpeq_epi32(_mm256_min_epu32(d, last), d);
      hit |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(in)) << (8 * q);
    }
    if (!hit) continue;
    if (w->len > TOPK_QUEUE - 32) topk_window_flush(w);
    for (; hit; hit &= hit - 1) w->queue[w->len++] = topk_bits(x[i + __builtin_ctz(hit)]) - w->lo;
  }
  int32_t lanes[8];
  _mm256_storeu_si256((__m256i *)lanes, up);
  uint64_t above = 0;
  for (int q = 0; q < 8; q++) above += (uint64_t)(-(int64_t)lanes[q]);
  return above + topk_window_scalar(x + i, n - i, w);
}

/* AVX-512 counts the entries above the window in vector lanes and queues
 * those inside by compressing them to the front of a register and storing
 * all 16 lanes (the queue keeps 64 spare slots; the compress-to-memory form
 * is much slower on Intel cores), skipping that when none is inside, as for
 * all but a few percent of the vectors: 39 -> 54 GB/s with 0.06% inside,
 * 36 -> 46 with 0.3%, against a popcount per vector and an unconditional
 * store. */
DISTAC_TARGET_AVX512 static uint64_t topk_window_avx512(const float *x, int64_t n,
                                                        topk_window *w) {
  const __m512i abs = _mm512_set1_epi32(0x7fffffff), lo = _mm512_set1_epi32((int)w->lo);
  const __m512i span = _mm512_set1_epi32((int)w->span);
  const __m512i top = _mm512_set1_epi32((int)(w->lo + w->span - 1)), one = _mm512_set1_epi32(1);
  __m512i up = _mm512_setzero_si512(); /* the count above, per lane */
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    if (w->len > TOPK_QUEUE - 64) topk_window_flush(w);
    for (int q = 0; q < 4; q++) {
      __m512i u = _mm512_and_si512(_mm512_loadu_si512(x + i + 16 * q), abs);
      __m512i d = _mm512_sub_epi32(u, lo);
      __mmask16 in = _mm512_cmplt_epu32_mask(d, span);
      up = _mm512_mask_add_epi32(up, _mm512_cmpgt_epu32_mask(u, top), up, one);
      if (in) { /* rare: the window holds a few percent of the entries at most */
        _mm512_storeu_si512(w->queue + w->len, _mm512_maskz_compress_epi32(in, d));
        w->len += __builtin_popcount(in);
      }
    }
  }
  uint64_t above = (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(
      _mm512_cvtepu32_epi64(_mm512_castsi512_si256(up)),
      _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(up, 1))));
  return above + topk_window_scalar(x + i, n - i, w);
}

#endif

#define TOPK_WINDOW_CALL(isa) topk_abs_window(x, n, lo, span, hist, above, topk_window_##isa)
DISTAC_DEFINE_OP(abs_window,
                 (const float *x, int64_t n, uint32_t lo, uint32_t span, uint64_t *hist,
                  uint64_t *above),
                 (x, n, lo, span, hist, above), TOPK_WINDOW_CALL)
