/*
 * gemm.c — fp32 GEMM: C = alpha * op(A) * op(B) + beta * C, row-major.
 *
 * scalar: plain loops, the portable reference.
 * avx2 / avx512: GotoBLAS/BLIS structure.
 *   1. op(B) is packed once per call (all of k; at most GEMM_B_BUDGET floats,
 *      else column chunk by chunk) into NR-wide panels, grouped in KC-deep
 *      slabs. Packing absorbs the transpose and zero-pads the last panel.
 *   2. C is cut into tiles; for each tile:
 *        pc (KC depth) -> ic (MC rows): pack an MC x KC block of op(A) into
 *        MR-tall panels (transposed A only: untransposed A is read in place
 *        by the kernel_rows micro-kernels) -> jr (NR columns) -> ir (MR
 *        rows) -> micro-kernel. KC and MC come from the detected L1d and L2
 *        (gemm_blocked).
 *      so one KC x NR micro-panel of B is reused from L1/L2 across the ir
 *      loop while MR x KC panels of A stream from the L2-resident A block.
 *      The register-blocked FMA micro-kernel applies alpha (and beta on the
 *      first depth slab; later slabs accumulate) as it stores. Edge tiles go
 *      through a local MR x NR buffer.
 * Threads (one distac_parallel_for per call): the threads claim B panels to
 *   pack, then C tiles (about 8 per thread), from atomic counters, so one
 *   slowed or started late by a busy machine takes fewer (see gemm_mt).
 *   Tiles start at multiples of MR and NR, so each element of C is summed in
 *   the same order whatever the thread count: results are bit-identical.
 * Scratch is allocated per call before C is touched: ENOMEM writes nothing.
 * Measured on Zen 4 (2 cores, 1024^3): about 90% of FMA peak per core for
 * both SIMD variants, on par with OpenBLAS; bench/sgemm_test.go compares.
 */
#define _POSIX_C_SOURCE 200809L /* sched_yield */
#include <stdatomic.h>
#include <stdlib.h>

#include "gemm_common.h" /* the problem, its checks, the entry points' parameters */

/* --------------------------------------------------------------- scalar --- */

/* Row i of C is beta*C[i] plus, without trans_b, alpha*op(A)[i][p] times row
 * p of B summed over p (contiguous axpys), and with trans_b the dot products
 * of op(A)[i] with the rows of B. Accumulates in float, like the SIMD paths. */
static void gemm_scalar(const gemm_problem *g) {
  gemm_scale_c(g, 0, g->m, 0, g->n);
  if (!gemm_reads_ab(g)) return;
  for (int64_t i = 0; i < g->m; i++) {
    float *c = g->c + i * g->ldc;
    const float *a = g->trans_a ? g->a + i : g->a + i * g->lda;
    int64_t sa = g->trans_a ? g->lda : 1; /* op(A)[i][p] = a[p * sa] */
    if (g->trans_b) {
      for (int64_t j = 0; j < g->n; j++) {
        const float *b = g->b + j * g->ldb;
        float dot = 0.0f;
        for (int64_t p = 0; p < g->k; p++) dot += a[p * sa] * b[p];
        c[j] += g->alpha * dot;
      }
    } else {
      for (int64_t p = 0; p < g->k; p++) {
        const float *b = g->b + p * g->ldb;
        float s = g->alpha * a[p * sa];
        for (int64_t j = 0; j < g->n; j++) c[j] += s * b[j];
      }
    }
  }
}

/* ------------------------------------------------------- blocked driver --- */

/* Micro-kernel: C[MR x NR] (row stride ldc) = alpha * A.B + beta * C over kc,
 * A an MR-tall packed panel (a[p*MR + r]), B an NR-wide one (b[p*NR + j]).
 * beta == 0 must not read C. */
typedef void (*gemm_kernel_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                               float alpha, float beta);
/* The same with A read in place: row r of the MR-row panel at a + r*lda,
 * depth p at a[r*lda + p] (op(A) not transposed). */
