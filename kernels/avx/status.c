// What each kernel status means: distac_status_string (distac_status.h).
// One place for the words, so the C hosts and the Go backend (ffi's status)
// say the same thing.
#include "distac_cuda.h" /* its three codes; the words live here too */
#include "distac_kernels.h"

const char *distac_status_string(int status) {
  switch (status) {
    case DISTAC_OK:
      return "ok";
    case DISTAC_EINVAL:
      return "invalid argument";
    case DISTAC_ENOMEM:
      return "out of memory";
    case DISTAC_EISA:
      return "instruction set not available";
    case DISTAC_ECUDA:
      return "CUDA driver call failed";
    case DISTAC_ENODRIVER:
      return "no usable CUDA driver";
    case DISTAC_ENODEVICE:
      return "no usable CUDA device";
  }
  return "unknown status";
}
