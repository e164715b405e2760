/*
 * driver.c — opens the CUDA driver with dlopen (no CUDA library is linked,
 * so one binary runs with and without a GPU), checks its version and the
 * device, loads the kernels' PTX (the driver JIT-compiles it for the GPU)
 * and launches kernels. Every driver call is checked and named in the error.
 * State lives in the distac_cuda handle; nothing here is global.
 *
 * Tested without a GPU against stub driver libraries (ffi's cuda tests);
 * never run against a real driver.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"

#define DC_LIBCUDA "libcuda.so.1"

static void dc_msg(char *err, size_t len, const char *fmt, ...) {
  if (!err || len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
}

/* "NAME: text" of a driver result, from the driver itself when it can say. */
static void dc_result_text(const dc_api *api, CUresult r, char *buf, size_t len) {
  const char *name = NULL, *text = NULL;
  if (api->GetErrorName) api->GetErrorName(r, &name);
  if (api->GetErrorString) api->GetErrorString(r, &text);
  snprintf(buf, len, "%s (%d): %s", name ? name : "CUDA error", (int)r, text ? text : "no description");
}

int dc_check(distac_cuda *c, CUresult r, const char *what) {
  if (r == DC_CUDA_SUCCESS) return DISTAC_OK;
  char text[512];
  dc_result_text(&c->api, r, text, sizeof text);
  pthread_mutex_lock(&c->mu);
  snprintf(c->err, sizeof c->err, "%s: %s", what, text);
  pthread_mutex_unlock(&c->mu);
  return DISTAC_ECUDA;
}

void distac_cuda_last_error(distac_cuda *c, char *buf, size_t len) {
  if (!buf || len == 0) return;
  if (!c) {
    buf[0] = 0;
    return;
  }
  pthread_mutex_lock(&c->mu);
  snprintf(buf, len, "%s", c->err);
  pthread_mutex_unlock(&c->mu);
}

/* Opens the library and resolves every entry point; on failure says which. */
static int dc_load(void **lib, dc_api *api, char *path, size_t pathlen, char *err, size_t errlen) {
  const char *env = getenv("DISTAC_LIBCUDA");
  const char *name = env && *env ? env : DC_LIBCUDA;
  snprintf(path, pathlen, "%s", name);
  memset(api, 0, sizeof *api);
  *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!*lib) {
    const char *why = dlerror();
    dc_msg(err, errlen, "no CUDA driver: cannot load %s (%s)%s", name, why ? why : "dlopen failed",
           env && *env ? "" : "; install the NVIDIA driver or set DISTAC_LIBCUDA to its libcuda.so.1");
    return DISTAC_ENODRIVER;
  }
#define DC_RESOLVE(field, sym, params)                                                         \
  *(void **)&api->field = dlsym(*lib, sym);                                                    \
  if (!api->field) {                                                                           \
    dc_msg(err, errlen, "CUDA driver %s has no %s: it is too old (distac needs CUDA 12.0 or newer)", \
           name, sym);                                                                         \
    dlclose(*lib);                                                                             \
    *lib = NULL;                                                                               \
    return DISTAC_ENODRIVER;                                                                   \
  }
  DC_DRIVER_FUNCS(DC_RESOLVE)
#undef DC_RESOLVE
  return DISTAC_OK;
}

/* cuInit and the version check, shared by open and device_count. */
static int dc_init(void *lib, const dc_api *api, const char *path, char *err, size_t errlen) {
  (void)lib;
  char text[512];
  CUresult r = api->Init(0);
  if (r == DC_CUDA_ERROR_NO_DEVICE) {
    dc_msg(err, errlen, "no CUDA device (cuInit in %s: CUDA_ERROR_NO_DEVICE)", path);
    return DISTAC_ENODEVICE;
  }
  if (r != DC_CUDA_SUCCESS) {
    dc_result_text(api, r, text, sizeof text);
    dc_msg(err, errlen, "CUDA driver %s failed to initialise: cuInit: %s", path, text);
    return DISTAC_ENODRIVER;
  }
  int v = 0;
  if ((r = api->DriverGetVersion(&v)) != DC_CUDA_SUCCESS) {
    dc_result_text(api, r, text, sizeof text);
    dc_msg(err, errlen, "CUDA driver %s: cuDriverGetVersion: %s", path, text);
    return DISTAC_ENODRIVER;
  }
  if (v < DC_MIN_DRIVER) {
    dc_msg(err, errlen,
           "CUDA driver %s supports CUDA %d.%d; distac's PTX (ISA 8.0) needs a driver for CUDA 12.0 or newer",
           path, v / 1000, v % 1000 / 10);
    return DISTAC_ENODRIVER;
  }
  return DISTAC_OK;
}

