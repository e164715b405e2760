/*
 * gemm_bf16.c — GEMM on bf16 operands with fp32 accumulation:
 *   C = alpha * bf16(op(A)) * bf16(op(B)) + beta * C,
 * A, B and C fp32 in memory (the layout and arguments of distac_sgemm), each
 * operand element rounded to bfloat16 (nearest even) as it is read. The
 * product of two bf16 values is exact in fp32 (8-bit significands), so the
 * only rounding after the operands' is that of the fp32 sums. This is the
 * matmul of a bf16 mixed-precision training step: fp32 master weights, bf16
 * GEMM operands, fp32 accumulation and everything else in fp32.
 *
 * scalar: the portable reference: gemm_scalar's loops on rounded operands.
 * avx2, and avx512 on a CPU without AVX512_BF16: the same numbers the slow
 *   way: the rounded operands are written out as fp32 and multiplied by the
 *   ISA's fp32 GEMM. No faster than fp32; it gives the mode on every CPU.
 * avx512 with AVX512_BF16 (Cooper Lake, Sapphire Rapids, Zen 4, Zen 5):
 *   vdpbf16ps adds a[2q]*b[2q] + a[2q+1]*b[2q+1] into each fp32 lane, 32
 *   multiply-adds per instruction against an FMA's 16.
 *   1. op(A) is converted into bf16 rows of k2 = k rounded up to even (the
 *      pad and rows up to a multiple of MR are zero); op(B) into NR-wide
 *      panels of pairs: dword j of pair q is op(B)[2q][j] (low half) and
 *      op(B)[2q+1][j]. The threads claim the conversion units from a counter,
 *      then C tiles (as in gemm.c), so one slowed by the machine takes fewer.
 *   2. Per C tile: KCP-pair depth blocks -> MC rows -> NR panels -> MR rows
 *      -> micro-kernel: 12 x 32 fp32 accumulators; each pair step loads the
 *      panel's 32 dwords of B and broadcasts row r's pair of A.
 *   vcvtne2ps2bf16 and vdpbf16ps treat subnormal inputs as zero and flush
 *   subnormal results (bf16 subnormals are below 1.2e-38), so this path can
 *   differ from the others there; each element of C is summed in the same
 *   order whatever the thread count.
 * Scratch (the converted operands: half the bytes of op(A) and op(B)) is
 * allocated before C is touched: ENOMEM writes nothing.
 */
#define _POSIX_C_SOURCE 200809L /* sched_yield */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "gemm_common.h" /* the problem, its checks, the entry points' parameters */

