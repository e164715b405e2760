/*
 * distac_kernels.h — the C ABI of distac's CPU kernels.
 *
 * Plain C11, usable from C++ (extern "C"). Every op exists in five forms:
 *
 *   int distac_OP_scalar(ARGS);   portable C reference, always available
 *   int distac_OP_avx2(ARGS);     AVX2 + FMA (+ F16C)
 *   int distac_OP_avx512(ARGS);   AVX-512 F/BW/VL
 *   int distac_OP_isa(distac_isa isa, ARGS);   the named variant, checked
 *   int distac_OP(ARGS);          the best variant this CPU and OS support
 *
 * The named SIMD variants must only be called where distac_isa_supported()
 * says yes; distac_OP_isa() checks and returns DISTAC_EISA instead.
 * Every function returns a status (DISTAC_OK or a negative error) and writes
 * nothing when it returns an error for its arguments.
 *
 * All matrices are row-major with explicit leading dimensions (in elements).
 * No function keeps state between calls that could change a result; all are
 * safe to call concurrently on disjoint outputs. Pointers may be NULL only
 * where an op says so, or when its element count is 0. `threads <= 0` means
 * one thread per online CPU. Multi-threaded ops run on a pool of worker
 * threads started on first use and kept for later calls (at most one per
 * online CPU less the caller, their signals blocked); it is internally
 * synchronised, shared by all callers, and never changes a result.
 *
 * ABI changes bump DISTAC_KERNELS_ABI_VERSION and are listed in README.md:
 * a removed or changed signature or meaning, and an added function, each
 * bump it; callers that need a function check the version at compile time.
 */
#ifndef DISTAC_KERNELS_H
#define DISTAC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DISTAC_KERNELS_ABI_VERSION 4

/* Status codes. */
#define DISTAC_OK 0
#define DISTAC_EINVAL (-1) /* bad argument: negative size, short leading dimension, NULL, label out of range */
#define DISTAC_ENOMEM (-2) /* an internal allocation failed */
#define DISTAC_EISA (-3)   /* the requested instruction set is not available on this CPU/OS */

typedef enum distac_isa {
  DISTAC_ISA_SCALAR = 0,
  DISTAC_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
  DISTAC_ISA_AVX512 = 2  /* AVX-512 F + BW + VL, with the OS saving ZMM state */
} distac_isa;

typedef enum distac_dtype {
  DISTAC_F32 = 0,
  DISTAC_F16 = 1, /* IEEE binary16 */
  DISTAC_BF16 = 2 /* bfloat16: the top half of a binary32 */
} distac_dtype;

/* 1 if this CPU and OS can run `isa`, else 0. */
int distac_isa_supported(distac_isa isa);
/* The best supported instruction set. */
distac_isa distac_isa_best(void);
/* "scalar", "avx2", "avx512" (or "unknown"). */
const char *distac_isa_name(distac_isa isa);
/* Number of online CPUs (>= 1); what threads <= 0 means. */
int distac_default_threads(void);

/* DISTAC_OP(name, params...) declares the five forms of one op: the three
 * named variants, the checked distac_name_isa(distac_isa isa, params...) and
 * the dispatching distac_name(params...). distac_train.h uses it too and
 * #undefs it. */
#define DISTAC_OP(name, ...)                               \
  int distac_##name##_scalar(__VA_ARGS__);                 \
  int distac_##name##_avx2(__VA_ARGS__);                   \
  int distac_##name##_avx512(__VA_ARGS__);                 \
  int distac_##name##_isa(distac_isa isa, __VA_ARGS__);    \
  int distac_##name(__VA_ARGS__);

/* ------------------------------------------------------------------ GEMM ---
 * kernels/avx/gemm.c
 * C[m x n] = alpha * op(A) * op(B) + beta * C, fp32, row-major.
 *   op(A)[i][p] = trans_a ? A[p*lda + i] : A[i*lda + p]   (m x k)
 *   op(B)[p][j] = trans_b ? B[j*ldb + p] : B[p*ldb + j]   (k x n)
 * lda >= max(1, trans_a ? m : k), ldb >= max(1, trans_b ? k : n), ldc >= max(1, n).
 * beta == 0: C is written without being read (NaN in C does not propagate).
 * k == 0 or alpha == 0: C = beta * C (A and B are not read).
 * Multi-threaded over `threads` for large shapes; the result has the same bits
 * for any thread count (for a given ISA). A and B may be NULL when they are not
 * read (k == 0, alpha == 0 or an empty C), C when m == 0 or n == 0. The SIMD
 * variants allocate packing scratch (up to 32 MiB for B plus ~300 KiB per
 * thread) and return DISTAC_ENOMEM, before writing anything, if that fails. */
DISTAC_OP(sgemm, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
          int64_t ldc, int threads)

/* Strided batch: for q in [0, batch): the GEMM above on a + q*stride_a,
 * b + q*stride_b, c + q*stride_c. Strides are in elements and may be 0 for A
 * or B (a shared operand); C blocks must not overlap: negative strides, or
 * batch > 1 with stride_c < (m-1)*ldc + n, give DISTAC_EINVAL. */
