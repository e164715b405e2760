/*
 * driver.h — internal to the CUDA launchers (not the ABI): the handle
 * behind distac_cuda, the driver entry points opened with dlopen, the table
 * of kernels, and the launch helper. driver.c opens and checks; each
 * <family>.c validates its op's arguments like the CPU kernel does and
 * launches the kernels of <family>.cu.
 */
#ifndef DISTAC_CUDA_DRIVER_H
#define DISTAC_CUDA_DRIVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "distac_cuda.h"

/* The driver API's types, as cuda.h declares them (only what we use). */
typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUevent_st *CUevent;

#define DC_CUDA_SUCCESS 0
#define DC_CUDA_ERROR_NO_DEVICE 100
#define DC_ATTR_MULTIPROCESSOR_COUNT 16
#define DC_ATTR_CC_MAJOR 75
#define DC_ATTR_CC_MINOR 76
#define DC_ATTR_MAX_SHARED_OPTIN 97
#define DC_ATTR_MEMORY_POOLS 115
#define DC_JIT_INFO_LOG_BUFFER 3
#define DC_JIT_INFO_LOG_BUFFER_SIZE 4
#define DC_JIT_ERROR_LOG_BUFFER 5
#define DC_JIT_ERROR_LOG_BUFFER_SIZE 6
#define DC_STREAM_NON_BLOCKING 1
#define DC_FUNC_MAX_DYNAMIC_SHARED 8

/* The oldest driver the PTX (ISA 8.0) loads on: CUDA 12.0. */
#define DC_MIN_DRIVER 12000

