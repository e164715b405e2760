package bench

// BenchmarkSgemmBF16 times SgemmBF16 (bf16-rounded operands, fp32 sums: the
// matmul of --precision bf16) against Sgemm on the same path, interleaved
// shape by shape, on the ViT GEMMs of a DisTaC step: ViT-B/32 at batch 8
// (400 token rows) and the small demo ViT at batch 128 (2176 rows), each
// layer in its three forms (forward x W^T: NT; dx = dy W: NN; dW = dy^T x:
// TN), and 1024^3. Names: SgemmBF16/<m>x<n>x<k>_<NT|NN|TN>/<impl>-{bf16,f32}.
//
//	go test -run XXX -bench SgemmBF16 ./bench

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/ffi"
)

var bf16Shapes = []struct {
	m, n, k        int
	transA, transB bool
}{
	{400, 2304, 768, false, true}, {400, 768, 2304, false, false}, {2304, 768, 400, true, false}, // qkv, batch 8
	{400, 3072, 768, false, true}, {400, 768, 3072, false, false}, {3072, 768, 400, true, false}, // MLP up
	{2176, 192, 64, false, true}, {2176, 64, 256, false, false}, {256, 64, 2176, true, false}, // small ViT
	{1024, 1024, 1024, false, false},
}

func BenchmarkSgemmBF16(b *testing.B) {
	for _, s := range bf16Shapes {
		tr := map[bool]string{false: "N", true: "T"}
		name := fmt.Sprintf("%dx%dx%d_%s%s", s.m, s.n, s.k, tr[s.transA], tr[s.transB])
		ar, ac, br, bc := ffi.GemmShapes(s.transA, s.transB, s.m, s.n, s.k)
		rng := rand.New(rand.NewPCG(uint64(s.m), uint64(s.n*s.k)))
		x, y := sgemmRandom(rng, ar*ac), sgemmRandom(rng, br*bc)
		for _, impl := range cpuImpls() {
			if impl == "ref" || impl == "scalar" {
				continue // seconds per call at these shapes
			}
			for _, prec := range []string{"bf16", "f32"} {
				b.Run(name+"/"+impl+"-"+prec, func(b *testing.B) {
					be := openBackend(b, impl)
					tr, ok := be.(ffi.Trainer)
					if !ok {
						b.Skipf("%s has no training ops", impl)
					}
					op := be.Sgemm
					if prec == "bf16" {
						op = tr.SgemmBF16
					}
					a, bm := sgemmUpload(b, be, x, ac), sgemmUpload(b, be, y, bc)
					c := sgemmUpload(b, be, make([]float32, s.m*s.n), s.n)
					sgemmLoop(b, s.m, s.n, s.k, func() error {
						return op(s.transA, s.transB, s.m, s.n, s.k, 1, a, bm, 0, c)
					})
				})
			}
		}
	}
}
