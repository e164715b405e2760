/*
 * distac_cuda.h — the C ABI of distac's CUDA kernels (kernels/cuda/).
 *
 * NONE OF THIS HAS EVER RUN ON A GPU. It builds and its loader is tested
 * against stub driver libraries; the kernels are unverified until
 * scripts/gpu-check.sh passes on a machine with an NVIDIA GPU.
 *
 * Plain C11, usable from C++ (extern "C"). No CUDA library is linked: the
 * CUDA driver (libcuda.so.1, or $DISTAC_LIBCUDA) is opened with dlopen by
 * distac_cuda_open, which loads the kernels' PTX (committed in
 * kernels/cuda/ptx/, JIT-compiled by the driver for the GPU it finds) into
 * the device's primary context, the one the CUDA runtime uses too, so
 * pointers and streams from cudaMalloc/cudaStreamCreate work here.
 *
 * Every op takes device pointers (CUdeviceptr; 0 where an optional output is
 * absent), sizes and leading dimensions in elements, and a CUstream last
 * (0: the legacy default stream). Ops are queued on the stream and return at
 * once; an op returns a status (the codes of distac_kernels.h plus those
 * below) and queues nothing when its arguments are invalid. The semantics of
 * each op are those of its CPU twin in distac_kernels.h / distac_train.h,
 * which is the specification; where results differ in the last bits the
 * comment of the op says so. Scalars that an op returns (losses, sums) are
 * written to device memory (a double), read them after the stream syncs.
 *
 * A distac_cuda handle may be used from any host thread; ops on different
 * streams may run concurrently. Ops that need scratch memory take it from
 * the stream-ordered allocator (cuMemAllocAsync) on their stream.
 */
#ifndef DISTAC_CUDA_H
#define DISTAC_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "distac_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1: first version. 2: added distac_cuda_sgemm_bf16. */
#define DISTAC_CUDA_ABI_VERSION 2

/* Status codes besides DISTAC_OK, DISTAC_EINVAL and DISTAC_ENOMEM. */
#define DISTAC_ECUDA (-10)     /* a CUDA driver call failed: distac_cuda_last_error() names it */
#define DISTAC_ENODRIVER (-11) /* no usable CUDA driver: library missing, or too old */
#define DISTAC_ENODEVICE (-12) /* no CUDA device, or none this build can run on */

#ifndef __cuda_cuda_h__
typedef unsigned long long CUdeviceptr;
typedef struct CUstream_st *CUstream;
#endif

typedef struct distac_cuda distac_cuda;

/* One PTX module: its family name (e.g. "taskvec") and NUL-terminated text. */
typedef struct distac_cuda_module {
  const char *name;
  const char *ptx;
} distac_cuda_module;

/* What distac_cuda_info reports. */
typedef struct distac_cuda_device_info {
  char name[256];
  int ordinal, cc_major, cc_minor, multiprocessors;
  int driver_version;  /* e.g. 12040 for CUDA 12.4 */
  int memory_pools;    /* 1 if cuMemAllocAsync is supported */
  size_t total_memory; /* bytes */
  const char *ptx_arch; /* "sm_90a" or "sm_80": the PTX set loaded */
  const char *library;  /* the driver library that was opened */
} distac_cuda_device_info;

/* Opens the driver and device `ordinal`, and loads the kernels: sm_90a PTX on
 * compute capability 9.0, sm_80 PTX on any other 8.0 or newer. On failure
 * *out is NULL and err (if not NULL) holds one line saying why (no driver
 * library, driver older than CUDA 12.0, no device, compute capability below
 * 8.0, a PTX the driver rejects, with its JIT log).
 * distac_cuda_open uses the PTX embedded in the library (CMake target
 * distac::cuda); distac_cuda_open_modules takes the caller's. */
int distac_cuda_open(int ordinal, distac_cuda **out, char *err, size_t errlen);
int distac_cuda_open_modules(int ordinal, const distac_cuda_module *sm80, int n80,
                             const distac_cuda_module *sm90a, int n90a, distac_cuda **out,
                             char *err, size_t errlen);
/* Counts the devices of the driver without opening one (0 and DISTAC_OK if
 * the driver has none); err says why it fails otherwise. */
int distac_cuda_device_count(int *count, char *err, size_t errlen);
void distac_cuda_close(distac_cuda *c);
int distac_cuda_info(const distac_cuda *c, distac_cuda_device_info *info);
/* The last driver error of this handle, as one line naming the call
 * ("cuLaunchKernel(distac_sub): CUDA_ERROR_LAUNCH_FAILED: unspecified launch
 * failure"), copied into buf; "" if none. */
void distac_cuda_last_error(distac_cuda *c, char *buf, size_t len);