typedef void (*gemm_kernel_rows_fn)(int64_t kc, const float *a, int64_t lda, const float *b,
                                    float *c, int64_t ldc, float alpha, float beta);
/* Packs op(A)[i0 .. i0+mc) x [p0 .. p0+kc) into MR-tall panels, zero-padding
 * the last panel to MR rows. */
typedef void (*gemm_pack_a_fn)(const gemm_problem *g, int64_t i0, int64_t mc, int64_t p0,
                               int64_t kc, float *out);
/* Packs op(B)[p0 .. p0+kc) x [j0 .. j0+nc) into NR-wide panels, zero-padded. */
typedef void (*gemm_pack_b_fn)(const gemm_problem *g, int64_t p0, int64_t kc, int64_t j0,
                               int64_t nc, float *out);

typedef struct {
  int mr, nr;
  int64_t mc, kc; /* cache blocks (gemm_blocked): mc x kc of A in L2; mc a multiple of mr */
  gemm_kernel_fn kernel;
  gemm_kernel_rows_fn kernel_rows;
  gemm_pack_a_fn pack_a;
  gemm_pack_b_fn pack_b;
} gemm_impl;

#define GEMM_MAX_TILE 256 /* floats in the largest MR x NR tile */

/* Floats of packed B held at once: op(B) is packed for all of k and as many
 * columns as fit (8M floats = 32 MiB: k = 2048 and n = 4096 in one go), so
 * the threads share one copy and each C tile runs over all of k on its own. */
#ifndef GEMM_B_BUDGET /* overridable to test the chunked path on small shapes */
#define GEMM_B_BUDGET ((int64_t)1 << 23)
#endif

#if DISTAC_HAVE_X86 /* the driver of the SIMD variants */

/* Columns [j0, j0+nc) of op(B), all k rows, packed as kc-deep slabs one after
 * another; slab pc holds ncp/NR panels of kc x NR (ncp = nc rounded up to NR). */
typedef struct {
  const gemm_impl *im;
  const gemm_problem *g;
  float *bp;
  int64_t j0, nc, ncp;
} gemm_bpack;

/* Packs panels [p0, p1) (NR columns each) of every slab. */
static void gemm_pack_b_panels(const gemm_bpack *pk, int64_t p0, int64_t p1) {
  const gemm_impl *im = pk->im;
  int64_t c0 = p0 * im->nr, c1 = gemm_min(p1 * im->nr, pk->nc);
  for (int64_t pc = 0; pc < pk->g->k; pc += im->kc) {
    int64_t kc = gemm_min(im->kc, pk->g->k - pc);
    im->pack_b(pk->g, pc, kc, pk->j0 + c0, c1 - c0, pk->bp + pc * pk->ncp + c0 * kc);
  }
}

/* C rows [i0, i1) x packed columns [c0, c1) (relative to pk->j0; c0 a
 * multiple of NR), with ap as room for an mc x kc block of A. Untransposed
 * A is read in place by kernel_rows (its panels are rows of A already, so
 * packing them only cost time: a tenth of a 256^3 call); only a last panel
 * of fewer than MR rows is packed, zero-padded. Transposed A is packed (in
 * place, each depth step would touch a cache line for 6 floats). */