static inline float bgemm_round(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  u = (uint32_t)distac_bf16_bits(u) << 16;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* op(A)[i][p] and op(B)[p][j], rounded. */
static inline float bgemm_a(const gemm_problem *g, int64_t i, int64_t p) {
  return bgemm_round(g->trans_a ? g->a[p * g->lda + i] : g->a[i * g->lda + p]);
}
static inline float bgemm_b(const gemm_problem *g, int64_t p, int64_t j) {
  return bgemm_round(g->trans_b ? g->b[j * g->ldb + p] : g->b[p * g->ldb + j]);
}

/* --------------------------------------------------------------- scalar --- */

/* Dot products in p order, accumulated in float. */
static void bgemm_scalar(const gemm_problem *g) {
  gemm_scale_c(g, 0, g->m, 0, g->n);
  if (!gemm_reads_ab(g)) return;
  for (int64_t i = 0; i < g->m; i++)
    for (int64_t j = 0; j < g->n; j++) {
      float dot = 0.0f;
      for (int64_t p = 0; p < g->k; p++) dot += bgemm_a(g, i, p) * bgemm_b(g, p, j);
      g->c[i * g->ldc + j] += g->alpha * dot;
    }
}

/* ------------------------------------------------------------- emulated --- */

#if DISTAC_HAVE_X86
/* The rounded copy of a rows x cols matrix (leading dimension ld) into a
 * dense one, rows in parallel. */
typedef struct {
  const float *src;
  float *dst;
  int64_t cols, ld;
} bgemm_copy;

static void bgemm_copy_rows(void *ctx, int64_t begin, int64_t end) {
  const bgemm_copy *cp = (const bgemm_copy *)ctx;
  for (int64_t r = begin; r < end; r++)
    for (int64_t j = 0; j < cp->cols; j++)
      cp->dst[r * cp->cols + j] = bgemm_round(cp->src[r * cp->ld + j]);
}

static void bgemm_round_copy(const float *src, int64_t rows, int64_t cols, int64_t ld, float *dst,
                             int threads) {
  bgemm_copy cp = {.src = src, .dst = dst, .cols = cols, .ld = ld};
  int64_t grain = gemm_max1(((int64_t)1 << 16) / gemm_max1(cols));
  distac_parallel_for(distac_threads_for(threads, rows, grain), rows, grain, bgemm_copy_rows, &cp);
}

/* A checked problem that reads A and B, on the fp32 GEMM of isa. */
static int bgemm_emulated(distac_isa isa, const gemm_problem *g, int threads) {
  int64_t ar = g->trans_a ? g->k : g->m, ac = g->trans_a ? g->m : g->k; /* A as stored */
  int64_t br = g->trans_b ? g->n : g->k, bc = g->trans_b ? g->k : g->n;
  float *a = malloc((size_t)(ar * ac + br * bc) * sizeof(float));
  if (!a) return DISTAC_ENOMEM;
  float *b = a + ar * ac;
  bgemm_round_copy(g->a, ar, ac, g->lda, a, threads);
  bgemm_round_copy(g->b, br, bc, g->ldb, b, threads);
  int rc = distac_sgemm_isa(isa, g->trans_a, g->trans_b, g->m, g->n, g->k, g->alpha, a, ac, b, bc,
                            g->beta, g->c, g->ldc, threads);
  free(a);
  return rc;
}

/* ---------------------------------------------------------- AVX512_BF16 --- */

#define DISTAC_TARGET_BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))

/* 12 x 32: 24 accumulators hide vdpbf16ps's latency, and 32 columns fit
 * the widths of ViTs (64, 192, 768, 3072) without a part-empty panel. */
#define BGEMM_MR 12
#define BGEMM_NR 32
#define BGEMM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

static int bgemm_native(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
}

typedef struct {
  const gemm_problem *g;
  int64_t k2, kp;       /* k rounded up to even; pairs (k2 / 2) */
  int64_t mp, np;       /* m up to MR, n up to NR */
  int64_t kcp, mc;      /* cache blocks: pairs, rows */
  uint16_t *ab;         /* mp x k2 */
  uint32_t *bp;         /* np / NR panels of kp x NR */
  int64_t a_units, units; /* 16-row groups of A, then B's units (bgemm_pack_b) */
  int64_t rtiles, ctiles;
  atomic_llong next_unit, converted, next_tile;
} bgemm_job;

/* Interleaves the 16 bf16 of lo (elements 0-15 of v) with the 16 of hi
 * (16-31): dword t = (lo[t], hi[t]). */
DISTAC_TARGET_BF16 static inline __m512i bgemm_pairs(__m512 lo, __m512 hi) {
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                       8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

DISTAC_TARGET_BF16 static inline __mmask16 bgemm_mask(int64_t n) {
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* Transposes 16 x 16 dwords in place: r[i] element j becomes r[j] element i. */
DISTAC_TARGET_BF16 static inline void bgemm_transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2)
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]), t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]), r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; i++) {
      t[h + i] = _mm512_shuffle_i32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_i32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
  }
}

/* Rows [i0, i0+16) of op(A) into ab (rows past m zero). Untransposed rows
 * convert 32 floats at a time; transposed A (the weight gradient's dy^T x)
 * converts rows p, p+1 of the stored A into the pairs of 16 rows of op(A),
 * 16 pairs at a time, and a dword transpose makes them rows. */
DISTAC_TARGET_BF16 static void bgemm_convert_a(const bgemm_job *jb, int64_t i0) {
  const gemm_problem *g = jb->g;
  int64_t i1 = gemm_min(i0 + 16, jb->mp), live = gemm_min(i1, g->m);
  if (!g->trans_a) {
    for (int64_t i = i0; i < live; i++) {
      const float *src = g->a + i * g->lda;
      uint16_t *dst = jb->ab + i * jb->k2;
      for (int64_t p = 0; p < jb->k2; p += 32) {
        __mmask16 m0 = bgemm_mask(g->k - p), m1 = bgemm_mask(g->k - p - 16);
        __m512 lo = _mm512_maskz_loadu_ps(m0, src + p), hi = _mm512_maskz_loadu_ps(m1, src + p + 16);
        __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
        int64_t left = jb->k2 - p;
        _mm512_mask_storeu_epi16(dst + p, left >= 32 ? ~(__mmask32)0 : ((__mmask32)1 << left) - 1, v);
      }
    }
  } else if (live > i0) { /* 32 depths x 16 rows: 16 dwords of pairs per row, transposed */
    __mmask16 rows = bgemm_mask(live - i0);
    for (int64_t q0 = 0; q0 < jb->kp; q0 += 16) {
      __m512i r[16];
      for (int64_t q = 0; q < 16; q++) {
        int64_t p = 2 * (q0 + q);
        const float *src = g->a + p * g->lda + i0;
        __m512 lo = p < g->k ? _mm512_maskz_loadu_ps(rows, src) : _mm512_setzero_ps();
        __m512 hi = p + 1 < g->k ? _mm512_maskz_loadu_ps(rows, src + g->lda) : _mm512_setzero_ps();
        r[q] = bgemm_pairs(lo, hi); /* dword t: pair q0+q of row i0+t */
      }
      bgemm_transpose16(r);
      int64_t left = gemm_min(16, jb->kp - q0);
      __mmask16 keep = bgemm_mask(left);
      for (int64_t t = 0; t < live - i0; t++)
        _mm512_mask_storeu_epi32((void *)(jb->ab + (i0 + t) * jb->k2 + 2 * q0), keep, r[t]);
    }
  }
  for (int64_t i = live > i0 ? live : i0; i < i1; i++)
    memset(jb->ab + i * jb->k2, 0, (size_t)jb->k2 * sizeof(uint16_t));
}

