/*
 * lapack.h — a float64 LAPACK opened at run time (dlopen), for the SVD merges
 * (TSV-M, Iso-C, Iso-CTS). Not part of the kernels' ABI: nothing is linked,
 * so distac builds and runs where no LAPACK is installed and falls back to its
 * built-in (gonum) path there. Column-major Fortran conventions; sizes are the
 * 32-bit blasint of Debian's OpenBLAS and reference LAPACK builds.
 */
#ifndef DISTAC_LAPACK_H
#define DISTAC_LAPACK_H

#include <stddef.h>

/* Opens the library once per process: $DISTAC_LAPACK if set (a path or a
 * soname), else libopenblas.so.0, else liblapack.so.3. Returns 0, or -1 with
 * the reason in err. Later calls return the first call's result. */
int dl_lapack_open(char *err, size_t errlen);

/* The library opened ("" before a successful open). */
const char *dl_lapack_name(void);

/* openblas_set_num_threads(n) where the library has it; else nothing. */
void dl_lapack_set_threads(int n);

/* C = alpha op(A) op(A)^T + beta C, upper triangle (dsyrk). */
void dl_dsyrk(char trans, int n, int k, double alpha, const double *a, int lda, double beta, double *c,
              int ldc);

/* C = alpha op(A) op(B) + beta C (dgemm). */
void dl_dgemm(char transa, char transb, int m, int n, int k, double alpha, const double *a, int lda,
              const double *b, int ldb, double beta, double *c, int ldc);

/* Eigenvalues il..iu (1-based, ascending) of the symmetric n x n matrix a
 * (upper triangle read; destroyed) into w and their vectors into the columns
 * of z (n x (iu-il+1), ld ldz), by dsyevr (MRRR). Returns LAPACK's info, or
 * -1000 when the workspace cannot be allocated. */
int dl_dsyevr(int n, double *a, int lda, int il, int iu, double *w, double *z, int ldz);

/* Every eigenvalue of the symmetric n x n matrix a (upper triangle read)
 * into w, ascending, and their vectors into the columns of a, by dsyevd
 * (divide and conquer). Returns LAPACK's info, or -1000 as above. */
int dl_dsyevd(int n, double *a, int lda, double *w);

/* Thin SVD a = U diag(s) VT of the m x n matrix a (destroyed), jobz 'S', by
 * dgesdd (divide and conquer). Returns LAPACK's info, or -1000 as above. */
int dl_dgesdd(int m, int n, double *a, int lda, double *s, double *u, int ldu, double *vt, int ldvt);

#endif