static void gemm_tile(const gemm_bpack *pk, int64_t i0, int64_t i1, int64_t c0, int64_t c1,
                      float *ap) {
  const gemm_impl *im = pk->im;
  const gemm_problem *g = pk->g;
  const int mr = im->mr, nr = im->nr;
  _Alignas(64) float tile[GEMM_MAX_TILE];
  for (int64_t pc = 0; pc < g->k; pc += im->kc) {
    int64_t kc = gemm_min(im->kc, g->k - pc);
    float beta = pc == 0 ? g->beta : 1.0f; /* later depth blocks accumulate */
    const float *slab = pk->bp + pc * pk->ncp;
    for (int64_t ic = i0; ic < i1; ic += im->mc) {
      int64_t mc = gemm_min(im->mc, i1 - ic);
      int64_t full = g->trans_a ? 0 : mc / mr * mr; /* rows read in place */
      if (full < mc) im->pack_a(g, ic + full, mc - full, pc, kc, ap + full * kc);
      for (int64_t jr = c0; jr < c1; jr += nr) {
        int64_t cols = gemm_min(nr, c1 - jr), j = pk->j0 + jr;
        const float *bpanel = slab + jr * kc;
        for (int64_t ir = 0; ir < mc; ir += mr) {
          int64_t rows = gemm_min(mr, mc - ir);
          const float *apanel = ap + ir * kc, *arows = g->a + (ic + ir) * g->lda + pc;
          if (ir < full && cols == nr) {
            im->kernel_rows(kc, arows, g->lda, bpanel, g->c + (ic + ir) * g->ldc + j, g->ldc,
                            g->alpha, beta);
          } else if (ir < full) {
            im->kernel_rows(kc, arows, g->lda, bpanel, tile, nr, 1.0f, 0.0f);
            gemm_store_edge(g, tile, nr, beta, ic + ir, rows, j, cols);
          } else if (rows == mr && cols == nr) {
            im->kernel(kc, apanel, bpanel, g->c + (ic + ir) * g->ldc + j, g->ldc, g->alpha, beta);
          } else {
            im->kernel(kc, apanel, bpanel, tile, nr, 1.0f, 0.0f);
            gemm_store_edge(g, tile, nr, beta, ic + ir, rows, j, cols);
          }
        }
      }
    }
  }
}

/* Columns of op(B) packed at once, a multiple of NR. */
static int64_t gemm_chunk_cols(const gemm_impl *im, const gemm_problem *g) {
  int64_t fit = GEMM_B_BUDGET / gemm_max1(g->k) / im->nr * im->nr;
  return gemm_min(gemm_round_up(g->n, im->nr), fit > im->nr ? fit : im->nr);
}

/* Scratch (floats) for one thread's A block, rounded to 64 bytes. */
static int64_t gemm_a_floats(const gemm_impl *im, const gemm_problem *g) {
  return gemm_round_up(gemm_round_up(gemm_min(im->mc, g->m), im->mr) * gemm_min(im->kc, g->k), 16);
}

/* A whole checked problem (k > 0, alpha != 0) on the calling thread; scratch
 * holds a_floats + chunk_cols * k floats. */
static void gemm_serial(const gemm_impl *im, const gemm_problem *g, float *scratch) {
  int64_t chunk = gemm_chunk_cols(im, g);
  gemm_bpack pk = {.im = im, .g = g, .bp = scratch + gemm_a_floats(im, g)};
  for (pk.j0 = 0; pk.j0 < g->n; pk.j0 += chunk) {
    pk.nc = gemm_min(chunk, g->n - pk.j0), pk.ncp = gemm_round_up(pk.nc, im->nr);
    gemm_pack_b_panels(&pk, 0, pk.ncp / im->nr);
    gemm_tile(&pk, 0, g->m, 0, pk.nc, scratch);
  }
}

/* The threaded path, one fork per chunk of B. Each thread first claims B
 * panels to pack from a counter, then waits until every claimed panel is
 * packed, then claims tiles of C (rtiles x ctiles) until none are left.
 * A thread only ever waits for panels that a running thread has claimed, so
 * a thread that starts late (busy machine) or never (the serial fallback of
 * distac_parallel_for) just finds the work done: no deadlock, and the early
 * threads are never idle waiting for it. */
typedef struct {
  gemm_bpack pk;
  int64_t panels, rtiles, ctiles;
  atomic_llong next_panel, packed, next_tile;
  float *ascratch; /* one A block per thread */
  int64_t a_floats;
} gemm_mt;