/* Memory and streams (what a host without the CUDA runtime needs). */
int distac_cuda_stream_create(distac_cuda *c, CUstream *s);
int distac_cuda_stream_destroy(distac_cuda *c, CUstream s);
int distac_cuda_sync(distac_cuda *c, CUstream s);
int distac_cuda_alloc(distac_cuda *c, size_t bytes, CUstream s, CUdeviceptr *p);
int distac_cuda_free(distac_cuda *c, CUdeviceptr p, CUstream s);
int distac_cuda_upload(distac_cuda *c, CUdeviceptr dst, const void *src, size_t bytes, CUstream s);
/* Queues the copy and waits for it (and everything before it on s). */
int distac_cuda_download(distac_cuda *c, void *dst, CUdeviceptr src, size_t bytes, CUstream s);
int distac_cuda_memset0(distac_cuda *c, CUdeviceptr dst, size_t bytes, CUstream s);
/* Milliseconds the work queued on s between the two calls takes (an event
 * pair; for the validators' timing tables). */
int distac_cuda_timer_start(distac_cuda *c, CUstream s, void **timer);
int distac_cuda_timer_stop(distac_cuda *c, CUstream s, void *timer, float *ms);

/* ------------------------------------------------------------ GEMM (gemm.cu)
 * distac_sgemm: C = alpha op(A) op(B) + beta C, fp32, row-major, every
 * transpose; beta == 0 writes C without reading it. Tiled SIMT kernel, fp32
 * FMAs in k order per output: not the CPU's bits, ~1e-6 relative. */
int distac_cuda_sgemm(distac_cuda *c, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, CUdeviceptr a, int64_t lda, CUdeviceptr b, int64_t ldb,
                      float beta, CUdeviceptr cc, int64_t ldc, CUstream s);
int distac_cuda_sgemm_strided_batched(distac_cuda *c, int trans_a, int trans_b, int64_t m,
                                      int64_t n, int64_t k, int64_t batch, float alpha,
                                      CUdeviceptr a, int64_t lda, int64_t stride_a, CUdeviceptr b,
                                      int64_t ldb, int64_t stride_b, float beta, CUdeviceptr cc,
                                      int64_t ldc, int64_t stride_c, CUstream s);
/* distac_sgemm_bf16 (distac_kernels.h): the same kernel on operands rounded
 * to bf16 as they are loaded, fp32 sums (SIMT, not tensor cores). Added in
 * ABI 2. */
int distac_cuda_sgemm_bf16(distac_cuda *c, int trans_a, int trans_b, int64_t m, int64_t n,
                           int64_t k, float alpha, CUdeviceptr a, int64_t lda, CUdeviceptr b,
                           int64_t ldb, float beta, CUdeviceptr cc, int64_t ldc, CUstream s);

/* ------------------------------------------------ losses (kl.cu, xent.cu)
 * *loss (a device double) as distac_kl_distill / distac_xent_ls; grad 0: loss
 * only. Row losses are summed in row order (the same bits on every run). */
int distac_cuda_kl_distill(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr zt,
                           int64_t ldt, CUdeviceptr zs, int64_t lds, float t_tcr, float t_stu,
                           CUdeviceptr loss, CUdeviceptr grad, int64_t ldg, CUstream s);
int distac_cuda_xent_ls(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr z, int64_t ldz,
                        CUdeviceptr labels, float eps, CUdeviceptr loss, CUdeviceptr grad,
                        int64_t ldg, CUstream s);

/* ------------------------------- task-vector ops (convert.cu, taskvec.cu)
 * As distac_convert, distac_sub, distac_sumsq (the same blocks, lanes and
 * order: the CPU's bits), distac_scale, distac_axpy, distac_wsum. xs and w
 * are host arrays (of device pointers, of weights), copied to the device. */
int distac_cuda_convert(distac_cuda *c, distac_dtype dst_type, CUdeviceptr dst,
                        distac_dtype src_type, CUdeviceptr src, int64_t n, CUstream s);
int distac_cuda_sub(distac_cuda *c, CUdeviceptr dst, distac_dtype ft_type, CUdeviceptr ft,
                    distac_dtype base_type, CUdeviceptr base, int64_t n, CUstream s);
int distac_cuda_sumsq(distac_cuda *c, CUdeviceptr x, int64_t n, CUdeviceptr out, CUstream s);
int distac_cuda_scale(distac_cuda *c, CUdeviceptr x, int64_t n, float a, CUstream s);
int distac_cuda_axpy(distac_cuda *c, int64_t n, float a, CUdeviceptr x, CUdeviceptr y, CUstream s);
int distac_cuda_wsum(distac_cuda *c, CUdeviceptr dst, int32_t count, const CUdeviceptr *xs,
                     const float *w, int64_t n, CUstream s);

/* ----------------------------- top-k, TIES, TALL, DARE (topk.cu, ties.cu,
 * tall.cu, dare.cu): as their CPU twins (hist and above are uint64 counts,
 * added to). dare_drop zeroes x[i] unless ffi.DareKeep(key, first + i, p). */
int distac_cuda_abs_histogram(distac_cuda *c, CUdeviceptr x, int64_t n, int32_t shift, int32_t bits,
                              uint32_t prefix, CUdeviceptr hist, CUstream s);
