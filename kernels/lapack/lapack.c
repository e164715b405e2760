/*
 * lapack.c — opens a float64 LAPACK with dlopen (see lapack.h) and calls it.
 * The Fortran entry points take every argument by reference and, after the
 * last one, the hidden lengths of the character arguments (gfortran's ABI:
 * size_t each), which are passed here so reference LAPACK's routines read
 * them correctly; OpenBLAS's C-written BLAS ignore them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lapack.h"

typedef void (*dsyrk_fn)(const char *, const char *, const int *, const int *, const double *, const double *,
                         const int *, const double *, double *, const int *, size_t, size_t);
typedef void (*dgemm_fn)(const char *, const char *, const int *, const int *, const int *, const double *,
                         const double *, const int *, const double *, const int *, const double *, double *,
                         const int *, size_t, size_t);
typedef void (*dsyevr_fn)(const char *, const char *, const char *, const int *, double *, const int *,
                          const double *, const double *, const int *, const int *, const double *, int *,
                          double *, double *, const int *, int *, double *, const int *, int *, const int *,
                          int *, size_t, size_t, size_t);
typedef void (*dsyevd_fn)(const char *, const char *, const int *, double *, const int *, double *, double *,
                          const int *, int *, const int *, int *, size_t, size_t);
typedef void (*dgesdd_fn)(const char *, const int *, const int *, double *, const int *, double *, double *,
                          const int *, double *, const int *, double *, const int *, int *, int *, size_t);
typedef void (*set_threads_fn)(int);

static struct {
  pthread_once_t once;
  int status;
  char err[512];
  char name[256];
  dsyrk_fn dsyrk;
  dgemm_fn dgemm;
  dsyevr_fn dsyevr;
  dsyevd_fn dsyevd;
  dgesdd_fn dgesdd;
  set_threads_fn set_threads;
} dl = {PTHREAD_ONCE_INIT, -1, "", "", NULL, NULL, NULL, NULL, NULL, NULL};

/* Resolves every routine from lib; 0, or -1 naming the missing one. */
static int dl_resolve(void *lib, const char *name) {
  struct {
    void **slot;
    const char *sym;
  } need[] = {{(void **)&dl.dsyrk, "dsyrk_"},
              {(void **)&dl.dgemm, "dgemm_"},
              {(void **)&dl.dsyevr, "dsyevr_"},
              {(void **)&dl.dsyevd, "dsyevd_"},
              {(void **)&dl.dgesdd, "dgesdd_"}};
  for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
    *need[i].slot = dlsym(lib, need[i].sym);
    if (!*need[i].slot) {
      snprintf(dl.err, sizeof dl.err, "%s has no %s", name, need[i].sym);
      return -1;
    }
  }
  *(void **)&dl.set_threads = dlsym(lib, "openblas_set_num_threads");
  return 0;
}

static void dl_open_once(void) {
  const char *env = getenv("DISTAC_LAPACK");
  const char *names[] = {"libopenblas.so.0", "liblapack.so.3"};
  size_t count = 2;
  if (env && *env) {
    names[0] = env;
    count = 1;
  }
  char tried[400] = "";
  for (size_t i = 0; i < count; i++) {
    void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char *why = dlerror();
      size_t used = strlen(tried);
      snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "", why ? why : names[i]);
      continue;
    }
    if (dl_resolve(lib, names[i]) == 0) {
      snprintf(dl.name, sizeof dl.name, "%s", names[i]);
      dl.status = 0;
      return;
    }
    dlclose(lib);
    size_t used = strlen(tried);
    snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "", dl.err);
  }
  snprintf(dl.err, sizeof dl.err, "no LAPACK: %s", tried);
}

int dl_lapack_open(char *err, size_t errlen) {
  pthread_once(&dl.once, dl_open_once);
  if (dl.status != 0 && err && errlen) snprintf(err, errlen, "%s", dl.err);
  return dl.status;
}

const char *dl_lapack_name(void) { return dl.status == 0 ? dl.name : ""; }

void dl_lapack_set_threads(int n) {
  if (dl.status == 0 && dl.set_threads) dl.set_threads(n);
}

void dl_dsyrk(char trans, int n, int k, double alpha, const double *a, int lda, double beta, double *c,
              int ldc) {
  dl.dsyrk("U", &trans, &n, &k, &alpha, a, &lda, &beta, c, &ldc, 1, 1);
}

void dl_dgemm(char transa, char transb, int m, int n, int k, double alpha, const double *a, int lda,
              const double *b, int ldb, double beta, double *c, int ldc) {
  dl.dgemm(&transa, &transb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc, 1, 1);
}

int dl_dsyevr(int n, double *a, int lda, int il, int iu, double *w, double *z, int ldz) {
  const double vl = 0, vu = 0, abstol = 0; /* abstol 0: LAPACK's default, eps * ||T|| */
  int found = 0, info = 0, lwork = -1, liwork = -1, iwq = 0;
  double wq = 0;
  int *isuppz = malloc(sizeof(int) * 2 * (size_t)(n > 0 ? n : 1));
  if (!isuppz) return -1000;
  dl.dsyevr("V", "I", "U", &n, a, &lda, &vl, &vu, &il, &iu, &abstol, &found, w, z, &ldz, isuppz, &wq, &lwork,
            &iwq, &liwork, &info, 1, 1, 1);
  if (info != 0) {
    free(isuppz);
    return info;
  }
  lwork = (int)wq;
  liwork = iwq;
  double *work = malloc(sizeof(double) * (size_t)lwork);
  int *iwork = malloc(sizeof(int) * (size_t)liwork);
  if (!work || !iwork) {
    free(work);
    free(iwork);
    free(isuppz);
    return -1000;
  }
  dl.dsyevr("V", "I", "U", &n, a, &lda, &vl, &vu, &il, &iu, &abstol, &found, w, z, &ldz, isuppz, work, &lwork,
            iwork, &liwork, &info, 1, 1, 1);
  free(work);
  free(iwork);
  free(isuppz);
  if (info == 0 && found != iu - il + 1) return -1001;
  return info;
}

int dl_dsyevd(int n, double *a, int lda, double *w) {
  int info = 0, lwork = -1, liwork = -1, iwq = 0;
  double wq = 0;
  dl.dsyevd("V", "U", &n, a, &lda, w, &wq, &lwork, &iwq, &liwork, &info, 1, 1);
  if (info != 0) return info;
  lwork = (int)wq;
  liwork = iwq;
  double *work = malloc(sizeof(double) * (size_t)lwork);
  int *iwork = malloc(sizeof(int) * (size_t)liwork);
  if (!work || !iwork) {
    free(work);
    free(iwork);
    return -1000;
  }
  dl.dsyevd("V", "U", &n, a, &lda, w, work, &lwork, iwork, &liwork, &info, 1, 1);
  free(work);
  free(iwork);
  return info;
}

int dl_dgesdd(int m, int n, double *a, int lda, double *s, double *u, int ldu, double *vt, int ldvt) {
  int info = 0, lwork = -1, r = m < n ? m : n;
  double wq = 0;
  int *iwork = malloc(sizeof(int) * 8 * (size_t)(r > 0 ? r : 1));
  if (!iwork) return -1000;
  dl.dgesdd("S", &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, &wq, &lwork, iwork, &info, 1);
  if (info != 0) {
    free(iwork);
    return info;
  }
  lwork = (int)wq;
  double *work = malloc(sizeof(double) * (size_t)lwork);
  if (!work) {
    free(iwork);
    return -1000;
  }
  dl.dgesdd("S", &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, iwork, &info, 1);
  free(work);
  free(iwork);
  return info;
}
