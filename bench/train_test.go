package bench

// Training-op benchmarks at ViT-B shapes (6272 tokens = 128 images x 49
// patches, width 768, MLP 3072; attention rows of 50 and 197 keys). Every op
// is memory-bound or close to it, so each reports GB/s through SetBytes
// (compulsory bytes read + written per call), to be read against
// BenchmarkCopy at a similar footprint.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/ffi"
)

var (
	trainLNShapes = [][2]int{{197, 768}, {6272, 768}}
	// batch x seq x heads x head_dim: the small ViT (17 tokens, 4 heads of 16)
	// at batch 128, and ViT-B/32 (50 tokens, 12 heads of 64) at batch 8.
	trainAttnShapes = [][4]int{{128, 17, 4, 16}, {8, 50, 12, 64}}
	// L2-normalized features: CLIP's 512-wide embeddings of a batch, and a
	// token-sized matrix.
	trainL2Shapes      = [][2]int{{128, 512}, {6272, 768}}
	trainSoftmaxShapes = [][2]int{{7200, 50}, {1024, 197}}
	trainVecSizes      = []int{1 << 20, 16 << 20}
)

func trainSizeName(n int) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%dM", n>>20)
	}
	return fmt.Sprintf("%d", n)
}

// trainBuf allocates n F32 elements on be, uniform in [lo, hi).
func trainBuf(b *testing.B, be ffi.Backend, n int, lo, hi float32) ffi.Buffer {
	b.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(math.Float32bits(lo))<<32|uint64(math.Float32bits(hi))))
	x := make([]float32, n)
	for i := range x {
		x[i] = lo + (hi-lo)*rng.Float32()
	}
	buf, err := ffi.NewF32(be, x)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Free(buf) })
	return buf
}

// runTrain runs, for every shape and CPU path, the op that setup builds;
// bytesPerElem is what one element of the rows x cols problem costs in reads
// plus writes (per-row and per-column vectors are not counted).
func runTrain(b *testing.B, shapes [][2]int, bytesPerElem int,
	setup func(b *testing.B, be ffi.Backend, tr ffi.Trainer, rows, cols int) func() error) {
	for _, s := range shapes {
		rows, cols := s[0], s[1]
		name := fmt.Sprintf("%dx%d", rows, cols)
		if rows == 1 {
			name = trainSizeName(cols)
		}
		for _, impl := range cpuImpls() {
			b.Run(name+"/"+impl, func(b *testing.B) {
				be := openBackend(b, impl)
				tr, ok := be.(ffi.Trainer)
				if !ok {
					b.Skipf("%s has no training ops", impl)
				}
				timeOp(b, bytesPerElem*rows*cols, setup(b, be, tr, rows, cols))
			})
		}
	}
}

// trainVecShapes are the elementwise sizes as 1 x n problems.
func trainVecShapes() [][2]int {
	var s [][2]int
	for _, n := range trainVecSizes {
		s = append(s, [2]int{1, n})
	}
	return s
}

// layerNormSetup builds x, gamma, beta, y and the row statistics, with the
// forward already run (the backward needs its mean and rstd).
func layerNormSetup(b *testing.B, be ffi.Backend, tr ffi.Trainer, rows, cols int) (x, y ffi.Mat, gamma, beta, mean, rstd ffi.Vec) {
	x = ffi.Mat{Buf: trainBuf(b, be, rows*cols, -2, 2), LD: cols}
	y = ffi.Mat{Buf: trainBuf(b, be, rows*cols, 0, 0), LD: cols}
	gamma, beta = ffi.All(trainBuf(b, be, cols, 0.5, 1.5)), ffi.All(trainBuf(b, be, cols, -0.5, 0.5))
	mean, rstd = ffi.All(trainBuf(b, be, rows, 0, 0)), ffi.All(trainBuf(b, be, rows, 0, 0))
	if err := tr.LayerNormForward(rows, cols, x, gamma, beta, 1e-5, y, mean, rstd); err != nil {
		b.Fatal(err)
	}
	return
}

