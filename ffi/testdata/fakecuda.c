/*
 * fakecuda.c — a stub CUDA driver for the tests of a machine without a GPU
 * (built by the tests with the C compiler, loaded through DISTAC_LIBCUDA).
 * DISTAC_FAKE_CUDA picks what it reports:
 *   nodevice   cuInit fails with CUDA_ERROR_NO_DEVICE (a driver, no GPU)
 *   zero       cuInit succeeds, cuDeviceGetCount reports 0
 *   old        a driver for CUDA 11.8
 *   sm75       one device of compute capability 7.5
 *   device     one "fake H100" of compute capability 9.0: memory is host
 *              memory, copies are memcpy, and kernel launches do nothing.
 * It runs no kernel: tests use it for the loader, errors and memory paths.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

static const char *mode(void) {
  const char *m = getenv("DISTAC_FAKE_CUDA");
  return m ? m : "nodevice";
}
static int is(const char *m) { return strcmp(mode(), m) == 0; }

CUresult cuInit(unsigned flags) { (void)flags; return is("nodevice") ? 100 : 0; }
CUresult cuDriverGetVersion(int *v) { *v = is("old") ? 11080 : 12040; return 0; }
CUresult cuGetErrorName(CUresult e, const char **s) { *s = e == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_FAKE"; return 0; }
CUresult cuGetErrorString(CUresult e, const char **s) { (void)e; *s = "fake driver error"; return 0; }
CUresult cuDeviceGetCount(int *n) { *n = is("zero") ? 0 : 1; return 0; }
CUresult cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
CUresult cuDeviceGetName(char *name, int len, int d) { (void)d; strncpy(name, "fake H100", (size_t)len); return 0; }
CUresult cuDeviceGetAttribute(int *v, int attr, int d) {
  (void)d;
  switch (attr) {
    case 75: *v = is("sm75") ? 7 : 9; break;
    case 76: *v = is("sm75") ? 5 : 0; break;
    case 16: *v = 132; break;
    case 115: *v = 1; break;
    case 97: *v = 232448; break;
    default: *v = 0;
  }
  return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *b, int d) { (void)d; *b = (size_t)80 << 30; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { (void)d; *c = (void *)0x1; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int d) { (void)d; return 0; }
CUresult cuCtxSetCurrent(void *c) { (void)c; return 0; }
CUresult cuModuleLoadDataEx(void **m, const void *img, unsigned n, int *o, void **v) {
  (void)n, (void)o, (void)v;
  *m = (void *)img;
  return strstr((const char *)img, ".version") ? 0 : 218; /* CUDA_ERROR_INVALID_PTX */
}
CUresult cuModuleUnload(void *m) { (void)m; return 0; }
CUresult cuModuleGetFunction(void **f, void *m, const char *name) {
  (void)m;
  *f = (void *)name;
  return 0;
}
CUresult cuFuncSetAttribute(void *f, int a, int v) { (void)f, (void)a, (void)v; return 0; }
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned sh, void *s, void **p, void **e) {
  (void)f, (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)sh, (void)s, (void)p, (void)e;
  return 0;
}
CUresult cuStreamCreate(void **s, unsigned f) { (void)f; *s = (void *)0x2; return 0; }
CUresult cuStreamDestroy_v2(void *s) { (void)s; return 0; }
CUresult cuStreamSynchronize(void *s) { (void)s; return 0; }
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t b) { *p = (CUdeviceptr)(uintptr_t)calloc(1, b); return *p ? 0 : 2; }
CUresult cuMemFree_v2(CUdeviceptr p) { free((void *)(uintptr_t)p); return 0; }
CUresult cuMemAllocAsync(CUdeviceptr *p, size_t b, void *s) { (void)s; return cuMemAlloc_v2(p, b); }
CUresult cuMemFreeAsync(CUdeviceptr p, void *s) { (void)s; return cuMemFree_v2(p); }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t b, void *st) {
  (void)st;
  memcpy((void *)(uintptr_t)d, s, b);
  return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t b, void *st) {
  (void)st;
  memcpy(d, (const void *)(uintptr_t)s, b);
  return 0;
}
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, void *s) {
  (void)s;
  memset((void *)(uintptr_t)d, v, n);
  return 0;
}
CUresult cuEventCreate(void **e, unsigned f) { (void)f; *e = (void *)0x3; return 0; }
CUresult cuEventRecord(void *e, void *s) { (void)e, (void)s; return 0; }
CUresult cuEventSynchronize(void *e) { (void)e; return 0; }
CUresult cuEventElapsedTime(float *ms, void *a, void *b) { (void)a, (void)b; *ms = 0; return 0; }
CUresult cuEventDestroy_v2(void *e) { (void)e; return 0; }
