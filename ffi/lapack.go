//go:build cgo && linux

package ffi

/*
#cgo CFLAGS: -O2 -std=c11 -I${SRCDIR}/../kernels/lapack
#cgo LDFLAGS: -ldl -lpthread
#include "lapack.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"
)

// A column-major routine on row-major data: a row-major r x c matrix with
// leading dimension ld is the column-major c x r matrix X^T. So row-major
// C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T (operands swapped),
// a symmetric result is the same in both orders, and LAPACK's column
// eigenvectors are rows of the row-major array.

var lapackOnce struct {
	sync.Once
	l   *LAPACK
	err error
}

// OpenLAPACK opens the LAPACK named by DISTAC_LAPACK, else libopenblas.so.0,
// else liblapack.so.3, once per process, and sets OpenBLAS to one thread per
// call. It fails, saying why, where there is none or DISTAC_LAPACK is "off".
func OpenLAPACK() (*LAPACK, error) {
	lapackOnce.Do(func() {
		if v := strings.TrimSpace(strings.ToLower(os.Getenv(EnvLAPACK))); v == "off" || v == "none" || v == "0" {
			lapackOnce.err = fmt.Errorf("%s=%s: LAPACK off", EnvLAPACK, os.Getenv(EnvLAPACK))
			return
		}
		var buf [512]C.char
		if C.dl_lapack_open(&buf[0], C.size_t(len(buf))) != 0 {
			lapackOnce.err = errors.New(C.GoString(&buf[0]))
			return
		}
		C.dl_lapack_set_threads(1)
		lapackOnce.l = &LAPACK{name: C.GoString(C.dl_lapack_name())}
	})
	return lapackOnce.l, lapackOnce.err
}

func f64ptr(x []float64) *C.double {
	if len(x) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&x[0]))
}

func laTrans(t bool) C.char {
	if t {
		return 'T'
	}
	return 'N'
}

// Dgemm is C = alpha op(A) op(B) + beta C, row-major: op(A) m x k, op(B)
// k x n, C m x n.
func (l *LAPACK) Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int,
	b []float64, ldb int, beta float64, c []float64, ldc int) error {
	ar, ac := opDims(transA, m, k)
	br, bc := opDims(transB, k, n)
	if err := laShape("dgemm", "A", len(a), ar, ac, lda); err != nil {
		return err
	}
	if err := laShape("dgemm", "B", len(b), br, bc, ldb); err != nil {
		return err
	}
	if err := laShape("dgemm", "C", len(c), m, n, ldc); err != nil {
		return err
	}
	if k < 0 || k > 1<<31-1 {
		return fmt.Errorf("lapack dgemm: k %d out of range", k)
	}
	if m == 0 || n == 0 {
		return nil
	}
	C.dl_dgemm(laTrans(transB), laTrans(transA), C.int(n), C.int(m), C.int(k), C.double(alpha),
		f64ptr(b), C.int(ldb), f64ptr(a), C.int(lda), C.double(beta), f64ptr(c), C.int(ldc))
	return nil
}

// Dsyrk is C = A A^T (trans false, A n x k) or C = A^T A (trans true, A
// k x n), row-major, both triangles of the n x n C written.
func (l *LAPACK) Dsyrk(transA bool, n, k int, a []float64, lda int, c []float64, ldc int) error {
	ar, ac := n, k
	if transA {
		ar, ac = k, n
	}
	if err := laShape("dsyrk", "A", len(a), ar, ac, lda); err != nil {
		return err
	}
	if err := laShape("dsyrk", "C", len(c), n, n, ldc); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	// Column-major, A is the k x n (or n x k) X = A^T: X^T X is 'T', X X^T 'N'.
	t := C.char('T')
	if transA {
		t = 'N'
	}
	C.dl_dsyrk(t, C.int(n), C.int(k), 1, f64ptr(a), C.int(lda), 0, f64ptr(c), C.int(ldc))
	// Column-major upper is row-major lower: mirror it up.
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			c[i*ldc+j] = c[j*ldc+i]
		}
	}
	return nil
}

// DsyevTop computes the k largest eigenvalues of the symmetric n x n
// matrix a (row-major, destroyed) into w (n values of room), descending, and
// their unit eigenvectors into the rows of z (k x n, leading dimension ldz).
// A few (4k <= n) come from dsyevr (bisection and inverse iteration for just
// those), more from dsyevd (all, divide and conquer): on one Zen 5 core at
// n = 768, 96 took 0.044 s and 192 0.080 s by dsyevr, all 0.066 s by
// dsyevd and 0.094 s by dsyevr's MRRR.
func (l *LAPACK) DsyevTop(n int, a []float64, lda, k int, w, z []float64, ldz int) error {
	if k < 0 || k > n {
		return fmt.Errorf("lapack dsyev: %d eigenpairs of a %dx%d matrix", k, n, n)
	}
	if err := laShape("dsyev", "A", len(a), n, n, lda); err != nil {
		return err
	}
	if err := laShape("dsyev", "Z", len(z), k, n, ldz); err != nil {
		return err
	}
	if len(w) < n { // both write up to n values while they work
		return fmt.Errorf("lapack dsyev: w holds %d values, want %d", len(w), n)
	}
	if k == 0 {
		return nil
	}
	if 4*k <= n {
		info := C.dl_dsyevr(C.int(n), f64ptr(a), C.int(lda), C.int(n-k+1), C.int(n), f64ptr(w), f64ptr(z), C.int(ldz))
		if info != 0 {
			return fmt.Errorf("lapack dsyevr (%dx%d, top %d): info %d", n, n, k, int(info))
		}
		// LAPACK's order ascends: reverse values and vectors.
		for i, j := 0, k-1; i < j; i, j = i+1, j-1 {
			w[i], w[j] = w[j], w[i]
			ri, rj := z[i*ldz:i*ldz+n], z[j*ldz:j*ldz+n]
			for c := range ri {
				ri[c], rj[c] = rj[c], ri[c]
			}
		}
		return nil
	}
	if info := C.dl_dsyevd(C.int(n), f64ptr(a), C.int(lda), f64ptr(w)); info != 0 {
		return fmt.Errorf("lapack dsyevd (%dx%d): info %d", n, n, int(info))
	}
	// The vectors are a's rows, ascending: the last k, reversed, are the top.
	for i := 0; i < k; i++ {
		copy(z[i*ldz:i*ldz+n], a[(n-1-i)*lda:(n-1-i)*lda+n])
	}
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		w[i], w[j] = w[j], w[i]
	}
	return nil
}

// Dgesdd is the thin SVD a = U diag(s) VT of the row-major m x n matrix a
// (destroyed), r = min(m, n): s descending (r), U m x r, VT r x n, by dgesdd.
func (l *LAPACK) Dgesdd(m, n int, a []float64, lda int, s, u []float64, ldu int, vt []float64, ldvt int) error {
	r := min(m, n)
	if err := laShape("dgesdd", "A", len(a), m, n, lda); err != nil {
		return err
	}
	if err := laShape("dgesdd", "U", len(u), m, r, ldu); err != nil {
		return err
	}
	if err := laShape("dgesdd", "VT", len(vt), r, n, ldvt); err != nil {
		return err
	}
	if len(s) < r {
		return fmt.Errorf("lapack dgesdd: s holds %d values, want %d", len(s), r)
	}
	if r == 0 {
		return nil
	}
	// Column-major, a is the n x m A^T = VT^T diag(s) U^T: LAPACK's "U" is
	// our VT (row-major r x n) and its "VT" our U (row-major m x r).
	info := C.dl_dgesdd(C.int(n), C.int(m), f64ptr(a), C.int(lda), f64ptr(s), f64ptr(vt), C.int(ldvt), f64ptr(u), C.int(ldu))
	if info != 0 {
		return fmt.Errorf("lapack dgesdd (%dx%d): info %d", m, n, int(info))
	}
	return nil
}