DISTAC_OP(sgemm_strided_batched, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
          int64_t batch, float alpha, const float *a, int64_t lda, int64_t stride_a, const float *b,
          int64_t ldb, int64_t stride_b, float beta, float *c, int64_t ldc, int64_t stride_c,
          int threads)

/* kernels/avx/gemm_bf16.c — added in ABI 4.
 * The GEMM above on bf16 operands: C = alpha * bf16(op(A)) * bf16(op(B)) + beta * C,
 * with A, B, C fp32 in memory and the same arguments and rules as distac_sgemm.
 * Each operand element is rounded to bfloat16 (nearest even) as it is read;
 * products are exact in fp32 and summed in fp32 (order per variant; the same
 * bits for any thread count). The matmul of a bf16 mixed-precision training
 * step. The avx512 variant runs on AVX512_BF16 instructions where the CPU has
 * them (distac_sgemm_bf16_native() is 1), which treat subnormal inputs as zero;
 * elsewhere, and in the avx2 variant, the rounded operands go through the
 * fp32 GEMM (same numbers, fp32 speed). Scratch: half the bytes of op(A) and
 * op(B) (the fp32 path: all of them); DISTAC_ENOMEM before writing anything. */
DISTAC_OP(sgemm_bf16, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
          int64_t ldc, int threads)
/* 1 when distac_sgemm_bf16_avx512 uses this CPU's AVX512_BF16 instructions. */
int distac_sgemm_bf16_native(void);

/* --------------------------------------------------- fused KL distillation ---
 * kernels/avx/kl.c
 * Teacher logits zt and student logits zs, both rows x cols (row r at
 * zt + r*ldt, zs + r*lds). With p = softmax(zt/t_tcr) and q = softmax(zs/t_stu)
 * per row, B = rows:
 *   *loss = t_tcr * t_stu / B * sum_r KL(p_r || q_r)        (forward KL, teacher first)
 *   grad  = dLoss/dzs = t_tcr / B * (q - p)                   (rows x cols, ldg; NULL: loss only)
 * One online max/sum pass per row, then a gradient pass that re-reads the row
 * from cache while it fits in L2 (up to ~60K columns). Stable for |logits| up
 * to 1e4. Inputs must be finite: any NaN or Inf in a row makes *loss NaN (the
 * gradient of that row is then unspecified). *loss has the same bits for any
 * thread count. Accuracy: ~1e-7 relative, with an absolute floor of about
 * 1e-7 * t_tcr * t_stu per row when p and q are close (KL is then a difference
 * of order-1 float32 terms).
 * t_tcr, t_stu finite and > 0, rows, cols >= 1, else DISTAC_EINVAL. */
DISTAC_OP(kl_distill, int64_t rows, int64_t cols, const float *zt, int64_t ldt, const float *zs,
          int64_t lds, float t_tcr, float t_stu, double *loss, float *grad, int64_t ldg,
          int threads)

/* -------------------------------------- cross-entropy with label smoothing ---
 * kernels/avx/xent.c
 * y_r = (1 - eps) * onehot(labels[r]) + eps / cols;  s_r = softmax(z_r)
 *   *loss = 1/B * sum_r -sum_j y_rj * log s_rj
 *   grad  = (s - y) / B                                   (NULL: loss only)
 * labels[r] in [0, cols) and 0 <= eps <= 1, else DISTAC_EINVAL before any
 * write. Non-finite logits make *loss NaN. */
DISTAC_OP(xent_ls, int64_t rows, int64_t cols, const float *z, int64_t ldz, const int32_t *labels,
          float eps, double *loss, float *grad, int64_t ldg, int threads)

/* ------------------------------------------------------- task-vector ops ---
 * kernels/avx/convert.c — dtype conversion, any pair of distac_dtype.
 * To f16/bf16: round to nearest even; overflow gives +-Inf (f16); NaN stays
 * a (quiet) NaN; subnormals are converted exactly. Widening: an f16 NaN gets
 * its quiet bit set (as F16C does), a bf16 NaN widens bit for bit.
 * src and dst must not overlap. */
DISTAC_OP(convert, distac_dtype dst_type, void *dst, distac_dtype src_type, const void *src,
          int64_t n)

/* kernels/avx/taskvec.c — tau = ft - base, computed in f32 from any input dtypes:
 *   dst[i] = f32(ft[i]) - f32(base[i]). */
DISTAC_OP(sub, float *dst, distac_dtype ft_type, const void *ft, distac_dtype base_type,
          const void *base, int64_t n)

/* Deterministic sum of squares, float64 accumulation:
 * x is cut into blocks of DISTAC_SUMSQ_BLOCK elements; each block is summed in
 * a fixed order (element i of a block into float64 lane i % 16, lanes folded
 * in a fixed order); block sums are added in block order. The result has the
 * same bits for any thread count and on every ISA. NaN in x gives NaN. */
