package bench

// Task-vector op benchmarks: memory-bound, so each reports GB/s through
// SetBytes (bytes read + written) next to BenchmarkCopy, the bandwidth anchor.
// Sizes: 1M elements (4 MiB of f32, cache-resident on most servers) and 16M
// (64 MiB, from memory).

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/half"
)

var taskVecSizes = []int{1 << 20, 16 << 20}

func taskVecSizeName(n int) string { return fmt.Sprintf("%dM", n>>20) }

// BenchmarkCopy is Go's copy() between two []float32: SetBytes = 2*4n.
func BenchmarkCopy(b *testing.B) {
	for _, n := range taskVecSizes {
		b.Run(taskVecSizeName(n), func(b *testing.B) {
			src, dst := make([]float32, n), make([]float32, n)
			for i := range src {
				src[i] = float32(i)
			}
			copy(dst, src) // fault the pages in before timing
			b.SetBytes(int64(8 * n))
			for b.Loop() {
				copy(dst, src)
			}
		})
	}
}

// tvBuf allocates n elements of dt on be filled with values in [-1, 1).
func tvBuf(b *testing.B, be ffi.Backend, dt ffi.DType, n int) ffi.Vec {
	b.Helper()
	buf := allocBuf(b, be, dt, n)
	rng := rand.New(rand.NewPCG(uint64(n), uint64(dt)))
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*rng.Float32() - 1
	}
	data := ffi.F32Bytes(x)
	if dt != ffi.F32 {
		h := make([]uint16, n)
		for i, f := range x {
			if dt == ffi.F16 {
				h[i] = half.F32ToF16(f)
			} else {
				h[i] = half.F32ToBF16(f)
			}
		}
		data = ffi.U16Bytes(h)
	}
	if err := be.Upload(ffi.All(buf), data); err != nil {
		b.Fatal(err)
	}
	return ffi.All(buf)
}

// runTaskVec runs, for every size and CPU path, the op that setup builds;
// bytesPerElem is what one element costs in reads plus writes.
func runTaskVec(b *testing.B, bytesPerElem int, setup func(b *testing.B, be ffi.Backend, n int) func() error) {
	for _, n := range taskVecSizes {
		for _, impl := range cpuImpls() {
			b.Run(taskVecSizeName(n)+"/"+impl, func(b *testing.B) {
				be := openBackend(b, impl)
				timeOp(b, bytesPerElem*n, setup(b, be, n))
			})
		}
	}
}

func benchConvert(b *testing.B, dt, st ffi.DType) {
	runTaskVec(b, dt.Size()+st.Size(), func(b *testing.B, be ffi.Backend, n int) func() error {
		dst, src := tvBuf(b, be, dt, n), tvBuf(b, be, st, n)
		return func() error { return be.Convert(dst, src) }
	})
}

func BenchmarkTaskVectorConvertF32ToBF16(b *testing.B) { benchConvert(b, ffi.BF16, ffi.F32) }
func BenchmarkTaskVectorConvertBF16ToF32(b *testing.B) { benchConvert(b, ffi.F32, ffi.BF16) }
func BenchmarkTaskVectorConvertF16ToF32(b *testing.B)  { benchConvert(b, ffi.F32, ffi.F16) }
func BenchmarkTaskVectorConvertF32ToF16(b *testing.B)  { benchConvert(b, ffi.F16, ffi.F32) }

func benchSub(b *testing.B, in ffi.DType) {
	runTaskVec(b, 2*in.Size()+4, func(b *testing.B, be ffi.Backend, n int) func() error {
		dst, ft, base := tvBuf(b, be, ffi.F32, n), tvBuf(b, be, in, n), tvBuf(b, be, in, n)
		return func() error { return be.Sub(dst, ft, base) }
	})
}

// BenchmarkTaskVectorSubBF16 is tau = ft - base from bf16 checkpoints into f32.
func BenchmarkTaskVectorSubBF16(b *testing.B) { benchSub(b, ffi.BF16) }
func BenchmarkTaskVectorSubF32(b *testing.B)  { benchSub(b, ffi.F32) }

func BenchmarkTaskVectorSumSq(b *testing.B) {
	runTaskVec(b, 4, func(b *testing.B, be ffi.Backend, n int) func() error {
		x, out := tvBuf(b, be, ffi.F32, n), tiesAlloc(b, be, ffi.F64, 1)
		return func() error { return be.SumSq(x, out) }
	})
}

// BenchmarkTaskVectorScale alternates the factor so values stay bounded.
func BenchmarkTaskVectorScale(b *testing.B) {
	runTaskVec(b, 8, func(b *testing.B, be ffi.Backend, n int) func() error {
		x, a := tvBuf(b, be, ffi.F32, n), float32(0.5)
		return func() error { a = 1 / a; return be.Scale(x, a) }
	})
}

// BenchmarkTaskVectorAxpy alternates the sign of a so y stays bounded.
func BenchmarkTaskVectorAxpy(b *testing.B) {
	runTaskVec(b, 12, func(b *testing.B, be ffi.Backend, n int) func() error {
		x, y, a := tvBuf(b, be, ffi.F32, n), tvBuf(b, be, ffi.F32, n), float32(0.25)
		return func() error { a = -a; return be.Axpy(a, x, y) }
	})
}

// BenchmarkTaskVectorWeightedSum merges 8 task vectors.
func BenchmarkTaskVectorWeightedSum(b *testing.B) {
	const count = 8
	runTaskVec(b, 4*count+4, func(b *testing.B, be ffi.Backend, n int) func() error {
		xs, w := make([]ffi.Vec, count), make([]float32, count)
		for t := range xs {
			xs[t], w[t] = tvBuf(b, be, ffi.F32, n), 1/float32(count)
		}
		dst := tvBuf(b, be, ffi.F32, n)
		return func() error { return be.WeightedSum(dst, xs, w) }
	})
}