// BenchmarkLayerNorm: forward, x read and y written (8 B per element).
func BenchmarkLayerNorm(b *testing.B) {
	runTrain(b, trainLNShapes, 8, func(b *testing.B, be ffi.Backend, tr ffi.Trainer, rows, cols int) func() error {
		x, y, gamma, beta, mean, rstd := layerNormSetup(b, be, tr, rows, cols)
		return func() error { return tr.LayerNormForward(rows, cols, x, gamma, beta, 1e-5, y, mean, rstd) }
	})
}

// BenchmarkLayerNormBackward: dy and x read, dx written (12 B per element),
// dgamma and dbeta accumulated.
func BenchmarkLayerNormBackward(b *testing.B) {
	runTrain(b, trainLNShapes, 12, func(b *testing.B, be ffi.Backend, tr ffi.Trainer, rows, cols int) func() error {
		x, _, gamma, _, mean, rstd := layerNormSetup(b, be, tr, rows, cols)
		dy := ffi.Mat{Buf: trainBuf(b, be, rows*cols, -1, 1), LD: cols}
		dx := ffi.Mat{Buf: trainBuf(b, be, rows*cols, 0, 0), LD: cols}
		dg, db := ffi.All(trainBuf(b, be, cols, 0, 0)), ffi.All(trainBuf(b, be, cols, 0, 0))
		return func() error {
			return tr.LayerNormBackward(rows, cols, dy, x, mean, rstd, gamma, dx, false, dg, db)
		}
	})
}

func benchGELU(b *testing.B, quick, backward bool) {
	bytes := 8
	if backward {
		bytes = 12
	}
	runTrain(b, trainVecShapes(), bytes, func(b *testing.B, be ffi.Backend, tr ffi.Trainer, _, n int) func() error {
		x, dy := ffi.All(trainBuf(b, be, n, -4, 4)), ffi.All(trainBuf(b, be, n, -1, 1))
		out := ffi.All(trainBuf(b, be, n, 0, 0))
		if backward {
			return func() error { return tr.GELUBackward(x, dy, out, quick) }
		}
		return func() error { return tr.GELUForward(x, out, quick) }
	})
}

// BenchmarkGELU: exact (erf) GELU forward, 8 B per element.
func BenchmarkGELU(b *testing.B) { benchGELU(b, false, false) }

// BenchmarkGELUBackward: x and dy read, dx written, 12 B per element.
func BenchmarkGELUBackward(b *testing.B) { benchGELU(b, false, true) }

// BenchmarkQuickGELU: x * sigmoid(1.702 x) forward, 8 B per element.
func BenchmarkQuickGELU(b *testing.B) { benchGELU(b, true, false) }

// BenchmarkQuickGELUBackward: 12 B per element.
func BenchmarkQuickGELUBackward(b *testing.B) { benchGELU(b, true, true) }

// BenchmarkSoftmax: forward, x read and y written (8 B per element).
func BenchmarkSoftmax(b *testing.B) {
	runTrain(b, trainSoftmaxShapes, 8, func(b *testing.B, be ffi.Backend, tr ffi.Trainer, rows, cols int) func() error {
		x := ffi.Mat{Buf: trainBuf(b, be, rows*cols, -8, 8), LD: cols}
		y := ffi.Mat{Buf: trainBuf(b, be, rows*cols, 0, 0), LD: cols}
		return func() error { return tr.SoftmaxForward(rows, cols, x, y) }
	})
}

// BenchmarkSoftmaxBackward: y and dy read, dx written (12 B per element).
func BenchmarkSoftmaxBackward(b *testing.B) {
	runTrain(b, trainSoftmaxShapes, 12, func(b *testing.B, be ffi.Backend, tr ffi.Trainer, rows, cols int) func() error {
		x := ffi.Mat{Buf: trainBuf(b, be, rows*cols, -8, 8), LD: cols}
		y := ffi.Mat{Buf: trainBuf(b, be, rows*cols, 0, 0), LD: cols}
		if err := tr.SoftmaxForward(rows, cols, x, y); err != nil {
			b.Fatal(err)
		}
		dy := ffi.Mat{Buf: trainBuf(b, be, rows*cols, -1, 1), LD: cols}
		dx := ffi.Mat{Buf: trainBuf(b, be, rows*cols, 0, 0), LD: cols}
		return func() error { return tr.SoftmaxBackward(rows, cols, y, dy, dx) }
	})
}