int distac_cuda_device_count(int *count, char *err, size_t errlen) {
  if (!count) return DISTAC_EINVAL;
  *count = 0;
  void *lib;
  dc_api api;
  char path[256];
  int rc = dc_load(&lib, &api, path, sizeof path, err, errlen);
  if (rc != DISTAC_OK) return rc;
  rc = dc_init(lib, &api, path, err, errlen);
  if (rc == DISTAC_OK) {
    CUresult r = api.DeviceGetCount(count);
    if (r != DC_CUDA_SUCCESS) {
      char text[512];
      dc_result_text(&api, r, text, sizeof text);
      dc_msg(err, errlen, "cuDeviceGetCount: %s", text);
      rc = DISTAC_ECUDA;
    }
  } else if (rc == DISTAC_ENODEVICE) {
    rc = DISTAC_OK; /* a driver with no device: zero devices */
  }
  dlclose(lib);
  return rc;
}

/* Loads one module's PTX with the JIT's error log in the message. */
static int dc_load_module(distac_cuda *c, const distac_cuda_module *m, char *err, size_t errlen) {
  static const size_t loglen = 8192;
  char *log = (char *)calloc(1, loglen);
  if (!log) return DISTAC_ENOMEM;
  int opts[2] = {DC_JIT_ERROR_LOG_BUFFER, DC_JIT_ERROR_LOG_BUFFER_SIZE};
  void *vals[2] = {log, (void *)(uintptr_t)loglen};
  CUmodule mod = NULL;
  CUresult r = c->api.ModuleLoadDataEx(&mod, m->ptx, 2, opts, vals);
  if (r != DC_CUDA_SUCCESS) {
    char text[512];
    dc_result_text(&c->api, r, text, sizeof text);
    for (char *p = log; *p; p++)
      if (*p == '\n') *p = ' ';
    dc_msg(err, errlen, "cuModuleLoadDataEx(%s, %s PTX): %s%s%s", m->name, c->info.ptx_arch, text,
           *log ? "; JIT log: " : "", log);
    free(log);
    return DISTAC_ECUDA;
  }
  free(log);
  c->modules[c->nmodules++] = mod;
  return DISTAC_OK;
}

static const char *const dc_kernel_module[] = {
#define DC_MOD(id, mod, name) mod,
    DC_KERNELS(DC_MOD)
#undef DC_MOD
};
static const char *const dc_kernel_name[] = {
#define DC_NAME(id, mod, name) name,
    DC_KERNELS(DC_NAME)
#undef DC_NAME
};