static void gemm_mt_run(void *ctx, int64_t begin, int64_t end) {
  gemm_mt *mt = (gemm_mt *)ctx;
  int64_t m = mt->pk.g->m, nc = mt->pk.nc, mr = mt->pk.im->mr, nr = mt->pk.im->nr;
  for (int64_t slot = begin; slot < end; slot++) {
    for (int64_t p; (p = atomic_fetch_add(&mt->next_panel, 1)) < mt->panels;) {
      gemm_pack_b_panels(&mt->pk, p, p + 1);
      atomic_fetch_add(&mt->packed, 1); /* seq_cst: publishes the panel */
    }
    for (int64_t spins = 0; atomic_load(&mt->packed) < mt->panels;) gemm_backoff(&spins);
    float *ap = mt->ascratch + slot * mt->a_floats;
    for (int64_t t; (t = atomic_fetch_add(&mt->next_tile, 1)) < mt->rtiles * mt->ctiles;) {
      int64_t ti = t / mt->ctiles, tj = t % mt->ctiles;
      gemm_tile(&mt->pk, gemm_split(m, mt->rtiles, mr, ti), gemm_split(m, mt->rtiles, mr, ti + 1),
                gemm_split(nc, mt->ctiles, nr, tj), gemm_split(nc, mt->ctiles, nr, tj + 1), ap);
    }
  }
}

/* About 8 tiles per thread: dealt out dynamically, a thread slowed by
 * another process takes fewer, and the last to finish idles the others for
 * at most one tile. Rows are cut (down to 2 micro-panels a tile, each
 * B micro-panel still used twice from L1); columns only when there are
 * fewer than 3 row tiles a thread, as each column tile reads (and for
 * transposed A repacks) its rows of A again: cutting 256^3 into 2 column
 * tiles cost 5% in repacked A. At least 128 columns a tile. */
static void gemm_mt_tiles(gemm_mt *mt, int t) {
  const gemm_impl *im = mt->pk.im;
  int64_t want = 8 * (int64_t)t, min_cols = 4 * im->nr > 128 ? 4 * im->nr : 128;
  mt->rtiles = gemm_min(want, gemm_ceil_div(mt->pk.g->m, 2 * im->mr));
  mt->ctiles = gemm_min(gemm_ceil_div(3 * (int64_t)t, mt->rtiles),
                        gemm_ceil_div(mt->pk.nc, min_cols));
  if (mt->ctiles < 1) mt->ctiles = 1;
}

/* Scratch for gemm_compute on t threads: t A blocks and one chunk of B. */
static int64_t gemm_scratch_floats(const gemm_impl *im, const gemm_problem *g, int t) {
  return gemm_a_floats(im, g) * t + gemm_chunk_cols(im, g) * g->k;
}

/* Packing scratch: the calling thread's kept block (distac_scratch_get). */
static float *gemm_alloc(int64_t floats) {
  return (float *)distac_scratch_get((size_t)gemm_round_up(floats, 16) * sizeof(float));
}

/* A checked problem with k > 0 and alpha != 0 on t threads. */
static void gemm_compute(const gemm_impl *im, const gemm_problem *g, int t, float *scratch) {
  if (t == 1) {
    gemm_serial(im, g, scratch);
    return;
  }
  int64_t a_floats = gemm_a_floats(im, g), chunk = gemm_chunk_cols(im, g);
  gemm_mt mt = {.pk = {.im = im, .g = g, .bp = scratch + a_floats * t},
                .ascratch = scratch, .a_floats = a_floats};
  for (mt.pk.j0 = 0; mt.pk.j0 < g->n; mt.pk.j0 += chunk) {
    mt.pk.nc = gemm_min(chunk, g->n - mt.pk.j0), mt.pk.ncp = gemm_round_up(mt.pk.nc, im->nr);
    mt.panels = mt.pk.ncp / im->nr;
    gemm_mt_tiles(&mt, t);
    atomic_store(&mt.next_panel, 0), atomic_store(&mt.packed, 0), atomic_store(&mt.next_tile, 0);
    distac_parallel_for(t, t, 1, gemm_mt_run, &mt);
  }
}

