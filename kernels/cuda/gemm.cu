/*
 * gemm.cu — fp32 GEMM, C = alpha op(A) op(B) + beta C, row-major, every
 * transpose, strided batch over blockIdx.z (kernels/avx/gemm.c is the CPU
 * twin). Version 1: a plain tiled SIMT kernel, correctness first: 64 x 64
 * tiles of C per 256-thread block, each thread 4 x 4 outputs, k in steps of
 * 16 through shared memory, one fp32 FMA chain per output in k order.
 * beta == 0 writes C without reading it; k == 0 or alpha == 0 gives beta C.
 *
 * distac_sgemm_bf16_k is the same kernel on operands rounded to bf16 as they
 * are loaded (distac_sgemm_bf16's semantics: exact products, fp32 sums), so
 * --precision bf16 runs on the GPU with the CPU's numbers, at SIMT speed.
 *
 * Not yet written: TF32 and bf16 tensor-core versions (mma.sync on sm_80,
 * wgmma + TMA on sm_90a). Never run on a GPU.
 */
#include "common.cuh"

#define GM_BM 64
#define GM_BN 64
#define GM_BK 16

/* op(X)[i][j] of a rows x cols op(X), row-major X with leading dimension ld
 * (transposed when t), or 0 outside it: the zero padding of edge tiles. */
template <bool BF16>
DEV float gm_op_at(const float *X, int t, i64 ld, i64 i, i64 j, i64 rows, i64 cols) {
  if (i >= rows || j >= cols) return 0.0f;
  float x = t ? X[j * ld + i] : X[i * ld + j];
  return BF16 ? dc_bf16_to_f32(dc_f32_to_bf16(x)) : x;
}

template <bool BF16>
DEV void gm_body(int ta, int tb, i64 m, i64 n, i64 k, float alpha, const float *a, i64 lda, i64 sa, const float *b,
                 i64 ldb, i64 sb, float beta, float *c, i64 ldc, i64 sc, i64 batch) {
  __shared__ float As[GM_BK][GM_BM + 4];
  __shared__ float Bs[GM_BK][GM_BN + 4];
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  const i64 row0 = (i64)blockIdx.y * GM_BM, col0 = (i64)blockIdx.x * GM_BN;
  const int compute = k > 0 && alpha != 0.0f;
  for (i64 q = blockIdx.z; q < batch; q += gridDim.z) {
    const float *A = a + q * sa, *B = b + q * sb;
    float *C = c + q * sc;
    float acc[4][4];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
    for (i64 p0 = 0; compute && p0 < k; p0 += GM_BK) {
      /* 64 x 16 of op(A) and 16 x 64 of op(B): 1024 values each, 4 per thread */
      for (int e = threadIdx.x; e < GM_BM * GM_BK; e += 256) {
        int i = e / GM_BK, p = e % GM_BK; /* op(A)[row0+i][p0+p] */
        As[p][i] = gm_op_at<BF16>(A, ta, lda, row0 + i, p0 + p, m, k);
      }
      for (int e = threadIdx.x; e < GM_BK * GM_BN; e += 256) {
        int p = e / GM_BN, j = e % GM_BN; /* op(B)[p0+p][col0+j] */
        Bs[p][j] = gm_op_at<BF16>(B, tb, ldb, p0 + p, col0 + j, k, n);
      }
      dc_sync();
      for (int p = 0; p < GM_BK; p++) {
        float av[4], bv[4];
        for (int i = 0; i < 4; i++) av[i] = As[p][ty + 16 * i];
        for (int j = 0; j < 4; j++) bv[j] = Bs[p][tx + 16 * j];
        for (int i = 0; i < 4; i++)
          for (int j = 0; j < 4; j++) acc[i][j] = dc_fma(av[i], bv[j], acc[i][j]);
      }
      dc_sync();
    }
    for (int i = 0; i < 4; i++) {
      i64 gi = row0 + ty + 16 * i;
      if (gi >= m) continue;
      for (int j = 0; j < 4; j++) {
        i64 gj = col0 + tx + 16 * j;
        if (gj >= n) continue;
        float v = alpha * acc[i][j];
        if (beta != 0.0f) v = dc_fma(beta, C[gi * ldc + gj], v);
        C[gi * ldc + gj] = v;
      }
    }
  }
}

KERNEL void __launch_bounds__(256) distac_sgemm_k(int ta, int tb, i64 m, i64 n, i64 k, float alpha, const float *a,
                                                  i64 lda, i64 sa, const float *b, i64 ldb, i64 sb, float beta,
                                                  float *c, i64 ldc, i64 sc, i64 batch) {
  gm_body<false>(ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch);
}

KERNEL void __launch_bounds__(256) distac_sgemm_bf16_k(int ta, int tb, i64 m, i64 n, i64 k, float alpha,
                                                       const float *a, i64 lda, i64 sa, const float *b, i64 ldb,
                                                       i64 sb, float beta, float *c, i64 ldc, i64 sc, i64 batch) {
  gm_body<true>(ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch);
}
