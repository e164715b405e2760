/*
 * gemm_simd.h — the micro-kernels of gemm.c: AVX2 (6 x 16) and AVX-512
 * (6 x 32), each with its own main loop, and their shared prefetch and
 * epilogue written once with the simd_map.h names; gemm.c includes it once
 * per ISA (simd_each.h) after the packers both use.
 */

#define GEMM_MR 6
#define GEMM_NR SIMD_PICK(16, 32) /* two vectors per row */
#define GEMM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* C arrives while the loop runs: both ends of each row of the tile. */
#define GEMM_PREFETCH(r)                                                \
  _mm_prefetch((const char *)(c + (r) * ldc), _MM_HINT_T0);             \
  _mm_prefetch((const char *)(c + (r) * ldc + GEMM_NR - 1), _MM_HINT_T0);
/* Row r of the tile: C = alpha * acc (beta == 0: C is not read), or
 * alpha * acc + beta * C. */
#define GEMM_STORE0(r)                                              \
  vf_storeu(c + (r) * ldc, vf_mul(va, c##r##0));                    \
  vf_storeu(c + (r) * ldc + SIMD_W, vf_mul(va, c##r##1));
#define GEMM_STORE(r)                                                                     \
  vf_storeu(c + (r) * ldc, vf_fmadd(va, c##r##0, vf_mul(vb, vf_loadu(c + (r) * ldc))));    \
  vf_storeu(c + (r) * ldc + SIMD_W,                                                       \
            vf_fmadd(va, c##r##1, vf_mul(vb, vf_loadu(c + (r) * ldc + SIMD_W))));
#define GEMM_EPILOGUE         \
  VF va = vf_set1(alpha);     \
  if (beta == 0.0f) {         \
    GEMM_ROWS(GEMM_STORE0)    \
  } else {                    \
    VF vb = vf_set1(beta);    \
    GEMM_ROWS(GEMM_STORE)     \
  }

#if SIMD_W == 8
/* 6 x 16 tile: 12 ymm accumulators + 2 for the B row + 2 broadcasts of A,
 * all 16 ymm registers. Per depth step 12 FMAs (6 cycles at Zen 4's 2
 * FMA/cycle) against 2 loads and 6 broadcasts, so the FMA pipes bound it.
 * GCC's allocation of this loop spends moves on the tight register file
 * (about 7% slower), hence the main loop in inline assembly, 4 steps per trip;
 * the intrinsics below do the remaining kc % 4 steps and say the same thing.
 * kc = 384 (48 KiB L1d, gemm_blocked): a 24 KiB B micro-panel in L1, the A block in L2. */
#define GEMM_AVX2_ROW(r)                    \
  x = _mm256_broadcast_ss(a + (r));         \
  c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0); \
  c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1);
/* One depth step o of the unrolled loop: A at a + 24*o, B at b + 64*o bytes. */
#define GEMM_AVX2_ASM_ROW(r, o, x, acc0, acc1)          \
  "vbroadcastss 24*" #o "+4*" #r "(%[a]), %%" #x "\n\t" \
  "vfmadd231ps %%ymm0, %%" #x ", %[" #acc0 "]\n\t"      \
  "vfmadd231ps %%ymm1, %%" #x ", %[" #acc1 "]\n\t"
#define GEMM_AVX2_ASM_STEP(o)                          \
  "vmovaps 64*" #o "(%[b]), %%ymm0\n\t"                \
  "vmovaps 64*" #o "+32(%[b]), %%ymm1\n\t"             \
  GEMM_AVX2_ASM_ROW(0, o, ymm2, c00, c01)              \
  GEMM_AVX2_ASM_ROW(1, o, ymm3, c10, c11)              \
  GEMM_AVX2_ASM_ROW(2, o, ymm2, c20, c21)              \
  GEMM_AVX2_ASM_ROW(3, o, ymm3, c30, c31)              \
  GEMM_AVX2_ASM_ROW(4, o, ymm2, c40, c41)              \
  GEMM_AVX2_ASM_ROW(5, o, ymm3, c50, c51)

DISTAC_TARGET_AVX2 static void gemm_kernel_avx2(int64_t kc, const float *restrict a,
                                                const float *restrict b, float *restrict c,
                                                int64_t ldc, float alpha, float beta) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  GEMM_ROWS(GEMM_PREFETCH) /* C arrives while the loop runs */
  int64_t trips = kc / 4;
  if (trips > 0) {
    __asm__ volatile(
        ".p2align 5\n\t"
        "1:\n\t"
        GEMM_AVX2_ASM_STEP(0) GEMM_AVX2_ASM_STEP(1) GEMM_AVX2_ASM_STEP(2) GEMM_AVX2_ASM_STEP(3)
        "add $96, %[a]\n\t"  /* 4 steps x 6 floats */
        "add $256, %[b]\n\t" /* 4 steps x 16 floats */
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        : [a] "+r"(a), [b] "+r"(b), [n] "+r"(trips), [c00] "+x"(c00), [c01] "+x"(c01),
          [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21), [c30] "+x"(c30),
          [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "memory", "cc");
  }
  for (int64_t p = kc / 4 * 4; p < kc; p++, a += GEMM_MR, b += GEMM_NR) {
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), x;
    GEMM_ROWS(GEMM_AVX2_ROW)
  }
  GEMM_EPILOGUE
}

/* The same tile with A read in place: row r of the panel at a + r*lda
 * (op(A) not transposed, so no A block is packed). The six rows are
 * addressed as a, a+l, a+2l, a3 = a+3l, a+4l, a3+2l (l = lda in bytes),
 * so each broadcast is still one instruction. */
#define GEMM_AVX2_ASM_ROWS_STEP(o)                                          \
  "vmovaps 64*" #o "(%[b]), %%ymm0\n\t"                                     \
  "vmovaps 64*" #o "+32(%[b]), %%ymm1\n\t"                                  \
  "vbroadcastss 4*" #o "(%[a]), %%ymm2\n\t"                                 \
  "vfmadd231ps %%ymm0, %%ymm2, %[c00]\n\t"                                  \
  "vfmadd231ps %%ymm1, %%ymm2, %[c01]\n\t"                                  \
  "vbroadcastss 4*" #o "(%[a],%[l],1), %%ymm3\n\t"                          \
  "vfmadd231ps %%ymm0, %%ymm3, %[c10]\n\t"                                  \
  "vfmadd231ps %%ymm1, %%ymm3, %[c11]\n\t"                                  \
  "vbroadcastss 4*" #o "(%[a],%[l],2), %%ymm2\n\t"                          \
  "vfmadd231ps %%ymm0, %%ymm2, %[c20]\n\t"                                  \
  "vfmadd231ps %%ymm1, %%ymm2, %[c21]\n\t"                                  \
  "vbroadcastss 4*" #o "(%[a3]), %%ymm3\n\t"                                \
  "vfmadd231ps %%ymm0, %%ymm3, %[c30]\n\t"                                  \
  "vfmadd231ps %%ymm1, %%ymm3, %[c31]\n\t"                                  \
  "vbroadcastss 4*" #o "(%[a],%[l],4), %%ymm2\n\t"                          \
  "vfmadd231ps %%ymm0, %%ymm2, %[c40]\n\t"                                  \
  "vfmadd231ps %%ymm1, %%ymm2, %[c41]\n\t"                                  \
  "vbroadcastss 4*" #o "(%[a3],%[l],2), %%ymm3\n\t"                         \
  "vfmadd231ps %%ymm0, %%ymm3, %[c50]\n\t"                                  \
  "vfmadd231ps %%ymm1, %%ymm3, %[c51]\n\t"
#define GEMM_AVX2_ROWS_ROW(r)                    \
  x = _mm256_broadcast_ss(a + (r) * lda);        \
  c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0);     \
  c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1);

DISTAC_TARGET_AVX2 static void gemm_kernel_rows_avx2(int64_t kc, const float *restrict a,
                                                     int64_t lda, const float *restrict b,
                                                     float *restrict c, int64_t ldc, float alpha,
                                                     float beta) {
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  GEMM_ROWS(GEMM_PREFETCH)
  int64_t trips = kc / 4, l = lda * (int64_t)sizeof(float);
  const float *a3 = a + 3 * lda;
  /* The accumulators are outputs only (zeroed here): as in-out operands the
   * asm would have more than GCC's 30. */
  __asm__ volatile(
      "vxorps %[c00], %[c00], %[c00]\n\t" "vxorps %[c01], %[c01], %[c01]\n\t"
      "vxorps %[c10], %[c10], %[c10]\n\t" "vxorps %[c11], %[c11], %[c11]\n\t"
      "vxorps %[c20], %[c20], %[c20]\n\t" "vxorps %[c21], %[c21], %[c21]\n\t"
      "vxorps %[c30], %[c30], %[c30]\n\t" "vxorps %[c31], %[c31], %[c31]\n\t"
      "vxorps %[c40], %[c40], %[c40]\n\t" "vxorps %[c41], %[c41], %[c41]\n\t"
      "vxorps %[c50], %[c50], %[c50]\n\t" "vxorps %[c51], %[c51], %[c51]\n\t"
      "test %[n], %[n]\n\t"
      "jz 2f\n\t"
      ".p2align 5\n\t"
      "1:\n\t"
      GEMM_AVX2_ASM_ROWS_STEP(0) GEMM_AVX2_ASM_ROWS_STEP(1) GEMM_AVX2_ASM_ROWS_STEP(2)
      GEMM_AVX2_ASM_ROWS_STEP(3)
      "add $16, %[a]\n\t" /* 4 steps along the rows */
      "add $16, %[a3]\n\t"
      "add $256, %[b]\n\t"
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "2:\n\t"
      : [a] "+r"(a), [a3] "+r"(a3), [b] "+r"(b), [n] "+r"(trips), [c00] "=&x"(c00),
        [c01] "=&x"(c01), [c10] "=&x"(c10), [c11] "=&x"(c11), [c20] "=&x"(c20),
        [c21] "=&x"(c21), [c30] "=&x"(c30), [c31] "=&x"(c31), [c40] "=&x"(c40),
        [c41] "=&x"(c41), [c50] "=&x"(c50), [c51] "=&x"(c51)
      : [l] "r"(l)
      : "xmm0", "xmm1", "xmm2", "xmm3", "memory", "cc");
  for (int64_t p = kc / 4 * 4; p < kc; p++, a++, b += GEMM_NR) {
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), x;
    GEMM_ROWS(GEMM_AVX2_ROWS_ROW)
  }
  GEMM_EPILOGUE
}
#else
/* 6 x 32 tile: two zmm accumulators per row, 12 in all. Zen 4 runs a zmm FMA
 * as two 256-bit halves, so peak FLOPs equal AVX2's; the gain is half the
 * instructions and broadcasts per FLOP. 6 x 32 measured as well as 12 x 32
 * and 14 x 32 (within noise) and packs A as cheaply as the AVX2 path.
 * kc = 384 (48 KiB L1d): the A block sits in L2; a 48 KiB B micro-panel
 * streams from L2 as well, which Zen 4's L2 bandwidth covers. */
#define GEMM_AVX512_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0;
#define GEMM_AVX512_FMA(r)                    \
  x = _mm512_set1_ps(a[r]);                   \
  c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);  \
  c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1);
