package bench

// BenchmarkVsCopy runs each memory-bound task-vector op at 16M elements
// (64 MiB of f32 per input) alternately with the Copy anchor, one of each
// per iteration, and reports both bandwidths and their ratio ("x-copy"). On
// a shared machine the bandwidth a process gets drifts by 2x within seconds,
// so a Copy measured in its own benchmark, seconds apart, makes a noisy
// yardstick; interleaved, op and anchor see the same conditions. ns/op is
// that of the pair.

import (
	"testing"
	"time"

	"github.com/distac/distac/ffi"
)

type vsCopyOp struct {
	name  string
	bytes int // read + written per element
	setup func(b *testing.B, be ffi.Backend, n int) func() error
}

var vsCopyOps = []vsCopyOp{
	{"SumSq", 4, func(b *testing.B, be ffi.Backend, n int) func() error {
		x, out := tvBuf(b, be, ffi.F32, n), tiesAlloc(b, be, ffi.F64, 1)
		return func() error { return be.SumSq(x, out) }
	}},
	{"WeightedSum8", 4*8 + 4, func(b *testing.B, be ffi.Backend, n int) func() error {
		xs, w := make([]ffi.Vec, 8), make([]float32, 8)
		for t := range xs {
			xs[t], w[t] = tvBuf(b, be, ffi.F32, n), 1.0/8
		}
		dst := tvBuf(b, be, ffi.F32, n)
		return func() error { return be.WeightedSum(dst, xs, w) }
	}},
	{"TiesTrim", 8, func(b *testing.B, be ffi.Backend, n int) func() error {
		x := tiesInputs(b, be, 1, n)[0]
		dst := tiesAlloc(b, be, ffi.F32, n)
		return func() error { return be.TiesTrim(dst, x, tiesBenchKeep*tiesBenchScale) }
	}},
	{"TiesMerge8", 4 * (8 + 1), func(b *testing.B, be ffi.Backend, n int) func() error {
		xs := tiesInputs(b, be, tiesBenchTasks, n)
		dst := tiesAlloc(b, be, ffi.F32, n)
		thr := make([]float32, len(xs))
		for t := range thr {
			thr[t] = tiesBenchKeep * tiesBenchScale
		}
		return func() error { return be.TiesMerge(dst, xs, thr) }
	}},
	{"TallConsensus8", 4*8 + 4 + 1, func(b *testing.B, be ffi.Backend, n int) func() error {
		xs := tiesInputs(b, be, tiesBenchTasks, n)
		dst, counts := tiesAlloc(b, be, ffi.F32, n), tiesAlloc(b, be, ffi.U8, n)
		lambdas := make([]float32, len(xs))
		for t := range lambdas {
			lambdas[t] = 0.2 + 0.1*float32(t%5)
		}
		return func() error { return be.TallConsensus(dst, counts, xs, lambdas, 2) }
	}},
}

func BenchmarkVsCopy(b *testing.B) {
	const n = 16 << 20
	src, dst := make([]float32, n), make([]float32, n)
	for i := range src {
		src[i] = float32(i)
	}
	copy(dst, src)
	for _, o := range vsCopyOps {
		for _, impl := range cpuImpls() {
			if impl == "ref" || impl == "scalar" { // the targets are the SIMD paths
				continue
			}
			b.Run(o.name+"/16M/"+impl, func(b *testing.B) {
				be := openBackend(b, impl)
				op := o.setup(b, be, n)
				if err := op(); err != nil { // also faults the output pages in
					b.Fatal(err)
				}
				var tCopy, tOp time.Duration
				for b.Loop() {
					t0 := time.Now()
					copy(dst, src)
					t1 := time.Now()
					if err := op(); err != nil {
						b.Fatal(err)
					}
					tCopy, tOp = tCopy+t1.Sub(t0), tOp+time.Since(t1)
				}
				iters := float64(b.N)
				copyGBs := iters * 8 * n / tCopy.Seconds() / 1e9
				opGBs := iters * float64(o.bytes) * n / tOp.Seconds() / 1e9
				b.ReportMetric(copyGBs, "copy-GB/s")
				b.ReportMetric(opGBs, "op-GB/s")
				b.ReportMetric(opGBs/copyGBs, "x-copy")
			})
		}
	}
}
