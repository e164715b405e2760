/*
 * capitest.h — helpers for libdistac's C tests under ctest: a scratch
 * directory, small safetensors files written and read back, and a check
 * macro naming file and line. Each test program prints one line per check
 * and "N passed, N failed" and exits non-zero on failure. Only distac.h and
 * the C library are used: what a C host has.
 */
#ifndef DISTAC_CAPITEST_H
#define DISTAC_CAPITEST_H

#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "distac.h"

typedef struct {
  int passed, failed;
} ct_counts;

#define CT_CHECK(c, cond, ...)                                    \
  do {                                                            \
    int ct_ok_ = (cond);                                          \
    (c)->passed += ct_ok_, (c)->failed += !ct_ok_;                \
    printf("%-4s %s:%d: ", ct_ok_ ? "ok" : "FAIL", __FILE__, __LINE__); \
    printf(__VA_ARGS__);                                          \
    printf("\n");                                                 \
  } while (0)

static inline int ct_finish(const ct_counts *c) {
  printf("%d passed, %d failed\n", c->passed, c->failed);
  return c->failed ? 1 : 0;
}

/* xorshift64*: deterministic, no global state. */
static inline float ct_uniform(uint64_t *s, float scale) {
  *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
  uint64_t r = *s * 0x2545F4914F6CDD1DULL;
  return ((float)(r >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * scale;
}

/* A new directory under $TMPDIR (or /tmp) in dir[n]; 0 on success. */
static inline int ct_tempdir(char *dir, size_t n) {
  const char *t = getenv("TMPDIR");
  snprintf(dir, n, "%s/distac-capi-XXXXXX", t && *t ? t : "/tmp");
  return mkdtemp(dir) ? 0 : -1;
}

/* Removes dir and the files in it (one level: what the tests write). */
static inline void ct_rmdir(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* One tensor of a file to write: F32 or BF16 (dtype "F32"/"BF16"). */
typedef struct {
  const char *name, *dtype;
  int ndim;
  int64_t shape[4];
  const void *data;
} ct_tensor;

static inline size_t ct_numel(const ct_tensor *t) {
  size_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
  return n;
}

static inline size_t ct_elem_size(const char *dtype) { return strcmp(dtype, "F32") == 0 ? 4 : 2; }

/* Writes a safetensors file (little-endian host assumed); 0 on success. */
static inline int ct_write(const char *path, const ct_tensor *ts, int n) {
  char hdr[8192];
  size_t len = 0, off = 0;
  len += snprintf(hdr + len, sizeof hdr - len, "{");
  for (int i = 0; i < n; i++) {
    size_t bytes = ct_numel(&ts[i]) * ct_elem_size(ts[i].dtype);
    len += snprintf(hdr + len, sizeof hdr - len, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", ts[i].name,
                    ts[i].dtype);
    for (int d = 0; d < ts[i].ndim; d++)
      len += snprintf(hdr + len, sizeof hdr - len, "%s%lld", d ? "," : "", (long long)ts[i].shape[d]);
    len += snprintf(hdr + len, sizeof hdr - len, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
    off += bytes;
  }
  len += snprintf(hdr + len, sizeof hdr - len, "}");
  while (len % 8) hdr[len++] = ' ';
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  uint64_t hl = len;
  int ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(hdr, 1, len, f) == len;
  for (int i = 0; i < n && ok; i++) {
    size_t bytes = ct_numel(&ts[i]) * ct_elem_size(ts[i].dtype);
    ok = fwrite(ts[i].data, 1, bytes, f) == bytes;
  }
  return fclose(f) == 0 && ok ? 0 : -1;
}

/* The whole file at path (malloc'd, *n bytes), or NULL. */
static inline unsigned char *ct_read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(size > 0 ? (size_t)size : 1);
  if (b && fread(b, 1, (size_t)size, f) != (size_t)size) free(b), b = NULL;
  fclose(f);
  *n = (size_t)size;
  return b;
}

/* Copies tensor `name`'s bytes from the safetensors file at path into out
 * (n bytes, exactly its size); 0 on success. Finds the entry by its quoted
 * name in the header: enough for the files the tests write and distac. */
static inline int ct_read_tensor(const char *path, const char *name, void *out, size_t n) {
  size_t size;
  unsigned char *b = ct_read_file(path, &size);
  if (!b || size < 8) return free(b), -1;
  uint64_t hl;
  memcpy(&hl, b, 8);
  char key[256];
  snprintf(key, sizeof key, "\"%s\":{", name);
  char *hdr = malloc(hl + 1);
  memcpy(hdr, b + 8, hl);
  hdr[hl] = 0;
  char *at = strstr(hdr, key), *offs = at ? strstr(at, "\"data_offsets\":[") : NULL;
  unsigned long long lo, hi;
  int ok = offs && sscanf(offs, "\"data_offsets\":[%llu,%llu]", &lo, &hi) == 2 && hi - lo == n && 8 + hl + hi <= size;
  if (ok) memcpy(out, b + 8 + hl + lo, n);
  free(hdr), free(b);
  return ok ? 0 : -1;
}

/* bfloat16 of x, rounded to nearest even (as distac rounds). */
static inline uint16_t ct_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

#endif
