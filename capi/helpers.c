//go:build cgo

// The parts of distac.h that are plain C: the version, the names of the
// codes, distac_free and distac_init need no Go; and two helpers for
// exports.go.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capi.h"

const char *distac_version(void) { return DISTAC_VERSION_STRING; }

const char *distac_error_string(int code) {
  switch (code) {
    case DISTAC_OK:
      return "ok";
    case DISTAC_E_ARG:
      return "bad argument";
    case DISTAC_E_NOMEM:
      return "out of memory";
    case DISTAC_E_INPUT:
      return "bad input file";
    case DISTAC_E_IO:
      return "I/O error";
    case DISTAC_E_NUMERIC:
      return "numerical failure";
    case DISTAC_E_CANCELLED:
      return "cancelled";
    case DISTAC_E_EXISTS:
      return "output exists";
    case DISTAC_E_INTERNAL:
      return "internal error";
  }
  return "unknown code";
}

void distac_free(void *p) { free(p); }

// The library is compatible with a header of major.minor when a program
// built against that header finds every function it may call, with the
// meaning it expects (see VERSIONS AND ABI in distac.h). Nothing is
// initialised, so a second call is the first again.
int distac_init(int major, int minor, char **error) {
  int ok = major == DISTAC_VERSION_MAJOR &&
           (major == 0 ? minor == DISTAC_VERSION_MINOR : minor <= DISTAC_VERSION_MINOR);
  if (error) *error = NULL;
  if (ok) return DISTAC_OK;
  if (error) {
    char msg[160];
    int n = snprintf(msg, sizeof msg,
                     "distac: this program was built against distac.h %d.%d, the library loaded is %s",
                     major, minor, DISTAC_VERSION_STRING);
    *error = capi_strdup(msg, n > 0 ? (size_t)n : 0);
    if (!*error) return DISTAC_E_NOMEM;
  }
  return DISTAC_E_ARG;
}

char *capi_strdup(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = 0;
  return p;
}

int capi_call_progress(const distac_progress *p, int64_t done, int64_t total) {
  return p->report(p->user, done, total);
}