/* The ISA's table with cache blocks from the caches the runtime detected
 * (distac_cache_sizes): kc so that a kc-deep B micro-panel of the AVX-512
 * tile (32 columns) fills L1d, the AVX2 one (16) half of it; mc so that the
 * mc x kc A block takes a quarter of L2. With 48 KiB L1d and 1 MiB L2 (Zen 4,
 * Zen 5) that is kc 384, mc 168; with a 2 MiB L2 (Sapphire Rapids) mc 336;
 * with 32 KiB L1d (Skylake) kc 256. Measured on Zen 5, kc 256-512 and mc
 * 144-336 are within noise of each other at 1024^3 and the ViT shapes. */
static gemm_impl gemm_blocked(const gemm_impl *base) {
  int64_t l1d, l2;
  distac_cache_sizes(&l1d, &l2);
  gemm_impl im = *base;
  im.kc = l1d / (32 * (int64_t)sizeof(float)) / 16 * 16;
  im.kc = im.kc < 192 ? 192 : im.kc > 512 ? 512 : im.kc;
  im.mc = l2 / 4 / (im.kc * (int64_t)sizeof(float)) / im.mr * im.mr;
  im.mc = im.mc < 8 * im.mr ? 8 * im.mr : im.mc > 128 * im.mr ? 128 * im.mr : im.mc;
  return im;
}

/* Runs a checked problem on `threads` threads (<= 0: all). Scratch is
 * allocated before anything is written, so ENOMEM leaves C untouched. */
static int gemm_run(const gemm_impl *im, const gemm_problem *g, int threads) {
  if (g->m == 0 || g->n == 0) return DISTAC_OK;
  if (!gemm_reads_ab(g)) {
    gemm_scale_c(g, 0, g->m, 0, g->n);
    return DISTAC_OK;
  }
  gemm_impl tuned = gemm_blocked(im);
  im = &tuned;
  int t = gemm_threads(g, threads);
  float *scratch = gemm_alloc(gemm_scratch_floats(im, g, t));
  if (!scratch) return DISTAC_ENOMEM;
  gemm_compute(im, g, t, scratch);
  distac_scratch_put(scratch);
  return DISTAC_OK;
}

#endif /* DISTAC_HAVE_X86 */

/* ---------------------------------------------------------- strided batch --- */

typedef struct {
  const gemm_impl *im;
  const gemm_problem *g;
  int64_t batch, stride_a, stride_b, stride_c;
  int workers;
  float *scratch;
  int64_t per_worker; /* floats */
} gemm_batch;

/* Entry q of the batch as a problem. */
static gemm_problem gemm_entry(const gemm_problem *g, const gemm_batch *bt, int64_t q) {
  gemm_problem e = *g;
  e.a = g->a ? g->a + q * bt->stride_a : NULL;
  e.b = g->b ? g->b + q * bt->stride_b : NULL;
  e.c = g->c + q * bt->stride_c;
  return e;
}

#if DISTAC_HAVE_X86
/* Worker w takes the entries [batch*w/workers, batch*(w+1)/workers). */
static void gemm_batch_run(void *ctx, int64_t begin, int64_t end) {
  const gemm_batch *bt = (const gemm_batch *)ctx;
  for (int64_t w = begin; w < end; w++)
    for (int64_t q = bt->batch * w / bt->workers; q < bt->batch * (w + 1) / bt->workers; q++) {
      gemm_problem e = gemm_entry(bt->g, bt, q);
      gemm_serial(bt->im, &e, bt->scratch + w * bt->per_worker);
    }
}

/* Entries big enough for every thread run one after another, each threaded;
 * smaller ones run whole on one thread each, in parallel over the batch. */
