package bench

// Merge-method benchmarks over task vectors of 1M and 16M elements (4 and
// 64 MiB each). SetBytes counts the bytes read plus written, so GB/s compares
// directly with BenchmarkCopy. Trim, merge and TALL are memory-bound; the
// full AbsHistogram pass is not (it scatters one counter increment per
// element), and it dominates TopK. The CPU backend splits trim, merge, TALL
// and TopK over its threads; AbsHistogram is one kernel call on one thread.

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/distac/distac/ffi"
)

var tiesBenchSizes = []int{1 << 20, 1 << 24}

const (
	tiesBenchTasks = 8
	tiesBenchShift = 4099 // input t starts t*tiesBenchShift into the shared data
	tiesBenchScale = 1e-3 // task-vector entries are ~N(0, 1e-3^2)
	tiesBenchKeep  = 1.28 // a threshold of 1.28 sigma keeps the top 20%
)

// tiesBenchData is normal data shared by all inputs (generated once; each
// input is a shifted window of it, so inputs differ element by element).
var tiesBenchData = sync.OnceValue(func() []float32 {
	rng := rand.New(rand.NewPCG(7, 11))
	x := make([]float32, tiesBenchSizes[len(tiesBenchSizes)-1]+tiesBenchTasks*tiesBenchShift)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * tiesBenchScale)
	}
	return x
})

// tiesInputs uploads count task vectors of n elements to be.
func tiesInputs(b *testing.B, be ffi.Backend, count, n int) []ffi.Vec {
	b.Helper()
	data := tiesBenchData()
	xs := make([]ffi.Vec, count)
	for t := range xs {
		buf, err := ffi.NewF32(be, data[t*tiesBenchShift:t*tiesBenchShift+n])
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { be.Free(buf) })
		xs[t] = ffi.All(buf)
	}
	return xs
}

func tiesAlloc(b *testing.B, be ffi.Backend, dt ffi.DType, n int) ffi.Vec {
	b.Helper()
	return ffi.All(allocBuf(b, be, dt, n))
}

// tiesBench runs body for every size and CPU implementation.
func tiesBench(b *testing.B, body func(b *testing.B, be ffi.Backend, n int)) {
	for _, n := range tiesBenchSizes {
		for _, impl := range cpuImpls() {
			b.Run(fmt.Sprintf("%dM/%s", n>>20, impl), func(b *testing.B) {
				body(b, openBackend(b, impl), n)
			})
		}
	}
}

func BenchmarkTaskVectorTiesMerge(b *testing.B) {
	tiesBench(b, func(b *testing.B, be ffi.Backend, n int) {
		xs := tiesInputs(b, be, tiesBenchTasks, n)
		dst := tiesAlloc(b, be, ffi.F32, n)
		thr := make([]float32, len(xs))
		for t := range thr {
			thr[t] = tiesBenchKeep * tiesBenchScale
		}
		timeOp(b, 4*n*(len(xs)+1), func() error { return be.TiesMerge(dst, xs, thr) })
	})
}

func BenchmarkTaskVectorTiesTrim(b *testing.B) {
	tiesBench(b, func(b *testing.B, be ffi.Backend, n int) {
		x := tiesInputs(b, be, 1, n)[0]
		dst := tiesAlloc(b, be, ffi.F32, n)
		timeOp(b, 8*n, func() error { return be.TiesTrim(dst, x, tiesBenchKeep*tiesBenchScale) })
	})
}

// The first pass of the top-k select: every element counted (bits 16..30).
func BenchmarkTaskVectorAbsHistogram(b *testing.B) {
	tiesBench(b, func(b *testing.B, be ffi.Backend, n int) {
		x := tiesInputs(b, be, 1, n)[0]
		hist := tiesAlloc(b, be, ffi.U64, 1<<15)
		timeOp(b, 4*n, func() error { return be.AbsHistogram(x, 16, 15, 0, hist) })
	})
}

func BenchmarkTaskVectorTallConsensus(b *testing.B) {
	tiesBench(b, func(b *testing.B, be ffi.Backend, n int) {
		xs := tiesInputs(b, be, tiesBenchTasks, n)
		dst, counts := tiesAlloc(b, be, ffi.F32, n), tiesAlloc(b, be, ffi.U8, n)
		lambdas := make([]float32, len(xs))
		for t := range lambdas {
			lambdas[t] = 0.2 + 0.1*float32(t%5)
		}
		timeOp(b, 4*n*len(xs)+4*n+n, func() error { return be.TallConsensus(dst, counts, xs, lambdas, 2) })
	})
}

// The window pass of the merge's TIES threshold: every element counted
// against a window of 2^16 bit patterns around magnitude 0.25 (inside it:
// an exact histogram), as the pass after the sample does.
func BenchmarkTaskVectorAbsWindow(b *testing.B) {
	tiesBench(b, func(b *testing.B, be ffi.Backend, n int) {
		x := tiesInputs(b, be, 1, n)[0]
		hist, above := tiesAlloc(b, be, ffi.U64, 1<<16), tiesAlloc(b, be, ffi.U64, 1)
		timeOp(b, 4*n, func() error { return be.AbsWindow(x, 0x3e800000-1<<15, hist, above) })
	})
}
