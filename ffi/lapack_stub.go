//go:build !cgo || !linux

package ffi

import "errors"

// OpenLAPACK fails: opening a library at run time needs cgo on Linux.
func OpenLAPACK() (*LAPACK, error) {
	return nil, errors.New("no LAPACK: this binary was built without cgo on Linux")
}

// The methods exist so callers build; OpenLAPACK never returns a LAPACK here.

// Dgemm is not in this build.
func (l *LAPACK) Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int,
	b []float64, ldb int, beta float64, c []float64, ldc int) error {
	return errors.New("no LAPACK in this build")
}

// Dsyrk is not in this build.
func (l *LAPACK) Dsyrk(transA bool, n, k int, a []float64, lda int, c []float64, ldc int) error {
	return errors.New("no LAPACK in this build")
}

// DsyevTop is not in this build.
func (l *LAPACK) DsyevTop(n int, a []float64, lda, k int, w, z []float64, ldz int) error {
	return errors.New("no LAPACK in this build")
}

// Dgesdd is not in this build.
func (l *LAPACK) Dgesdd(m, n int, a []float64, lda int, s, u []float64, ldu int, vt []float64, ldvt int) error {
	return errors.New("no LAPACK in this build")
}