/* Every driver function used: X(field, symbol, return, params). */
#define DC_DRIVER_FUNCS(X)                                                                      \
  X(Init, "cuInit", (unsigned flags))                                                           \
  X(DriverGetVersion, "cuDriverGetVersion", (int *v))                                           \
  X(GetErrorName, "cuGetErrorName", (CUresult e, const char **s))                               \
  X(GetErrorString, "cuGetErrorString", (CUresult e, const char **s))                           \
  X(DeviceGetCount, "cuDeviceGetCount", (int *n))                                               \
  X(DeviceGet, "cuDeviceGet", (CUdevice * d, int ordinal))                                      \
  X(DeviceGetName, "cuDeviceGetName", (char *name, int len, CUdevice d))                        \
  X(DeviceGetAttribute, "cuDeviceGetAttribute", (int *v, int attr, CUdevice d))                 \
  X(DeviceTotalMem, "cuDeviceTotalMem_v2", (size_t * bytes, CUdevice d))                        \
  X(PrimaryCtxRetain, "cuDevicePrimaryCtxRetain", (CUcontext * c, CUdevice d))                  \
  X(PrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", (CUdevice d))                            \
  X(CtxSetCurrent, "cuCtxSetCurrent", (CUcontext c))                                            \
  X(ModuleLoadDataEx, "cuModuleLoadDataEx",                                                     \
    (CUmodule * m, const void *image, unsigned n, int *opts, void **vals))                      \
  X(ModuleUnload, "cuModuleUnload", (CUmodule m))                                               \
  X(ModuleGetFunction, "cuModuleGetFunction", (CUfunction * f, CUmodule m, const char *name))   \
  X(FuncSetAttribute, "cuFuncSetAttribute", (CUfunction f, int attr, int value))                \
  X(LaunchKernel, "cuLaunchKernel",                                                             \
    (CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,             \
     unsigned bz, unsigned shmem, CUstream s, void **params, void **extra))                     \
  X(StreamCreate, "cuStreamCreate", (CUstream * s, unsigned flags))                             \
  X(StreamDestroy, "cuStreamDestroy_v2", (CUstream s))                                          \
  X(StreamSynchronize, "cuStreamSynchronize", (CUstream s))                                     \
  X(MemAlloc, "cuMemAlloc_v2", (CUdeviceptr * p, size_t bytes))                                 \
  X(MemFree, "cuMemFree_v2", (CUdeviceptr p))                                                   \
  X(MemAllocAsync, "cuMemAllocAsync", (CUdeviceptr * p, size_t bytes, CUstream s))              \
  X(MemFreeAsync, "cuMemFreeAsync", (CUdeviceptr p, CUstream s))                                \
  X(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2",                                                    \
    (CUdeviceptr dst, const void *src, size_t bytes, CUstream s))                               \
  X(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2",                                                    \
    (void *dst, CUdeviceptr src, size_t bytes, CUstream s))                                     \
  X(MemsetD8Async, "cuMemsetD8Async", (CUdeviceptr dst, unsigned char v, size_t n, CUstream s)) \
  X(EventCreate, "cuEventCreate", (CUevent * e, unsigned flags))                                \
  X(EventRecord, "cuEventRecord", (CUevent e, CUstream s))                                      \
  X(EventSynchronize, "cuEventSynchronize", (CUevent e))                                        \
  X(EventElapsedTime, "cuEventElapsedTime", (float *ms, CUevent a, CUevent b))                  \
  X(EventDestroy, "cuEventDestroy_v2", (CUevent e))

#define DC_FIELD(field, sym, params) CUresult (*field) params;
typedef struct dc_api {
  DC_DRIVER_FUNCS(DC_FIELD)
} dc_api;
#undef DC_FIELD

/* Every kernel: X(id, module (the .cu file's family), entry name). */
#define DC_KERNELS(X)                                      \
  X(K_CONVERT, "convert", "distac_convert_k")              \
  X(K_SUB, "taskvec", "distac_sub_k")                      \
  X(K_SUMSQ_BLOCKS, "taskvec", "distac_sumsq_blocks_k")    \
  X(K_SUMSQ_FINISH, "taskvec", "distac_sumsq_finish_k")    \
  X(K_SCALE, "taskvec", "distac_scale_k")                  \
  X(K_AXPY, "taskvec", "distac_axpy_k")                    \
  X(K_WSUM, "taskvec", "distac_wsum_k")                    \
  X(K_ABS_HIST, "topk", "distac_abs_histogram_k")          \
  X(K_ABS_WINDOW, "topk", "distac_abs_window_k")           \
  X(K_TIES_TRIM, "ties", "distac_ties_trim_k")             \
  X(K_TIES_MERGE, "ties", "distac_ties_merge_k")           \
  X(K_TALL, "tall", "distac_tall_consensus_k")             \
  X(K_DARE, "dare", "distac_dare_drop_k")                  \
  X(K_KL_ROWS, "kl", "distac_kl_rows_k")                   \
  X(K_KL_FINISH, "kl", "distac_kl_finish_k")               \
  X(K_XENT_ROWS, "xent", "distac_xent_rows_k")             \
  X(K_XENT_FINISH, "xent", "distac_xent_finish_k")         \
  X(K_SGEMM, "gemm", "distac_sgemm_k")                     \
  X(K_SGEMM_BF16, "gemm", "distac_sgemm_bf16_k")           \
  X(K_LN_FWD, "layernorm", "distac_layernorm_fwd_k")       \
  X(K_LN_BWD, "layernorm", "distac_layernorm_bwd_k")       \
  X(K_LN_REDUCE, "layernorm", "distac_layernorm_reduce_k") \
  X(K_GELU, "gelu", "distac_gelu_k")                       \
  X(K_SOFTMAX_FWD, "softmax", "distac_softmax_fwd_k")      \
  X(K_SOFTMAX_BWD, "softmax", "distac_softmax_bwd_k")      \
  X(K_BIAS_ADD, "bias", "distac_bias_add_k")               \
  X(K_BIAS_PARTIAL, "bias", "distac_bias_partial_k")       \
  X(K_BIAS_REDUCE, "bias", "distac_bias_reduce_k")         \
  X(K_ATTN_FWD, "attention", "distac_attention_fwd_k")     \
  X(K_ATTN_BWD, "attention", "distac_attention_bwd_k")     \
  X(K_L2_FWD, "l2norm", "distac_l2norm_fwd_k")             \
  X(K_L2_BWD, "l2norm", "distac_l2norm_bwd_k")             \
  X(K_ADAM, "adam", "distac_adam_k")                       \
  X(K_ANCHORED_BLOCKS, "adam", "distac_anchored_blocks_k") \
  X(K_ANCHORED_FINISH, "adam", "distac_anchored_finish_k")

#define DC_ENUM(id, mod, name) id,
enum { DC_KERNELS(DC_ENUM) DC_NKERNELS };
#undef DC_ENUM

/* The op families (PTX modules), in the order scripts/ptx.sh builds them. */
#define DC_MAX_MODULES 32

struct distac_cuda {
  void *lib;
  char library[256];
  dc_api api;
  CUdevice dev;
  CUcontext ctx;
  distac_cuda_device_info info;
  int max_shared_optin;
  CUmodule modules[DC_MAX_MODULES];
  int nmodules;
  CUfunction fn[DC_NKERNELS];
  pthread_mutex_t mu; /* guards err */
  char err[1024];
};

/* Makes c's context current on this thread (Go moves goroutines between
 * threads, so every entry point calls it). */
int dc_enter(distac_cuda *c);
/* Checks a driver result: DISTAC_OK, or DISTAC_ECUDA with "what: NAME: text"
 * recorded as the handle's last error. */
int dc_check(distac_cuda *c, CUresult r, const char *what);
/* Launches kernel id on s with a grid and block, dynamic shared bytes and
 * the kernel's parameters (pointers to each value, in order). */
int dc_launch(distac_cuda *c, int id, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
              unsigned by, unsigned bz, unsigned shmem, CUstream s, void **params);
/* Stream-ordered scratch (cuMemAllocAsync/cuMemFreeAsync). */
int dc_scratch(distac_cuda *c, size_t bytes, CUstream s, CUdeviceptr *p);
void dc_scratch_free(distac_cuda *c, CUdeviceptr p, CUstream s);
/* Copies a host array to fresh scratch on s (pointer tables, weights). */
int dc_upload_scratch(distac_cuda *c, const void *src, size_t bytes, CUstream s, CUdeviceptr *p);

/* Shared by the launchers: the sumsq block scheme (taskvec.c), and a table
 * of count device pointers followed by count floats copied to scratch. */
int dc_sumsq_blocks(distac_cuda *c, int blocks_kernel, int finish_kernel, void **blocks_params,
                    int64_t n, CUdeviceptr *scratch_slot, CUdeviceptr out, CUstream s);
int dc_upload_table(distac_cuda *c, int32_t count, const CUdeviceptr *xs, const float *w,
                    CUstream s, CUdeviceptr *table);

/* Grid size for n elements at `per` elements per block, capped at 65535*16
 * blocks (kernels loop with a grid stride beyond that). */
static inline unsigned dc_blocks(int64_t n, int64_t per) {
  int64_t b = (n + per - 1) / per;
  if (b < 1) b = 1;
  if (b > 1048560) b = 1048560;
  return (unsigned)b;
}

/* The CPU header's rule: a dtype is one of F32, F16, BF16. */
static inline int dc_dtype_ok(distac_dtype t) { return (unsigned)t <= DISTAC_BF16; }
static inline size_t dc_dtype_size(distac_dtype t) { return t == DISTAC_F32 ? 4 : 2; }

#endif