int distac_cuda_abs_window(distac_cuda *c, CUdeviceptr x, int64_t n, uint32_t lo, uint32_t span,
                           CUdeviceptr hist, CUdeviceptr above, CUstream s);
int distac_cuda_ties_trim(distac_cuda *c, CUdeviceptr dst, CUdeviceptr x, int64_t n,
                          float threshold, CUstream s);
int distac_cuda_ties_merge(distac_cuda *c, CUdeviceptr dst, int32_t count, const CUdeviceptr *xs,
                           const float *thresholds, int64_t n, CUstream s);
int distac_cuda_tall_consensus(distac_cuda *c, CUdeviceptr dst, CUdeviceptr counts, int32_t count,
                               const CUdeviceptr *xs, const float *lambdas, int32_t min_agree,
                               int64_t n, CUstream s);
int distac_cuda_dare_drop(distac_cuda *c, CUdeviceptr x, int64_t n, uint64_t key, uint64_t first,
                          double p, CUstream s);

/* ------------------------------------------------------------ training ops
 * As distac_train.h (layernorm.cu, gelu.cu, softmax.cu, bias.cu,
 * attention.cu, l2norm.cu, adam.cu). Accumulators (dgamma, dbeta, db) are
 * added to with the CPU's row blocks and float64 block order. */
int distac_cuda_layernorm_forward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr x,
                                  int64_t ldx, CUdeviceptr gamma, CUdeviceptr beta, float eps,
                                  CUdeviceptr y, int64_t ldy, CUdeviceptr mean, CUdeviceptr rstd,
                                  CUstream s);
int distac_cuda_layernorm_backward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr dy,
                                   int64_t lddy, CUdeviceptr x, int64_t ldx, CUdeviceptr mean,
                                   CUdeviceptr rstd, CUdeviceptr gamma, CUdeviceptr dx,
                                   int64_t lddx, int accumulate, CUdeviceptr dgamma,
                                   CUdeviceptr dbeta, CUstream s);
int distac_cuda_gelu_forward(distac_cuda *c, distac_gelu_kind kind, int64_t n, CUdeviceptr x,
                             CUdeviceptr y, CUstream s);
int distac_cuda_gelu_backward(distac_cuda *c, distac_gelu_kind kind, int64_t n, CUdeviceptr x,
                              CUdeviceptr dy, CUdeviceptr dx, CUstream s);
int distac_cuda_softmax_forward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr x,
                                int64_t ldx, CUdeviceptr y, int64_t ldy, CUstream s);
int distac_cuda_softmax_backward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr y,
                                 int64_t ldy, CUdeviceptr dy, int64_t lddy, CUdeviceptr dx,
                                 int64_t lddx, CUstream s);
int distac_cuda_bias_add(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr y, int64_t ldy,
                         CUdeviceptr b, CUstream s);
int distac_cuda_bias_grad(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr dy, int64_t lddy,
                          CUdeviceptr db, CUstream s);
int distac_cuda_attention_forward(distac_cuda *c, int64_t batch, int64_t seq, int64_t heads,
                                  int64_t head_dim, float scale, CUdeviceptr qkv, int64_t ldqkv,
                                  CUdeviceptr probs, CUdeviceptr out, int64_t ldout, CUstream s);
int distac_cuda_attention_backward(distac_cuda *c, int64_t batch, int64_t seq, int64_t heads,
                                   int64_t head_dim, float scale, CUdeviceptr qkv, int64_t ldqkv,
                                   CUdeviceptr probs, CUdeviceptr dout, int64_t lddout,
                                   CUdeviceptr dqkv, int64_t lddqkv, CUstream s);
int distac_cuda_l2norm_forward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr x,
                               int64_t ldx, float eps, CUdeviceptr y, int64_t ldy, CUdeviceptr norm,
                               CUstream s);
int distac_cuda_l2norm_backward(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr dy,
                                int64_t lddy, CUdeviceptr y, int64_t ldy, CUdeviceptr norm, float eps,
                                CUdeviceptr dx, int64_t lddx, CUstream s);
int distac_cuda_adam_step(distac_cuda *c, int64_t n, CUdeviceptr theta, CUdeviceptr grad,
                          CUdeviceptr m, CUdeviceptr v, CUdeviceptr theta_init, float lr, float b1,
                          float b2, float eps, float beta_anchor, float clip_scale, int64_t step,
                          CUstream s);
/* *out (a device double) = sum (grad + 2 beta (theta - theta_init))^2, in the
 * blocks, lanes and order of distac_sumsq. */
int distac_cuda_anchored_sumsq(distac_cuda *c, int64_t n, CUdeviceptr grad, CUdeviceptr theta,
                               CUdeviceptr theta_init, float beta_anchor, CUdeviceptr out,
                               CUstream s);

#ifdef __cplusplus
}
#endif
#endif /* DISTAC_CUDA_H */