static int gemm_run_batched(const gemm_impl *im, const gemm_problem *g, int64_t batch,
                            int64_t stride_a, int64_t stride_b, int64_t stride_c, int threads) {
  if (batch == 0 || g->m == 0 || g->n == 0) return DISTAC_OK;
  gemm_batch bt = {.im = im, .g = g, .batch = batch, .stride_a = stride_a,
                   .stride_b = stride_b, .stride_c = stride_c};
  if (!gemm_reads_ab(g)) {
    for (int64_t q = 0; q < batch; q++) {
      gemm_problem e = gemm_entry(g, &bt, q);
      gemm_scale_c(&e, 0, e.m, 0, e.n);
    }
    return DISTAC_OK;
  }
  gemm_impl tuned = gemm_blocked(im);
  im = bt.im = &tuned;
  int64_t macs = gemm_macs(g);
  int t = gemm_threads(g, threads), all = distac_threads_for(threads, (int64_t)1 << 40, 1);
  if (batch == 1 || t >= all) {
    float *scratch = gemm_alloc(gemm_scratch_floats(im, g, t));
    if (!scratch) return DISTAC_ENOMEM;
    for (int64_t q = 0; q < batch; q++) {
      gemm_problem e = gemm_entry(g, &bt, q);
      gemm_compute(im, &e, t, scratch);
    }
    distac_scratch_put(scratch);
    return DISTAC_OK;
  }
  int64_t grain = macs >= GEMM_MT_GRAIN ? 1 : GEMM_MT_GRAIN / gemm_max1(macs);
  bt.workers = distac_threads_for(threads, batch, grain);
  bt.per_worker = gemm_round_up(gemm_scratch_floats(im, g, 1), 16);
  bt.scratch = gemm_alloc(bt.per_worker * bt.workers);
  if (!bt.scratch) return DISTAC_ENOMEM;
  distac_parallel_for(bt.workers, bt.workers, 1, gemm_batch_run, &bt);
  distac_scratch_put(bt.scratch);
  return DISTAC_OK;
}

#endif

static int gemm_check_batched(const gemm_problem *g, int64_t batch, int64_t stride_a,
                              int64_t stride_b, int64_t stride_c) {
  int rc = gemm_check(g);
  if (rc != DISTAC_OK) return rc;
  if (batch < 0 || stride_a < 0 || stride_b < 0 || stride_c < 0) return DISTAC_EINVAL;
  /* outputs must not overlap: entry q+1 starts after the last element of q */
  if (batch > 1 && g->m > 0 && g->n > 0 && stride_c < (g->m - 1) * g->ldc + g->n)
    return DISTAC_EINVAL;
  return DISTAC_OK;
}

/* ------------------------------------------------------- AVX2, AVX-512 --- */

#if DISTAC_HAVE_X86

/* Packing, shared with the AVX-512 variant. Both operands reduce to one of
 * two panel shapes, out[p*w + l] for p < kc and lanes l < w (zero for
 * l >= lanes):
 *   copy:      src[p*lds + l]  (A transposed, B as stored)
 *   transpose: src[l*lds + p]  (A as stored, B transposed)
 * The transpose moves 8 x 8 blocks through registers. */
DISTAC_TARGET_AVX2 static inline void gemm_avx2_transpose8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xee);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xee);
  __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xee);
  __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xee);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20), r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20), r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31), r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31), r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* Stores the first `width` (1..8) floats of v. */
DISTAC_TARGET_AVX2 static inline void gemm_avx2_store_part(float *out, __m256 v, int64_t width) {
  __m128 lo = _mm256_castps256_ps128(v);
  switch (width) {
    case 8: _mm256_storeu_ps(out, v); return;
    case 6: /* MR = 6 */
      _mm_storeu_ps(out, lo);
      _mm_storel_pi((__m64 *)(out + 4), _mm256_extractf128_ps(v, 1));
      return;
    case 4: _mm_storeu_ps(out, lo); return;
  }
  _Alignas(32) float t[8];
  _mm256_store_ps(t, v);
  memcpy(out, t, (size_t)width * sizeof(float));
}