// BenchmarkBiasAdd: y read and written (8 B per element).
func BenchmarkBiasAdd(b *testing.B) {
	runTrain(b, [][2]int{{6272, 768}, {6272, 3072}}, 8, func(b *testing.B, be ffi.Backend, tr ffi.Trainer, rows, cols int) func() error {
		y := ffi.Mat{Buf: trainBuf(b, be, rows*cols, -1, 1), LD: cols}
		bias := ffi.All(trainBuf(b, be, cols, -1e-3, 1e-3))
		return func() error { return tr.BiasAdd(rows, cols, y, bias) }
	})
}

// BenchmarkBiasGrad: dy read (4 B per element), db accumulated.
func BenchmarkBiasGrad(b *testing.B) {
	runTrain(b, [][2]int{{6272, 768}, {6272, 3072}}, 4, func(b *testing.B, be ffi.Backend, tr ffi.Trainer, rows, cols int) func() error {
		dy := ffi.Mat{Buf: trainBuf(b, be, rows*cols, -1, 1), LD: cols}
		db := ffi.All(trainBuf(b, be, cols, 0, 0))
		return func() error { return tr.BiasGrad(rows, cols, dy, db) }
	})
}

// BenchmarkAdam: one anchored, clipped step (DisTaC's defaults). theta, grad,
// m, v and thetaInit read, theta, m and v written: 32 B per parameter.
func BenchmarkAdam(b *testing.B) {
	runTrain(b, trainVecShapes(), 32, func(b *testing.B, be ffi.Backend, tr ffi.Trainer, _, n int) func() error {
		theta, grad := ffi.All(trainBuf(b, be, n, -1, 1)), ffi.All(trainBuf(b, be, n, -1e-3, 1e-3))
		m, v := ffi.All(trainBuf(b, be, n, -1e-3, 1e-3)), ffi.All(trainBuf(b, be, n, 0, 1e-6))
		init := ffi.All(trainBuf(b, be, n, -1, 1))
		p := ffi.AdamParams{LR: 1e-5, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Anchor: 0.1, ClipScale: 0.5, Step: 10}
		return func() error { return tr.AdamStep(theta, grad, m, v, init, p) }
	})
}

// BenchmarkAnchoredGradSumSq: grad, theta and thetaInit read, 12 B per parameter.
func BenchmarkAnchoredGradSumSq(b *testing.B) {
	runTrain(b, trainVecShapes(), 12, func(b *testing.B, be ffi.Backend, tr ffi.Trainer, _, n int) func() error {
		grad, theta := ffi.All(trainBuf(b, be, n, -1, 1)), ffi.All(trainBuf(b, be, n, -1, 1))
		init := ffi.All(trainBuf(b, be, n, -1, 1))
		return func() error {
			_, err := tr.AnchoredGradSumSq(grad, theta, init, 0.1)
			return err
		}
	})
}

