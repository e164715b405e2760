package bench

// Fused loss benchmarks. SetBytes counts the compulsory traffic: the logit
// matrices read once and the gradient written once (KL: 3 x 4 B per element,
// cross-entropy: 2 x 4 B), so MB/s compares directly with BenchmarkCopy.
// bench/peers/compare_kl.sh runs BenchmarkKLDistill next to PyTorch.

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/ffi"
)

// lossShapes are rows x classes: a small classifier head, ImageNet-sized and
// vocabulary-sized outputs.
var lossShapes = [][2]int{{128, 10}, {1024, 1000}, {1024, 32000}}

// lossMat uploads a rows x cols matrix of logits uniform in [-scale, scale).
func lossMat(b *testing.B, be ffi.Backend, rows, cols int, seed uint64, scale float32) ffi.Mat {
	b.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(rows*cols)))
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = (2*rng.Float32() - 1) * scale
	}
	buf, err := ffi.NewF32(be, x)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Free(buf) })
	return ffi.Mat{Buf: buf, LD: cols}
}

// runLoss runs, for every shape and CPU path, the op that setup builds.
func runLoss(b *testing.B, bytesPerElem int, setup func(b *testing.B, be ffi.Backend, rows, cols int) func() error) {
	for _, s := range lossShapes {
		rows, cols := s[0], s[1]
		for _, impl := range cpuImpls() {
			b.Run(fmt.Sprintf("%dx%d/%s", rows, cols, impl), func(b *testing.B) {
				be := openBackend(b, impl)
				timeOp(b, bytesPerElem*rows*cols, setup(b, be, rows, cols))
			})
		}
	}
}

// BenchmarkKLDistill: fused DisTaC loss and student-logit gradient at the
// norm-conditioning temperatures (10, 10).
func BenchmarkKLDistill(b *testing.B) {
	runLoss(b, 12, func(b *testing.B, be ffi.Backend, rows, cols int) func() error {
		zt, zs := lossMat(b, be, rows, cols, 1, 8), lossMat(b, be, rows, cols, 2, 8)
		grad := lossMat(b, be, rows, cols, 3, 0)
		return func() error {
			_, err := be.KLDistill(rows, cols, zt, zs, 10, 10, grad)
			return err
		}
	})
}

// BenchmarkCrossEntropyLS: label-smoothed cross-entropy (eps 0.1) and its gradient.
func BenchmarkCrossEntropyLS(b *testing.B) {
	runLoss(b, 8, func(b *testing.B, be ffi.Backend, rows, cols int) func() error {
		z, grad := lossMat(b, be, rows, cols, 4, 8), lossMat(b, be, rows, cols, 5, 0)
		buf := allocBuf(b, be, ffi.I32, rows)
		labels := make([]int32, rows)
		for r := range labels {
			labels[r] = int32(r * 7919 % cols)
		}
		if err := be.Upload(ffi.All(buf), ffi.I32Bytes(labels)); err != nil {
			b.Fatal(err)
		}
		return func() error {
			_, err := be.CrossEntropyLS(rows, cols, z, ffi.All(buf), 0.1, grad)
			return err
		}
	})
}