DISTAC_TARGET_AVX2 static void gemm_avx2_panel_transpose(const float *src, int64_t lds,
                                                         int64_t lanes, int64_t kc, int64_t w,
                                                         float *out) {
  int64_t kc8 = kc / 8 * 8;
  for (int64_t l0 = 0; l0 < w; l0 += 8) {
    int64_t nl = gemm_min(8, lanes - l0), width = gemm_min(8, w - l0);
    for (int64_t p = 0; p < kc8; p += 8) {
      __m256 r[8];
      for (int64_t l = 0; l < 8; l++)
        r[l] = l < nl ? _mm256_loadu_ps(src + (l0 + l) * lds + p) : _mm256_setzero_ps();
      gemm_avx2_transpose8(r);
      for (int64_t q = 0; q < 8; q++) gemm_avx2_store_part(out + (p + q) * w + l0, r[q], width);
    }
  }
  for (int64_t p = kc8; p < kc; p++)
    for (int64_t l = 0; l < w; l++) out[p * w + l] = l < lanes ? src[l * lds + p] : 0.0f;
}

DISTAC_TARGET_AVX2 static void gemm_avx2_panel_copy(const float *src, int64_t lds, int64_t lanes,
                                                    int64_t kc, int64_t w, float *out) {
  for (int64_t p = 0; p < kc; p++, src += lds, out += w) {
    int64_t l = 0;
    if (lanes == w)
      for (; l + 8 <= w; l += 8) _mm256_storeu_ps(out + l, _mm256_loadu_ps(src + l));
    for (; l < lanes; l++) out[l] = src[l];
    for (; l < w; l++) out[l] = 0.0f;
  }
}

/* op(A)[i0 .. i0+mc) x [p0 .. p0+kc) into mr-tall panels. */
DISTAC_TARGET_AVX2 static void gemm_avx2_pack_a_mr(const gemm_problem *g, int mr, int64_t i0,
                                                   int64_t mc, int64_t p0, int64_t kc, float *out) {
  for (int64_t ir = 0; ir < mc; ir += mr, out += mr * kc) {
    int64_t i = i0 + ir, rows = gemm_min(mr, mc - ir);
    if (g->trans_a)
      gemm_avx2_panel_copy(g->a + p0 * g->lda + i, g->lda, rows, kc, mr, out);
    else
      gemm_avx2_panel_transpose(g->a + i * g->lda + p0, g->lda, rows, kc, mr, out);
  }
}

/* op(B)[p0 .. p0+kc) x [j0 .. j0+nc) into nr-wide panels (nr a multiple of
 * 8). Untransposed B is copied row by row across all full panels, so reads
 * run along rows of B instead of down a column of cache lines. */
DISTAC_TARGET_AVX2 static void gemm_avx2_pack_b_nr(const gemm_problem *g, int nr, int64_t p0,
                                                   int64_t kc, int64_t j0, int64_t nc, float *out) {
  int64_t jr = 0;
  if (!g->trans_b) {
    int64_t full = nc / nr * nr;
    for (int64_t p = 0; p < kc; p++) {
      const float *src = g->b + (p0 + p) * g->ldb + j0;
      float *dst = out + p * nr;
      for (int64_t j = 0; j < full; j += nr, dst += nr * kc)
        for (int64_t l = 0; l < nr; l += 8) _mm256_store_ps(dst + l, _mm256_loadu_ps(src + j + l));
    }
    jr = full;
  }
  for (out += jr * kc; jr < nc; jr += nr, out += nr * kc) {
    int64_t j = j0 + jr, cols = gemm_min(nr, nc - jr);
    if (g->trans_b)
      gemm_avx2_panel_transpose(g->b + j * g->ldb + p0, g->ldb, cols, kc, nr, out);
    else
      gemm_avx2_panel_copy(g->b + p0 * g->ldb + j, g->ldb, cols, kc, nr, out);
  }
}