// runAttention runs the attention forward (or backward, from the forward's
// probs) for every shape and CPU path. Bytes: qkv read, probs and out
// written (forward); qkv, probs and dout read, dqkv written (backward).
// FLOP: 4 seq^2 head_dim per (batch item, head) for the forward's two
// products, 8 for the backward's four.
func runAttention(b *testing.B, backward bool) {
	for _, s := range trainAttnShapes {
		batch, seq, heads, dh := s[0], s[1], s[2], s[3]
		rows, d, np := batch*seq, heads*dh, batch*heads*seq*seq
		for _, impl := range cpuImpls() {
			b.Run(fmt.Sprintf("%dx%dx%dx%d/%s", batch, seq, heads, dh, impl), func(b *testing.B) {
				be := openBackend(b, impl)
				tr, ok := be.(ffi.Trainer)
				if !ok {
					b.Skipf("%s has no training ops", impl)
				}
				qkv := ffi.Mat{Buf: trainBuf(b, be, rows*3*d, -1, 1), LD: 3 * d}
				probs := ffi.All(trainBuf(b, be, np, 0, 0))
				out := ffi.Mat{Buf: trainBuf(b, be, rows*d, 0, 0), LD: d}
				scale := float32(1 / math.Sqrt(float64(dh)))
				op := func() error { return tr.AttentionForward(batch, seq, heads, dh, scale, qkv, probs, out) }
				bytes, flops := 4*(rows*3*d+np+rows*d), 4*batch*heads*seq*seq*dh
				if backward {
					if err := op(); err != nil {
						b.Fatal(err)
					}
					dout := ffi.Mat{Buf: trainBuf(b, be, rows*d, -1, 1), LD: d}
					dqkv := ffi.Mat{Buf: trainBuf(b, be, rows*3*d, 0, 0), LD: 3 * d}
					op = func() error { return tr.AttentionBackward(batch, seq, heads, dh, scale, qkv, probs, dout, dqkv) }
					bytes, flops = 4*(2*rows*3*d+np+rows*d), 2*flops
				}
				trainLoop(b, bytes, flops, op)
			})
		}
	}
}

// trainLoop times op after one warm-up call, with SetBytes and GFLOP/s.
func trainLoop(b *testing.B, bytes, flops int, op func() error) {
	b.Helper()
	if err := op(); err != nil { // also faults the output pages in
		b.Fatal(err)
	}
	b.SetBytes(int64(bytes))
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(flops)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkAttentionForward: S = scale Q K^T, P = softmax(S), out = P V with
// probs stored (the training forward).
func BenchmarkAttentionForward(b *testing.B) { runAttention(b, false) }

// BenchmarkAttentionBackward: dQ, dK, dV from the stored probs.
func BenchmarkAttentionBackward(b *testing.B) { runAttention(b, true) }

// BenchmarkL2Norm: forward, x read, y and the norms written (8 B per
// element); ~3 FLOP per element (square-add, scale).
func BenchmarkL2Norm(b *testing.B) {
	runL2Norm(b, false)
}

// BenchmarkL2NormBackward: dy and y read, dx written (12 B per element);
// ~4 FLOP per element (dot, projection, scale).
func BenchmarkL2NormBackward(b *testing.B) {
	runL2Norm(b, true)
}

func runL2Norm(b *testing.B, backward bool) {
	for _, s := range trainL2Shapes {
		rows, cols := s[0], s[1]
		for _, impl := range cpuImpls() {
			b.Run(fmt.Sprintf("%dx%d/%s", rows, cols, impl), func(b *testing.B) {
				be := openBackend(b, impl)
				tr, ok := be.(ffi.Trainer)
				if !ok {
					b.Skipf("%s has no training ops", impl)
				}
				x := ffi.Mat{Buf: trainBuf(b, be, rows*cols, -1, 1), LD: cols}
				y := ffi.Mat{Buf: trainBuf(b, be, rows*cols, 0, 0), LD: cols}
				norm := ffi.All(trainBuf(b, be, rows, 0, 0))
				const eps = 1e-12
				op := func() error { return tr.L2NormForward(rows, cols, x, eps, y, norm) }
				bytes, flops := 8*rows*cols+4*rows, 3*rows*cols
				if backward {
					if err := op(); err != nil {
						b.Fatal(err)
					}
					dy := ffi.Mat{Buf: trainBuf(b, be, rows*cols, -1, 1), LD: cols}
					dx := ffi.Mat{Buf: trainBuf(b, be, rows*cols, 0, 0), LD: cols}
					op = func() error { return tr.L2NormBackward(rows, cols, dy, y, norm, eps, dx) }
					bytes, flops = 12*rows*cols+4*rows, 4*rows*cols
				}
				trainLoop(b, bytes, flops, op)
			})
		}
	}
}
