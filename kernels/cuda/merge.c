/*
 * merge.c — launchers of topk.cu, ties.cu, tall.cu and dare.cu (the merge
 * methods' ops of distac_cuda.h), with the CPU kernels' argument rules.
 */
#include "driver.h"

#define MG_THREADS 256
#define MG_PER_BLOCK (MG_THREADS * 8)

int distac_cuda_abs_histogram(distac_cuda *c, CUdeviceptr x, int64_t n, int32_t shift, int32_t bits,
                              uint32_t prefix, CUdeviceptr hist, CUstream s) {
  if (!c || n < 0 || bits < 1 || bits > 16 || shift < 0 || shift >= 32 || !hist || (n > 0 && !x))
    return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  int sh = shift, b = bits;
  void *p[] = {&x, &n, &sh, &b, &prefix, &hist};
  return dc_launch(c, K_ABS_HIST, dc_blocks(n, MG_PER_BLOCK * 4), 1, 1, MG_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_abs_window(distac_cuda *c, CUdeviceptr x, int64_t n, uint32_t lo, uint32_t span,
                           CUdeviceptr hist, CUdeviceptr above, CUstream s) {
  if (!c || n < 0 || span < 1 || (uint64_t)lo + span > (1ull << 31) || !hist || !above || (n > 0 && !x))
    return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  void *p[] = {&x, &n, &lo, &span, &hist, &above};
  return dc_launch(c, K_ABS_WINDOW, dc_blocks(n, MG_PER_BLOCK * 4), 1, 1, MG_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_ties_trim(distac_cuda *c, CUdeviceptr dst, CUdeviceptr x, int64_t n,
                          float threshold, CUstream s) {
  if (!c || n < 0 || (n > 0 && (!dst || !x))) return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  void *p[] = {&dst, &x, &n, &threshold};
  return dc_launch(c, K_TIES_TRIM, dc_blocks(n, MG_PER_BLOCK), 1, 1, MG_THREADS, 1, 1, 0, s, p);
}

static int mg_inputs_ok(int32_t count, const CUdeviceptr *xs, const float *f, int64_t n) {
  if (count < 1 || n < 0 || !xs || !f) return 0;
  for (int32_t t = 0; t < count && n > 0; t++)
    if (!xs[t]) return 0;
  return 1;
}

int distac_cuda_ties_merge(distac_cuda *c, CUdeviceptr dst, int32_t count, const CUdeviceptr *xs,
                           const float *thresholds, int64_t n, CUstream s) {
  if (!c || !mg_inputs_ok(count, xs, thresholds, n) || (n > 0 && !dst)) return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  CUdeviceptr table = 0;
  int rc = dc_upload_table(c, count, xs, thresholds, s, &table);
  if (rc != DISTAC_OK) return rc;
  CUdeviceptr thr = table + (CUdeviceptr)count * sizeof(CUdeviceptr);
  int cnt = count;
  void *p[] = {&dst, &cnt, &table, &thr, &n};
  rc = dc_launch(c, K_TIES_MERGE, dc_blocks(n, MG_PER_BLOCK), 1, 1, MG_THREADS, 1, 1, 0, s, p);
  dc_scratch_free(c, table, s);
  return rc;
}

int distac_cuda_tall_consensus(distac_cuda *c, CUdeviceptr dst, CUdeviceptr counts, int32_t count,
                               const CUdeviceptr *xs, const float *lambdas, int32_t min_agree,
                               int64_t n, CUstream s) {
  if (!c || count > 255 || !mg_inputs_ok(count, xs, lambdas, n)) return DISTAC_EINVAL;
  if (n == 0 || (!dst && !counts)) return DISTAC_OK;
  CUdeviceptr table = 0;
  int rc = dc_upload_table(c, count, xs, lambdas, s, &table);
  if (rc != DISTAC_OK) return rc;
  CUdeviceptr lam = table + (CUdeviceptr)count * sizeof(CUdeviceptr);
  int cnt = count, ma = min_agree;
  void *p[] = {&dst, &counts, &cnt, &table, &lam, &ma, &n};
  rc = dc_launch(c, K_TALL, dc_blocks(n, MG_PER_BLOCK), 1, 1, MG_THREADS, 1, 1, 0, s, p);
  dc_scratch_free(c, table, s);
  return rc;
}

int distac_cuda_dare_drop(distac_cuda *c, CUdeviceptr x, int64_t n, uint64_t key, uint64_t first,
                          double p, CUstream s) {
  if (!c || n < 0 || (n > 0 && !x) || !(p >= 0 && p < 1)) return DISTAC_EINVAL;
  if (n == 0 || p == 0) return DISTAC_OK;
  void *a[] = {&x, &n, &key, &first, &p};
  return dc_launch(c, K_DARE, dc_blocks(n, MG_PER_BLOCK), 1, 1, MG_THREADS, 1, 1, 0, s, a);
}
