package ffi

import (
	"fmt"
	"math"
)

// EnvLAPACK names the environment variable that picks the LAPACK the SVD
// merges open at run time: a library path or soname, or "off" for none (the
// built-in gonum path). Unset: libopenblas.so.0, else liblapack.so.3.
const EnvLAPACK = "DISTAC_LAPACK"

// LAPACK is a float64 LAPACK opened at run time (dlopen; nothing is linked).
// Its methods take row-major Go slices, like cblas with CblasRowMajor, and
// check every shape against the slice lengths before calling. They run in
// the calling goroutine's thread, one thread each (the merge runs one
// matrix per worker); concurrent calls are safe.
type LAPACK struct{ name string }

// Name is the library opened (libopenblas.so.0, ...).
func (l *LAPACK) Name() string { return l.name }

// laShape checks that a rows x cols row-major matrix with leading dimension
// ld fits in n elements and that every size fits LAPACK's 32-bit integers.
func laShape(op, what string, n, rows, cols, ld int) error {
	for _, x := range []int{rows, cols, ld} {
		if x < 0 || x > math.MaxInt32 {
			return fmt.Errorf("lapack %s %s: size %d out of range", op, what, x)
		}
	}
	if ld < max(1, cols) {
		return fmt.Errorf("lapack %s %s: leading dimension %d < %d columns", op, what, ld, cols)
	}
	if rows > 0 && cols > 0 && (rows-1)*ld+cols > n {
		return fmt.Errorf("lapack %s %s: %dx%d (ld %d) needs more than %d elements", op, what, rows, cols, ld, n)
	}
	return nil
}

// dims of op(X) for an r x c X: c x r when transposed.
func opDims(trans bool, r, c int) (int, int) {
	if trans {
		return c, r
	}
	return r, c
}