/* B conversion unit u into bp, zero past n and k.
 * Transposed B (the forward pass's x W^T): unit u is panel u (columns
 * [u*NR, u*NR+NR) of op(B)); the pair of column j is two adjacent floats of
 * row j of B, so 16 rows convert 16 pairs each into dwords and a 16 x 16
 * dword transpose puts them in pair-major order.
 * Untransposed B: unit u is pairs [16u, 16u+16) of every panel; rows 2q and
 * 2q+1 of B convert 16 columns at a time into interleaved pairs, along the
 * rows (a panel at a time would touch a page of B per pair). */
DISTAC_TARGET_BF16 static void bgemm_pack_b(const bgemm_job *jb, int64_t u) {
  const gemm_problem *g = jb->g;
  if (g->trans_b) {
    uint32_t *out = jb->bp + u * jb->kp * BGEMM_NR;
    for (int64_t v = 0; v < BGEMM_NR / 16; v++) {
      int64_t j = u * BGEMM_NR + 16 * v, live = gemm_min(16, g->n - j);
      for (int64_t q0 = 0; q0 < jb->kp; q0 += 16) {
        __m512i r[16];
        int64_t p = 2 * q0;
        __mmask16 m0 = bgemm_mask(g->k - p), m1 = bgemm_mask(g->k - p - 16);
        for (int64_t l = 0; l < 16; l++) {
          if (l >= live) {
            r[l] = _mm512_setzero_si512();
            continue;
          }
          const float *src = g->b + (j + l) * g->ldb + p;
          r[l] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, src + 16),
                                              _mm512_maskz_loadu_ps(m0, src));
        }
        bgemm_transpose16(r);
        for (int64_t q = 0; q < 16 && q0 + q < jb->kp; q++)
          _mm512_store_si512((void *)(out + (q0 + q) * BGEMM_NR + 16 * v), r[q]);
      }
    }
    return;
  }
  for (int64_t q = 16 * u; q < gemm_min(16 * u + 16, jb->kp); q++) {
    int odd = 2 * q + 1 < g->k;
    const float *row = g->b + 2 * q * g->ldb;
    for (int64_t j = 0; j < jb->np; j += 16) {
      __mmask16 cols = j < g->n ? bgemm_mask(g->n - j) : 0;
      __m512 lo = _mm512_maskz_loadu_ps(cols, row + j), hi = _mm512_setzero_ps();
      if (odd) hi = _mm512_maskz_loadu_ps(cols, row + g->ldb + j);
      uint32_t *out = jb->bp + j / BGEMM_NR * jb->kp * BGEMM_NR + q * BGEMM_NR + j % BGEMM_NR;
      _mm512_store_si512((void *)out, bgemm_pairs(lo, hi));
    }
  }
}

/* The micro-kernel: C[MR x NR] (row stride ldc) = alpha * A.B + beta * C
 * over kcp pairs; row r of A at a + r*lda (dwords, pair q at [q]), B a
 * packed panel (b[q*NR + j]). beta == 0 does not read C. */
#define BGEMM_ACC(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0;
#define BGEMM_ROW(r)                                                     \
  x = (__m512bh)_mm512_set1_epi32((int)a[(r) * lda + q]);               \
  c##r##0 = _mm512_dpbf16_ps(c##r##0, x, b0);                            \
  c##r##1 = _mm512_dpbf16_ps(c##r##1, x, b1);
