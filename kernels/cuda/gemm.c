/*
 * gemm.c — launchers of gemm.cu, with distac_sgemm's argument rules.
 */
#include "driver.h"

static int gm_args_ok(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                      int64_t ldc) {
  if (m < 0 || n < 0 || k < 0) return 0;
  int64_t ac = ta ? m : k, bc = tb ? k : n;
  return lda >= (ac > 1 ? ac : 1) && ldb >= (bc > 1 ? bc : 1) && ldc >= (n > 1 ? n : 1);
}

/* The launch of kernel `kid` (K_SGEMM or K_SGEMM_BF16, same arguments). */
static int gm_launch(distac_cuda *c, int kid, int trans_a, int trans_b, int64_t m, int64_t n,
                     int64_t k, int64_t batch, float alpha, CUdeviceptr a, int64_t lda,
                     int64_t stride_a, CUdeviceptr b, int64_t ldb, int64_t stride_b, float beta,
                     CUdeviceptr cc, int64_t ldc, int64_t stride_c, CUstream s) {
  if (!c || !gm_args_ok(trans_a, trans_b, m, n, k, lda, ldb, ldc) || batch < 0 || stride_a < 0 ||
      stride_b < 0 || stride_c < 0)
    return DISTAC_EINVAL;
  if (batch > 1 && m > 0 && n > 0 && stride_c < (m - 1) * ldc + n) return DISTAC_EINVAL;
  if (m == 0 || n == 0 || batch == 0) return DISTAC_OK;
  if (!cc || (k > 0 && alpha != 0.0f && (!a || !b))) return DISTAC_EINVAL;
  if ((m + 63) / 64 > 65535) return DISTAC_EINVAL; /* grid y limit: 4M rows */
  int ta = trans_a != 0, tb = trans_b != 0;
  void *p[] = {&ta, &tb, &m, &n, &k, &alpha, &a, &lda, &stride_a, &b, &ldb, &stride_b,
               &beta, &cc, &ldc, &stride_c, &batch};
  unsigned gz = batch > 65535 ? 65535u : (unsigned)batch;
  return dc_launch(c, kid, (unsigned)((n + 63) / 64), (unsigned)((m + 63) / 64), gz, 256, 1, 1, 0, s, p);
}

int distac_cuda_sgemm_strided_batched(distac_cuda *c, int trans_a, int trans_b, int64_t m,
                                      int64_t n, int64_t k, int64_t batch, float alpha,
                                      CUdeviceptr a, int64_t lda, int64_t stride_a, CUdeviceptr b,
                                      int64_t ldb, int64_t stride_b, float beta, CUdeviceptr cc,
                                      int64_t ldc, int64_t stride_c, CUstream s) {
  return gm_launch(c, K_SGEMM, trans_a, trans_b, m, n, k, batch, alpha, a, lda, stride_a, b, ldb,
                   stride_b, beta, cc, ldc, stride_c, s);
}

int distac_cuda_sgemm_bf16(distac_cuda *c, int trans_a, int trans_b, int64_t m, int64_t n,
                           int64_t k, float alpha, CUdeviceptr a, int64_t lda, CUdeviceptr b,
                           int64_t ldb, float beta, CUdeviceptr cc, int64_t ldc, CUstream s) {
  return gm_launch(c, K_SGEMM_BF16, trans_a, trans_b, m, n, k, 1, alpha, a, lda, 0, b, ldb, 0,
                   beta, cc, ldc, 0, s);
}

int distac_cuda_sgemm(distac_cuda *c, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, CUdeviceptr a, int64_t lda, CUdeviceptr b, int64_t ldb,
                      float beta, CUdeviceptr cc, int64_t ldc, CUstream s) {
  return distac_cuda_sgemm_strided_batched(c, trans_a, trans_b, m, n, k, 1, alpha, a, lda, 0, b, ldb, 0,
                                           beta, cc, ldc, 0, s);
}