#define GEMM_AVX512_STEP                               \
  b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16); \
  GEMM_ROWS(GEMM_AVX512_FMA)                           \
  a += GEMM_MR, b += GEMM_NR;

/* With 32 zmm registers the compiler keeps everything in registers. */
DISTAC_TARGET_AVX512 static void gemm_kernel_avx512(int64_t kc, const float *restrict a,
                                                    const float *restrict b, float *restrict c,
                                                    int64_t ldc, float alpha, float beta) {
  GEMM_ROWS(GEMM_AVX512_DECL)
  __m512 b0, b1, x;
  GEMM_ROWS(GEMM_PREFETCH) /* C arrives while the loop runs */
  int64_t p = 0;
  for (; p + 4 <= kc; p += 4) {
    GEMM_AVX512_STEP GEMM_AVX512_STEP GEMM_AVX512_STEP GEMM_AVX512_STEP
  }
  for (; p < kc; p++) {
    GEMM_AVX512_STEP
  }
  GEMM_EPILOGUE
}

/* The same tile with A read in place (row r at a + r*lda): no A block to
 * pack, which at 256^3 was a tenth of the time. */
#define GEMM_AVX512_ROWS_FMA(r)               \
  x = _mm512_set1_ps(a[(r) * lda]);           \
  c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);  \
  c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1);
