/*
 * taskvec.c — launchers of taskvec.cu and convert.cu: the task-vector ops of
 * distac_cuda.h. Arguments are checked as the CPU kernels check them
 * (kernels/avx/taskvec.c, convert.c) before anything is queued.
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"

#define TV_THREADS 256
#define TV_PER_BLOCK (TV_THREADS * 8)

int distac_cuda_convert(distac_cuda *c, distac_dtype dst_type, CUdeviceptr dst,
                        distac_dtype src_type, CUdeviceptr src, int64_t n, CUstream s) {
  if (!c || !dc_dtype_ok(dst_type) || !dc_dtype_ok(src_type) || n < 0 || (n > 0 && (!dst || !src)))
    return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  int dt = (int)dst_type, st = (int)src_type;
  void *p[] = {&dt, &dst, &st, &src, &n};
  return dc_launch(c, K_CONVERT, dc_blocks(n, TV_PER_BLOCK), 1, 1, TV_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_sub(distac_cuda *c, CUdeviceptr dst, distac_dtype ft_type, CUdeviceptr ft,
                    distac_dtype base_type, CUdeviceptr base, int64_t n, CUstream s) {
  if (!c || !dc_dtype_ok(ft_type) || !dc_dtype_ok(base_type) || n < 0 || (n > 0 && (!dst || !ft || !base)))
    return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  int a = (int)ft_type, b = (int)base_type;
  void *p[] = {&dst, &a, &ft, &b, &base, &n};
  return dc_launch(c, K_SUB, dc_blocks(n, TV_PER_BLOCK), 1, 1, TV_THREADS, 1, 1, 0, s, p);
}

/* Shared by sumsq and anchored_sumsq: block sums into scratch, then their
 * sum. blocks_params must hold the scratch pointer through *scratch_slot. */
int dc_sumsq_blocks(distac_cuda *c, int blocks_kernel, int finish_kernel, void **blocks_params,
                    int64_t n, CUdeviceptr *scratch_slot, CUdeviceptr out, CUstream s) {
  int64_t nb = (n + 65535) / 65536;
  CUdeviceptr sums = 0;
  int rc = dc_scratch(c, (size_t)nb * sizeof(double), s, &sums);
  if (rc != DISTAC_OK) return rc;
  *scratch_slot = sums;
  /* 16 threads per block of 65536: 8 blocks per 128-thread CTA. */
  if (nb > 0) rc = dc_launch(c, blocks_kernel, dc_blocks(nb, 8), 1, 1, 128, 1, 1, 0, s, blocks_params);
  if (rc == DISTAC_OK) {
    void *fp[] = {&sums, &nb, &out};
    rc = dc_launch(c, finish_kernel, 1, 1, 1, 32, 1, 1, 0, s, fp);
  }
  dc_scratch_free(c, sums, s);
  return rc;
}

int distac_cuda_sumsq(distac_cuda *c, CUdeviceptr x, int64_t n, CUdeviceptr out, CUstream s) {
  if (!c || !out || n < 0 || (n > 0 && !x)) return DISTAC_EINVAL;
  CUdeviceptr sums = 0;
  void *p[] = {&x, &n, &sums};
  return dc_sumsq_blocks(c, K_SUMSQ_BLOCKS, K_SUMSQ_FINISH, p, n, &sums, out, s);
}

int distac_cuda_scale(distac_cuda *c, CUdeviceptr x, int64_t n, float a, CUstream s) {
  if (!c || n < 0 || (n > 0 && !x)) return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  void *p[] = {&x, &n, &a};
  return dc_launch(c, K_SCALE, dc_blocks(n, TV_PER_BLOCK), 1, 1, TV_THREADS, 1, 1, 0, s, p);
}

int distac_cuda_axpy(distac_cuda *c, int64_t n, float a, CUdeviceptr x, CUdeviceptr y, CUstream s) {
  if (!c || n < 0 || (n > 0 && (!x || !y))) return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  void *p[] = {&n, &a, &x, &y};
  return dc_launch(c, K_AXPY, dc_blocks(n, TV_PER_BLOCK), 1, 1, TV_THREADS, 1, 1, 0, s, p);
}

/* Copies count device pointers and count floats into one scratch block:
 * pointers first (8-byte aligned), then the floats. */
int dc_upload_table(distac_cuda *c, int32_t count, const CUdeviceptr *xs, const float *w,
                    CUstream s, CUdeviceptr *table) {
  size_t bytes = (size_t)count * (sizeof(CUdeviceptr) + sizeof(float));
  unsigned char *buf = (unsigned char *)malloc(bytes);
  if (!buf) return DISTAC_ENOMEM;
  memcpy(buf, xs, (size_t)count * sizeof(CUdeviceptr));
  memcpy(buf + (size_t)count * sizeof(CUdeviceptr), w, (size_t)count * sizeof(float));
  /* a pageable source is staged before the async copy returns, so buf may go */
  int rc = dc_upload_scratch(c, buf, bytes, s, table);
  free(buf);
  return rc;
}

int distac_cuda_wsum(distac_cuda *c, CUdeviceptr dst, int32_t count, const CUdeviceptr *xs,
                     const float *w, int64_t n, CUstream s) {
  if (!c || count < 1 || n < 0) return DISTAC_EINVAL;
  if (n == 0) return DISTAC_OK;
  if (!dst || !xs || !w) return DISTAC_EINVAL;
  for (int32_t t = 0; t < count; t++)
    if (!xs[t]) return DISTAC_EINVAL;
  CUdeviceptr table = 0;
  int rc = dc_upload_table(c, count, xs, w, s, &table);
  if (rc != DISTAC_OK) return rc;
  CUdeviceptr wp = table + (CUdeviceptr)count * sizeof(CUdeviceptr);
  int cnt = count;
  void *p[] = {&dst, &cnt, &table, &wp, &n};
  rc = dc_launch(c, K_WSUM, dc_blocks(n, TV_PER_BLOCK), 1, 1, TV_THREADS, 1, 1, 0, s, p);
  dc_scratch_free(c, table, s);
  return rc;
}
