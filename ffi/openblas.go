//go:build openblas && cgo

package ffi

// OpenBLAS as a benchmark peer, so cgo stays inside this package. Built only
// with -tags openblas (needs libopenblas-dev: cblas.h and -lopenblas).

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"fmt"
	"math"
)

// OpenBLASSgemm runs cblas_sgemm (row-major) on Go slices with the semantics of
// Backend.Sgemm: C = alpha * op(A) * op(B) + beta * C. It checks the shapes
// against the slice lengths and returns an error instead of reading or
// writing out of bounds; OpenBLAS picks its own thread count
// (OPENBLAS_NUM_THREADS, default every CPU).
func OpenBLASSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) error {
	ar, ac, br, bc := GemmShapes(transA, transB, m, n, k)
	for _, x := range []int{m, n, k, lda, ldb, ldc} {
		if x < 0 || x > math.MaxInt32 { // blasint is 32 bits in Debian's build
			return fmt.Errorf("openblas sgemm: size %d out of range", x)
		}
	}
	if err := blasOperand("A", len(a), ar, ac, lda); err != nil {
		return err
	}
	if err := blasOperand("B", len(b), br, bc, ldb); err != nil {
		return err
	}
	if err := blasOperand("C", len(c), m, n, ldc); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	C.cblas_sgemm(C.CblasRowMajor, blasTrans(transA), blasTrans(transB),
		C.blasint(m), C.blasint(n), C.blasint(k), C.float(alpha),
		blasPtr(a), C.blasint(lda), blasPtr(b), C.blasint(ldb),
		C.float(beta), blasPtr(c), C.blasint(ldc))
	return nil
}

// blasOperand checks that a rows x cols matrix with leading dimension ld fits in n elements.
func blasOperand(what string, n, rows, cols, ld int) error {
	if ld < max(1, cols) {
		return fmt.Errorf("openblas sgemm %s: leading dimension %d < %d columns", what, ld, cols)
	}
	if rows > 0 && cols > 0 && (rows-1)*ld+cols > n {
		return fmt.Errorf("openblas sgemm %s: %dx%d (ld %d) needs more than %d elements", what, rows, cols, ld, n)
	}
	return nil
}

func blasTrans(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}

// blasPtr is the address of s[0], nil for an empty slice (never read then).
func blasPtr(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(&s[0])
}