/* An ISA's packing entry points (the packers above with its tile) and its
 * table for the blocked driver, in gemm_simd.h. */
#define GEMM_IMPL(TARGET)                                                                  \
  TARGET static void SIMD_FN(gemm_pack_a)(const gemm_problem *g, int64_t i0, int64_t mc,  \
                                          int64_t p0, int64_t kc, float *out) {            \
    gemm_avx2_pack_a_mr(g, GEMM_MR, i0, mc, p0, kc, out);                                 \
  }                                                                                       \
  TARGET static void SIMD_FN(gemm_pack_b)(const gemm_problem *g, int64_t p0, int64_t kc,  \
                                          int64_t j0, int64_t nc, float *out) {            \
    gemm_avx2_pack_b_nr(g, GEMM_NR, p0, kc, j0, nc, out);                                 \
  }                                                                                       \
  static const gemm_impl SIMD_FN(gemm_impl) = {                                           \
      .mr = GEMM_MR, .nr = GEMM_NR, .kernel = SIMD_FN(gemm_kernel),                       \
      .kernel_rows = SIMD_FN(gemm_kernel_rows), .pack_a = SIMD_FN(gemm_pack_a), .pack_b = SIMD_FN(gemm_pack_b)};

#define SIMD_TEMPLATE "gemm_simd.h"
#include "simd_each.h"
#endif /* DISTAC_HAVE_X86 */

/* ---------------------------------------------------------- entry points --- */


int distac_sgemm_scalar GEMM_PARAMS {
  (void)threads; /* the reference runs on one thread */
  gemm_problem g = GEMM_PROBLEM;
  int rc = gemm_check(&g);
  if (rc == DISTAC_OK && g.m > 0 && g.n > 0) gemm_scalar(&g);
  return rc;
}

int distac_sgemm_strided_batched_scalar GEMM_BATCHED_PARAMS {
  (void)threads;
  gemm_problem g = GEMM_PROBLEM;
  int rc = gemm_check_batched(&g, batch, stride_a, stride_b, stride_c);
  if (rc != DISTAC_OK || g.m == 0 || g.n == 0) return rc;
  gemm_batch bt = {.stride_a = stride_a, .stride_b = stride_b, .stride_c = stride_c};
  for (int64_t q = 0; q < batch; q++) {
    gemm_problem e = gemm_entry(&g, &bt, q);
    gemm_scalar(&e);
  }
  return DISTAC_OK;
}

/* The SIMD variants: check, then the blocked driver with the ISA's kernels. */
#define GEMM_SIMD_ENTRIES(isa, impl)                                                     \
  int distac_sgemm_##isa GEMM_PARAMS {                                                   \
    gemm_problem g = GEMM_PROBLEM;                                                       \
    int rc = gemm_check(&g);                                                             \
    return rc == DISTAC_OK ? gemm_run(&(impl), &g, threads) : rc;                        \
  }                                                                                      \
  int distac_sgemm_strided_batched_##isa GEMM_BATCHED_PARAMS {                           \
    gemm_problem g = GEMM_PROBLEM;                                                       \
    int rc = gemm_check_batched(&g, batch, stride_a, stride_b, stride_c);                \
    return rc == DISTAC_OK                                                               \
               ? gemm_run_batched(&(impl), &g, batch, stride_a, stride_b, stride_c, threads) \
               : rc;                                                                     \
  }

#if DISTAC_HAVE_X86
GEMM_SIMD_ENTRIES(avx2, gemm_impl_avx2)
GEMM_SIMD_ENTRIES(avx512, gemm_impl_avx512)
#endif

DISTAC_DEFINE_DISPATCH(sgemm, GEMM_PARAMS, GEMM_ARGS)
DISTAC_DEFINE_DISPATCH(sgemm_strided_batched, GEMM_BATCHED_PARAMS, GEMM_BATCHED_ARGS)