static int dc_open_device(distac_cuda *c, int ordinal, const distac_cuda_module *sm80, int n80,
                          const distac_cuda_module *sm90a, int n90a, char *err, size_t errlen) {
  char text[512];
  CUresult r;
  int n = 0;
  if ((r = c->api.DeviceGetCount(&n)) != DC_CUDA_SUCCESS) {
    dc_result_text(&c->api, r, text, sizeof text);
    dc_msg(err, errlen, "cuDeviceGetCount: %s", text);
    return DISTAC_ECUDA;
  }
  if (n == 0) {
    dc_msg(err, errlen, "no CUDA device (the driver %s reports none)", c->library);
    return DISTAC_ENODEVICE;
  }
  if (ordinal < 0 || ordinal >= n) {
    dc_msg(err, errlen, "no CUDA device %d (the driver reports %d)", ordinal, n);
    return DISTAC_ENODEVICE;
  }
#define DC_TRY(call, what)                                  \
  if ((r = (call)) != DC_CUDA_SUCCESS) {                    \
    dc_result_text(&c->api, r, text, sizeof text);          \
    dc_msg(err, errlen, "%s: %s", what, text);              \
    return DISTAC_ECUDA;                                    \
  }
  distac_cuda_device_info *in = &c->info;
  DC_TRY(c->api.DeviceGet(&c->dev, ordinal), "cuDeviceGet");
  DC_TRY(c->api.DeviceGetName(in->name, (int)sizeof in->name, c->dev), "cuDeviceGetName");
  DC_TRY(c->api.DeviceGetAttribute(&in->cc_major, DC_ATTR_CC_MAJOR, c->dev), "cuDeviceGetAttribute(compute capability major)");
  DC_TRY(c->api.DeviceGetAttribute(&in->cc_minor, DC_ATTR_CC_MINOR, c->dev), "cuDeviceGetAttribute(compute capability minor)");
  DC_TRY(c->api.DeviceGetAttribute(&in->multiprocessors, DC_ATTR_MULTIPROCESSOR_COUNT, c->dev), "cuDeviceGetAttribute(multiprocessors)");
  DC_TRY(c->api.DeviceGetAttribute(&in->memory_pools, DC_ATTR_MEMORY_POOLS, c->dev), "cuDeviceGetAttribute(memory pools)");
  DC_TRY(c->api.DeviceGetAttribute(&c->max_shared_optin, DC_ATTR_MAX_SHARED_OPTIN, c->dev), "cuDeviceGetAttribute(max shared memory)");
  DC_TRY(c->api.DeviceTotalMem(&in->total_memory, c->dev), "cuDeviceTotalMem");
  DC_TRY(c->api.DriverGetVersion(&in->driver_version), "cuDriverGetVersion");
  in->ordinal = ordinal;
  in->library = c->library;
  if (in->cc_major < 8) {
    dc_msg(err, errlen, "CUDA device %d (%s) has compute capability %d.%d; distac's CUDA kernels need 8.0 or newer",
           ordinal, in->name, in->cc_major, in->cc_minor);
    return DISTAC_ENODEVICE;
  }
  const distac_cuda_module *mods = sm80;
  int nmods = n80;
  in->ptx_arch = "sm_80";
  if (in->cc_major == 9 && in->cc_minor == 0 && n90a > 0) {
    mods = sm90a, nmods = n90a, in->ptx_arch = "sm_90a";
  }
  if (nmods <= 0 || nmods > DC_MAX_MODULES || !mods) {
    dc_msg(err, errlen, "no PTX modules for %s", in->ptx_arch);
    return DISTAC_EINVAL;
  }
  DC_TRY(c->api.PrimaryCtxRetain(&c->ctx, c->dev), "cuDevicePrimaryCtxRetain");
  DC_TRY(c->api.CtxSetCurrent(c->ctx), "cuCtxSetCurrent");
#undef DC_TRY
  for (int i = 0; i < nmods; i++) {
    int rc = dc_load_module(c, &mods[i], err, errlen);
    if (rc != DISTAC_OK) return rc;
  }
  for (int k = 0; k < DC_NKERNELS; k++) {
    int mi = -1;
    for (int i = 0; i < nmods; i++)
      if (strcmp(mods[i].name, dc_kernel_module[k]) == 0) mi = i;
    if (mi < 0) {
      dc_msg(err, errlen, "no PTX module %s (for kernel %s) among the %s PTX", dc_kernel_module[k],
             dc_kernel_name[k], in->ptx_arch);
      return DISTAC_EINVAL;
    }
    r = c->api.ModuleGetFunction(&c->fn[k], c->modules[mi], dc_kernel_name[k]);
    if (r != DC_CUDA_SUCCESS) {
      dc_result_text(&c->api, r, text, sizeof text);
      dc_msg(err, errlen, "cuModuleGetFunction(%s, %s): %s", dc_kernel_module[k], dc_kernel_name[k], text);
      return DISTAC_ECUDA;
    }
  }
  return DISTAC_OK;
}

