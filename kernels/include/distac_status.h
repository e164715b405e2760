/*
 * distac_status.h — what a kernel status means, for a host to say why a
 * call failed. Part of the kernels' C ABI (distac_kernels.h includes it).
 */
#ifndef DISTAC_STATUS_H
#define DISTAC_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* A short English description of a status the kernels return: "ok",
 * "invalid argument" (DISTAC_EINVAL), "out of memory" (DISTAC_ENOMEM),
 * "instruction set not available" (DISTAC_EISA), the CUDA kernels' codes
 * (distac_cuda.h: "CUDA driver call failed", DISTAC_ECUDA, whose details
 * distac_cuda_last_error gives; "no usable CUDA driver", DISTAC_ENODRIVER;
 * "no usable CUDA device", DISTAC_ENODEVICE), and "unknown status" for any
 * other value. Static storage (never free it); thread-safe.
 * kernels/avx/status.c */
const char *distac_status_string(int status);

#ifdef __cplusplus
}
#endif

#endif /* DISTAC_STATUS_H */