#define DISTAC_SUMSQ_BLOCK 65536
DISTAC_OP(sumsq, const float *x, int64_t n, double *out, int threads)

/* kernels/avx/taskvec_accum.h — sub, wsum's step for one input and sumsq in one pass over
 * a task's chunk, each output optional (NULL: not computed):
 *   t       = f32(ft[i]) - f32(base[i])
 *   tau[i]  = t
 *   acc[i]  = first ? w * t : acc[i] + w * t         (FMA where the ISA has it, as wsum)
 *   *sumsq  = sum t^2 in sumsq's order (blocks of DISTAC_SUMSQ_BLOCK from element 0)
 * Each has the bits sub, wsum (over the tasks in order, one call per task) and sumsq give
 * on the same ISA, so a streamed merge forms its task vectors, their sum and their norms
 * without writing tau out and reading it back. tau may be ft or base (in place), acc may not
 * overlap an input or tau. */
DISTAC_OP(sub_accum, float *tau, float *acc, distac_dtype ft_type, const void *ft,
          distac_dtype base_type, const void *base, int64_t n, float w, int first,
          double *sumsq)

/* x[i] *= a */
DISTAC_OP(scale, float *x, int64_t n, float a)

/* y[i] += a * x[i] (x and y must not overlap unless equal) */
DISTAC_OP(axpy, int64_t n, float a, const float *x, float *y)

/* dst[i] = sum_{t=0}^{count-1} w[t] * xs[t][i], accumulated in f32 in order of t
 * (with FMA where the ISA has it). count >= 1. dst must not overlap any xs[t]. */
DISTAC_OP(wsum, float *dst, int32_t count, const float *const *xs, const float *w, int64_t n)

/* kernels/avx/topk.c — radix-select building block for a top-k magnitude threshold over many
 * tensors without sorting. With u = bits(x[i]) & 0x7fffffff (so u orders
 * |x|, NaN above +Inf):
 *   if (shift + bits >= 32 || (u >> (shift + bits)) == prefix)
 *       hist[(u >> shift) & ((1 << bits) - 1)] += 1
 * hist has 1 << bits entries and is added to (the caller zeroes it).
 * 1 <= bits <= 16, 0 <= shift < 32. */
DISTAC_OP(abs_histogram, const float *x, int64_t n, int32_t shift, int32_t bits, uint32_t prefix,
          uint64_t *hist)

/* kernels/avx/topk.c — the window pass of a top-k select whose threshold was
 * predicted (from a sample): with u = bits(x[i]) & 0x7fffffff as above,
 *   *above += #{ i : u >= lo + span }
 *   hist[u - lo] += 1   for each i with lo <= u < lo + span
 * hist has span entries; hist and *above are added to (the caller zeroes
 * them). span >= 1 and lo + span <= 2^31 (NaN sorts above +Inf, as above).
 * Added in ABI 2. */
DISTAC_OP(abs_window, const float *x, int64_t n, uint32_t lo, uint32_t span, uint64_t *hist,
          uint64_t *above)

/* kernels/avx/ties.c — TIES-merging.
 * trim: dst[i] = |x[i]| < threshold ? 0 : x[i]   (NaN is kept). dst may equal x. */
DISTAC_OP(ties_trim, float *dst, const float *x, int64_t n, float threshold)

/* Elect + disjoint mean, trimming on the fly. Per element i:
 *   v_t = |xs[t][i]| < thresholds[t] ? 0 : xs[t][i]   (thresholds[t] = 0 keeps all)
 *   s = sum_t v_t (in order);  gamma = s >= 0 ? +1 : -1   (zero elects +)
 *   A = { t : v_t != 0 and sign(v_t) == gamma }
 *   dst[i] = |A| ? (sum_{t in A} v_t) / |A| : 0
 * A NaN v_t makes dst[i] NaN (so does an Inf + -Inf sum, which elects -).
 * count >= 1. dst may be exactly one of xs (each element is read before it is
 * written) but must not partially overlap any. */
DISTAC_OP(ties_merge, float *dst, int32_t count, const float *const *xs, const float *thresholds,
          int64_t n)

/* kernels/avx/tall.c — TALL masks and consensus. Per element i:
 *   mtl = sum_t xs[t][i] (in order)
 *   c = #{ t : |xs[t][i]| > lambdas[t] * |mtl - xs[t][i]| }
 *   counts[i] = c                      (NULL: not written)
 *   dst[i] = c >= min_agree ? mtl : 0  (NULL: not written; NaN mtl gives NaN)
 * 1 <= count <= 255; min_agree may be any value. Both outputs NULL is a no-op.
 * dst may be exactly one of xs, never a partial overlap. */
DISTAC_OP(tall_consensus, float *dst, uint8_t *counts, int32_t count, const float *const *xs,
          const float *lambdas, int32_t min_agree, int64_t n)

#ifdef __cplusplus
}
#endif

/* Training ops (layernorm, GELU, softmax, bias, attention, l2norm, Adam)
 * share this ABI. */
#include "distac_train.h"
#include "distac_status.h"

#endif /* DISTAC_KERNELS_H */
