package merge

import "sync"

// Float64 scratch for the SVD methods: their matrices (19 MB for a
// 3072 x 768 float64) come and go per tensor, and fresh ones cost a page
// fault per 4 KiB once the runtime has returned the old ones to the OS (a
// fifth of an Iso-C merge's CPU time went to the kernel). A slice taken
// with getF64 goes back with putF64 once nothing refers to it.
var f64Pool sync.Pool

// getF64 is a slice of n float64s, its contents undefined.
func getF64(n int) []float64 {
	if p, ok := f64Pool.Get().(*[]float64); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float64, n)
}

// putF64 returns x to the pool.
func putF64(x []float64) {
	if cap(x) > 0 {
		f64Pool.Put(&x)
	}
}