#define BGEMM_STORE0(r)                                      \
  _mm512_storeu_ps(c + (r) * ldc, _mm512_mul_ps(va, c##r##0)); \
  _mm512_storeu_ps(c + (r) * ldc + 16, _mm512_mul_ps(va, c##r##1));
#define BGEMM_STORE1(r, v)                                                                    \
  _mm512_storeu_ps(c + (r) * ldc + 16 * v,                                                    \
                   _mm512_fmadd_ps(va, c##r##v, _mm512_mul_ps(vb, _mm512_loadu_ps(c + (r) * ldc + 16 * v))));
#define BGEMM_STORE(r) BGEMM_STORE1(r, 0) BGEMM_STORE1(r, 1)

DISTAC_TARGET_BF16 static void bgemm_kernel(int64_t kcp, const uint32_t *a, int64_t lda,
                                            const uint32_t *b, float *c, int64_t ldc, float alpha,
                                            float beta) {
  BGEMM_ROWS(BGEMM_ACC)
  for (int64_t q = 0; q < kcp; q++, b += BGEMM_NR) {
    __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)b);
    __m512bh b1 = (__m512bh)_mm512_load_si512((const void *)(b + 16));
    __m512bh x;
    BGEMM_ROWS(BGEMM_ROW)
  }
  __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
    BGEMM_ROWS(BGEMM_STORE0)
  } else {
    __m512 vb = _mm512_set1_ps(beta);
    BGEMM_ROWS(BGEMM_STORE)
  }
}

/* C rows [i0, i1) x columns [j0, j1) (both multiples of MR, NR but the ends). */
static void bgemm_tile(const bgemm_job *jb, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  const gemm_problem *g = jb->g;
  _Alignas(64) float tile[BGEMM_MR * BGEMM_NR];
  const uint32_t *ab = (const uint32_t *)(const void *)jb->ab;
  for (int64_t pc = 0; pc < jb->kp; pc += jb->kcp) {
    int64_t kc = gemm_min(jb->kcp, jb->kp - pc);
    float beta = pc == 0 ? g->beta : 1.0f; /* later depth blocks accumulate */
    for (int64_t ic = i0; ic < i1; ic += jb->mc) {
      int64_t ie = gemm_min(ic + jb->mc, i1);
      for (int64_t jr = j0; jr < j1; jr += BGEMM_NR) {
        int64_t cols = gemm_min(BGEMM_NR, j1 - jr);
        const uint32_t *panel = jb->bp + jr / BGEMM_NR * jb->kp * BGEMM_NR + pc * BGEMM_NR;
        for (int64_t ir = ic; ir < ie; ir += BGEMM_MR) {
          int64_t rows = gemm_min(BGEMM_MR, ie - ir);
          const uint32_t *arows = ab + ir * jb->kp + pc;
          if (rows == BGEMM_MR && cols == BGEMM_NR) {
            bgemm_kernel(kc, arows, jb->kp, panel, g->c + ir * g->ldc + jr, g->ldc, g->alpha, beta);
          } else {
            bgemm_kernel(kc, arows, jb->kp, panel, tile, BGEMM_NR, 1.0f, 0.0f);
            gemm_store_edge(g, tile, BGEMM_NR, beta, ir, rows, jr, cols);
          }
        }
      }
    }
  }
}

/* One thread's share: conversion units until none are left, a wait until
 * every claimed one is done (a thread only waits for units a running thread
 * has claimed), then C tiles. */
static void bgemm_run_slot(void *ctx, int64_t begin, int64_t end) {
  bgemm_job *jb = (bgemm_job *)ctx;
  const gemm_problem *g = jb->g;
  for (int64_t slot = begin; slot < end; slot++) {
    for (int64_t u; (u = atomic_fetch_add(&jb->next_unit, 1)) < jb->units;) {
      if (u < jb->a_units)
        bgemm_convert_a(jb, 16 * u);
      else
        bgemm_pack_b(jb, u - jb->a_units);
      atomic_fetch_add(&jb->converted, 1); /* seq_cst: publishes the unit */
    }
    for (int64_t spins = 0; atomic_load(&jb->converted) < jb->units;) gemm_backoff(&spins);
    for (int64_t t; (t = atomic_fetch_add(&jb->next_tile, 1)) < jb->rtiles * jb->ctiles;) {
      int64_t ti = t / jb->ctiles, tj = t % jb->ctiles;
      bgemm_tile(jb, gemm_split(g->m, jb->rtiles, BGEMM_MR, ti),
                 gemm_split(g->m, jb->rtiles, BGEMM_MR, ti + 1),
                 gemm_split(g->n, jb->ctiles, BGEMM_NR, tj),
                 gemm_split(g->n, jb->ctiles, BGEMM_NR, tj + 1));
    }
  }
}

/* A checked problem that reads A and B. Cache blocks from the detected
 * caches: a kcp-pair B micro-panel (kcp * 128 bytes) fills half of L1d,
 * the mc x kcp A block a quarter of L2 (48 KiB L1d, 1 MiB L2: 192 pairs,
 * 336 rows). Tiles as in gemm.c: about 8 a thread, rows first. */
static int bgemm_run(const gemm_problem *g, int threads) {
  int64_t l1d, l2;
  distac_cache_sizes(&l1d, &l2);
  bgemm_job jb = {.g = g, .k2 = gemm_round_up(g->k, 2), .mp = gemm_round_up(g->m, BGEMM_MR),
                  .np = gemm_round_up(g->n, BGEMM_NR)};
  jb.kp = jb.k2 / 2;
  jb.kcp = l1d / 2 / (BGEMM_NR * 4);
  jb.kcp = jb.kcp < 64 ? 64 : jb.kcp > 256 ? 256 : jb.kcp;
  jb.mc = l2 / 4 / (jb.kcp * 4) / BGEMM_MR * BGEMM_MR;
  jb.mc = jb.mc < 8 * BGEMM_MR ? 8 * BGEMM_MR : jb.mc > 128 * BGEMM_MR ? 128 * BGEMM_MR : jb.mc;
  size_t abytes = (size_t)gemm_round_up(jb.mp * jb.k2 * 2, 64);
  char *scratch = distac_scratch_get(abytes + (size_t)(jb.np * jb.kp * 4));
  if (!scratch) return DISTAC_ENOMEM;
  jb.ab = (uint16_t *)(void *)scratch, jb.bp = (uint32_t *)(void *)(scratch + abytes);
  jb.a_units = gemm_ceil_div(jb.mp, 16);
  jb.units = jb.a_units + (g->trans_b ? jb.np / BGEMM_NR : gemm_ceil_div(jb.kp, 16));
  int t = gemm_threads(g, threads);
  int64_t min_cols = 4 * BGEMM_NR;
  jb.rtiles = gemm_min(8 * (int64_t)t, gemm_ceil_div(g->m, 2 * BGEMM_MR));
  jb.ctiles = gemm_min(gemm_ceil_div(3 * (int64_t)t, jb.rtiles), gemm_ceil_div(g->n, min_cols));
  if (jb.ctiles < 1) jb.ctiles = 1;
  atomic_init(&jb.next_unit, 0), atomic_init(&jb.converted, 0), atomic_init(&jb.next_tile, 0);
  distac_parallel_for(t, t, 1, bgemm_run_slot, &jb); /* one thread: runs inline */
  distac_scratch_put(scratch);
  return DISTAC_OK;
}
#endif /* DISTAC_HAVE_X86 */

/* ---------------------------------------------------------- entry points --- */

int distac_sgemm_bf16_scalar GEMM_PARAMS {
  (void)threads; /* the reference runs on one thread */
  gemm_problem g = GEMM_PROBLEM;
  int rc = gemm_check(&g);
  if (rc == DISTAC_OK && g.m > 0 && g.n > 0) bgemm_scalar(&g);
  return rc;
}

#if DISTAC_HAVE_X86
/* Checks, handles what reads neither operand, then runs. */
static int bgemm_entry(distac_isa isa, const gemm_problem *g, int threads) {
  int rc = gemm_check(g);
  if (rc != DISTAC_OK || g->m == 0 || g->n == 0) return rc;
  if (!gemm_reads_ab(g)) {
    gemm_scale_c(g, 0, g->m, 0, g->n);
    return DISTAC_OK;
  }
  if (isa == DISTAC_ISA_AVX512 && bgemm_native())
    return bgemm_run(g, threads);
  return bgemm_emulated(isa, g, threads);
}

int distac_sgemm_bf16_avx2 GEMM_PARAMS {
  gemm_problem g = GEMM_PROBLEM;
  return bgemm_entry(DISTAC_ISA_AVX2, &g, threads);
}

int distac_sgemm_bf16_avx512 GEMM_PARAMS {
  gemm_problem g = GEMM_PROBLEM;
  return bgemm_entry(DISTAC_ISA_AVX512, &g, threads);
}

int distac_sgemm_bf16_native(void) { return bgemm_native(); }
#else
int distac_sgemm_bf16_native(void) { return 0; }
#endif

DISTAC_DEFINE_DISPATCH(sgemm_bf16, GEMM_PARAMS, GEMM_ARGS)
