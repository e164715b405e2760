/* capi.h — what exports.go's preamble needs beside distac.h (not installed).
 *
 * cgo declares every exported function again in the header it generates,
 * with the parameter types of the Go signature. Spelling the const-qualified
 * types through these typedefs makes those declarations the same as
 * distac.h's, and _cgo_export.c, which sees both, fails to compile when an
 * export and the header disagree: the header is checked against the code.
 */
#ifndef DISTAC_CAPI_H
#define DISTAC_CAPI_H

#include <stddef.h>
#include <stdint.h>

#include "distac.h"

typedef const char capi_cchar;
typedef const int64_t capi_cint64;
typedef const void capi_cvoid;
typedef const void *const capi_cptr;
typedef const distac_progress capi_cprogress;

/* A malloc'd, NUL-terminated copy of s[0..n), or NULL when memory is out
 * (cgo's C.CString would crash the process instead). */
char *capi_strdup(const char *s, size_t n);

/* Calls a host's progress callback (Go cannot call a C function pointer):
 * 0 to go on, else cancel. */
int capi_call_progress(const distac_progress *p, int64_t done, int64_t total);

#endif