#define GEMM_AVX512_ROWS_STEP                          \
  b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16); \
  GEMM_ROWS(GEMM_AVX512_ROWS_FMA)                      \
  a++, b += GEMM_NR;

DISTAC_TARGET_AVX512 static void gemm_kernel_rows_avx512(int64_t kc, const float *restrict a,
                                                         int64_t lda, const float *restrict b,
                                                         float *restrict c, int64_t ldc,
                                                         float alpha, float beta) {
  GEMM_ROWS(GEMM_AVX512_DECL)
  __m512 b0, b1, x;
  GEMM_ROWS(GEMM_PREFETCH)
  int64_t p = 0;
  for (; p + 4 <= kc; p += 4) {
    GEMM_AVX512_ROWS_STEP GEMM_AVX512_ROWS_STEP GEMM_AVX512_ROWS_STEP GEMM_AVX512_ROWS_STEP
  }
  for (; p < kc; p++) {
    GEMM_AVX512_ROWS_STEP
  }
  GEMM_EPILOGUE
}
#endif

_Static_assert(GEMM_MR * GEMM_NR <= GEMM_MAX_TILE, "edge tile buffer too small");
GEMM_IMPL(SIMD_PICK(DISTAC_TARGET_AVX2, DISTAC_TARGET_AVX512))

#undef GEMM_MR
#undef GEMM_NR
#undef GEMM_ROWS
#undef GEMM_PREFETCH
#undef GEMM_STORE0
#undef GEMM_STORE
#undef GEMM_EPILOGUE