int distac_cuda_open_modules(int ordinal, const distac_cuda_module *sm80, int n80,
                             const distac_cuda_module *sm90a, int n90a, distac_cuda **out,
                             char *err, size_t errlen) {
  if (!out) return DISTAC_EINVAL;
  *out = NULL;
  if (err && errlen) err[0] = 0;
  distac_cuda *c = (distac_cuda *)calloc(1, sizeof *c);
  if (!c) return DISTAC_ENOMEM;
  pthread_mutex_init(&c->mu, NULL);
  int rc = dc_load(&c->lib, &c->api, c->library, sizeof c->library, err, errlen);
  if (rc == DISTAC_OK) rc = dc_init(c->lib, &c->api, c->library, err, errlen);
  if (rc == DISTAC_OK) rc = dc_open_device(c, ordinal, sm80, n80, sm90a, n90a, err, errlen);
  if (rc != DISTAC_OK) {
    distac_cuda_close(c);
    return rc;
  }
  *out = c;
  return DISTAC_OK;
}

void distac_cuda_close(distac_cuda *c) {
  if (!c) return;
  if (c->ctx) {
    c->api.CtxSetCurrent(c->ctx);
    for (int i = 0; i < c->nmodules; i++) c->api.ModuleUnload(c->modules[i]);
    c->api.PrimaryCtxRelease(c->dev);
  }
  if (c->lib) dlclose(c->lib);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

int distac_cuda_info(const distac_cuda *c, distac_cuda_device_info *info) {
  if (!c || !info) return DISTAC_EINVAL;
  *info = c->info;
  return DISTAC_OK;
}

int dc_enter(distac_cuda *c) { return dc_check(c, c->api.CtxSetCurrent(c->ctx), "cuCtxSetCurrent"); }

int dc_launch(distac_cuda *c, int id, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
              unsigned by, unsigned bz, unsigned shmem, CUstream s, void **params) {
  int rc = dc_enter(c);
  if (rc != DISTAC_OK) return rc;
  if (shmem > 48 * 1024) {
    if ((int)shmem > c->max_shared_optin) return DISTAC_EINVAL;
    char what[128];
    snprintf(what, sizeof what, "cuFuncSetAttribute(%s, max dynamic shared memory)", dc_kernel_name[id]);
    rc = dc_check(c, c->api.FuncSetAttribute(c->fn[id], DC_FUNC_MAX_DYNAMIC_SHARED, (int)shmem), what);
    if (rc != DISTAC_OK) return rc;
  }
  char what[128];
  snprintf(what, sizeof what, "cuLaunchKernel(%s)", dc_kernel_name[id]);
  return dc_check(c, c->api.LaunchKernel(c->fn[id], gx, gy, gz, bx, by, bz, shmem, s, params, NULL), what);
}

int dc_scratch(distac_cuda *c, size_t bytes, CUstream s, CUdeviceptr *p) {
  return distac_cuda_alloc(c, bytes ? bytes : 8, s, p);
}

void dc_scratch_free(distac_cuda *c, CUdeviceptr p, CUstream s) {
  if (p) distac_cuda_free(c, p, s);
}

int dc_upload_scratch(distac_cuda *c, const void *src, size_t bytes, CUstream s, CUdeviceptr *p) {
  int rc = dc_scratch(c, bytes, s, p);
  if (rc != DISTAC_OK) return rc;
  rc = distac_cuda_upload(c, *p, src, bytes, s);
  if (rc != DISTAC_OK) {
    dc_scratch_free(c, *p, s);
    *p = 0;
  }
  return rc;
}

/* ------------------------------------------------------ memory, streams */

int distac_cuda_stream_create(distac_cuda *c, CUstream *s) {
  if (!c || !s) return DISTAC_EINVAL;
  int rc = dc_enter(c);
  return rc ? rc : dc_check(c, c->api.StreamCreate(s, DC_STREAM_NON_BLOCKING), "cuStreamCreate");
}

int distac_cuda_stream_destroy(distac_cuda *c, CUstream s) {
  if (!c) return DISTAC_EINVAL;
  int rc = dc_enter(c);
  return rc ? rc : dc_check(c, c->api.StreamDestroy(s), "cuStreamDestroy");
}

int distac_cuda_sync(distac_cuda *c, CUstream s) {
  if (!c) return DISTAC_EINVAL;
  int rc = dc_enter(c);
  return rc ? rc : dc_check(c, c->api.StreamSynchronize(s), "cuStreamSynchronize");
}

int distac_cuda_alloc(distac_cuda *c, size_t bytes, CUstream s, CUdeviceptr *p) {
  if (!c || !p) return DISTAC_EINVAL;
  *p = 0;
  int rc = dc_enter(c);
  if (rc != DISTAC_OK) return rc;
  if (c->info.memory_pools) return dc_check(c, c->api.MemAllocAsync(p, bytes, s), "cuMemAllocAsync");
  return dc_check(c, c->api.MemAlloc(p, bytes), "cuMemAlloc");
}

int distac_cuda_free(distac_cuda *c, CUdeviceptr p, CUstream s) {
  if (!c) return DISTAC_EINVAL;
  if (!p) return DISTAC_OK;
  int rc = dc_enter(c);
  if (rc != DISTAC_OK) return rc;
  if (c->info.memory_pools) return dc_check(c, c->api.MemFreeAsync(p, s), "cuMemFreeAsync");
  /* Without pools, wait for the work that may still read p. */
  rc = dc_check(c, c->api.StreamSynchronize(s), "cuStreamSynchronize");
  return rc ? rc : dc_check(c, c->api.MemFree(p), "cuMemFree");
}

int distac_cuda_upload(distac_cuda *c, CUdeviceptr dst, const void *src, size_t bytes, CUstream s) {
  if (!c || (bytes && (!dst || !src))) return DISTAC_EINVAL;
  if (!bytes) return DISTAC_OK;
  int rc = dc_enter(c);
  return rc ? rc : dc_check(c, c->api.MemcpyHtoDAsync(dst, src, bytes, s), "cuMemcpyHtoDAsync");
}

int distac_cuda_download(distac_cuda *c, void *dst, CUdeviceptr src, size_t bytes, CUstream s) {
  if (!c || (bytes && (!dst || !src))) return DISTAC_EINVAL;
  int rc = dc_enter(c);
  if (rc != DISTAC_OK) return rc;
  if (bytes) {
    rc = dc_check(c, c->api.MemcpyDtoHAsync(dst, src, bytes, s), "cuMemcpyDtoHAsync");
    if (rc != DISTAC_OK) return rc;
  }
  return dc_check(c, c->api.StreamSynchronize(s), "cuStreamSynchronize");
}

int distac_cuda_memset0(distac_cuda *c, CUdeviceptr dst, size_t bytes, CUstream s) {
  if (!c || (bytes && !dst)) return DISTAC_EINVAL;
  if (!bytes) return DISTAC_OK;
  int rc = dc_enter(c);
  return rc ? rc : dc_check(c, c->api.MemsetD8Async(dst, 0, bytes, s), "cuMemsetD8Async");
}

typedef struct dc_timer {
  CUevent start, stop;
} dc_timer;

int distac_cuda_timer_start(distac_cuda *c, CUstream s, void **timer) {
  if (!c || !timer) return DISTAC_EINVAL;
  int rc = dc_enter(c);
  if (rc != DISTAC_OK) return rc;
  dc_timer *t = (dc_timer *)calloc(1, sizeof *t);
  if (!t) return DISTAC_ENOMEM;
  if ((rc = dc_check(c, c->api.EventCreate(&t->start, 0), "cuEventCreate")) ||
      (rc = dc_check(c, c->api.EventCreate(&t->stop, 0), "cuEventCreate")) ||
      (rc = dc_check(c, c->api.EventRecord(t->start, s), "cuEventRecord"))) {
    if (t->start) c->api.EventDestroy(t->start);
    if (t->stop) c->api.EventDestroy(t->stop);
    free(t);
    return rc;
  }
  *timer = t;
  return DISTAC_OK;
}

int distac_cuda_timer_stop(distac_cuda *c, CUstream s, void *timer, float *ms) {
  if (!c || !timer || !ms) return DISTAC_EINVAL;
  dc_timer *t = (dc_timer *)timer;
  int rc = dc_enter(c);
  if (!rc) rc = dc_check(c, c->api.EventRecord(t->stop, s), "cuEventRecord");
  if (!rc) rc = dc_check(c, c->api.EventSynchronize(t->stop), "cuEventSynchronize");
  if (!rc) rc = dc_check(c, c->api.EventElapsedTime(ms, t->start, t->stop), "cuEventElapsedTime");
  c->api.EventDestroy(t->start);
  c->api.EventDestroy(t->stop);
  free(t);
  return rc;
}
