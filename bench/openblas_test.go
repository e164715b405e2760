//go:build openblas

package bench

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/distac/distac/ffi"
)

// With -tags openblas, BenchmarkSgemm also runs OpenBLAS's cblas_sgemm.
func init() {
	sgemmPeers = append(sgemmPeers, sgemmPeer{name: "openblas", run: ffi.OpenBLASSgemm})
}

// sgemmPairShape is one GEMM of the paired benchmark: op(A) m x k, op(B) k x n.
type sgemmPairShape struct {
	transA, transB bool
	m, n, k        int
	beta           float32
}

func (s sgemmPairShape) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%dx%dx%d%s%s", s.m, s.n, s.k, t(s.transA), t(s.transB))
}

// sgemmPairShapes: the cubes, then the GEMMs of one ViT-B/32 training step
// (distac/model/ops.go: forward y = x W^T is NT, dX = dY W is NN, dW += dY^T x
// is TN with beta 1) at batch 8 (8 images x 50 tokens = 400 rows) for the
// attention in-projection (768 -> 2304), out-projection (768 -> 768) and the MLP
// (768 -> 3072 -> 768), and the forward ones at batch 128 (6400 rows).
func sgemmPairShapes() []sgemmPairShape {
	shapes := []sgemmPairShape{{m: 256, n: 256, k: 256}, {m: 1024, n: 1024, k: 1024}}
	layers := [][2]int{{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}} // in, out
	for _, rows := range []int{400, 6400} {
		for _, l := range layers {
			in, out := l[0], l[1]
			shapes = append(shapes, sgemmPairShape{transB: true, m: rows, n: out, k: in})
			if rows == 400 {
				shapes = append(shapes, sgemmPairShape{m: rows, n: in, k: out},
					sgemmPairShape{transA: true, m: out, n: in, k: rows, beta: 1})
			}
		}
	}
	return shapes
}

// BenchmarkSgemmVsOpenBLAS alternates one distac call and one OpenBLAS call
// per iteration on the same operands and reports both rates and their ratio
// ("x-openblas"): on a shared machine the CPU time a process gets drifts
// within seconds, and interleaving lets both see the same conditions. Run it
// with OPENBLAS_THREAD_TIMEOUT=4: OpenBLAS's threads otherwise spin for about
// 2^28 cycles after each call, on the cores our next call needs (on 2 cores
// the ratio then reads anywhere from 0.3x to 0.9x).
func BenchmarkSgemmVsOpenBLAS(b *testing.B) {
	for _, s := range sgemmPairShapes() {
		m, n, k := s.m, s.n, s.k
		ar, ac := m, k
		if s.transA {
			ar, ac = k, m
		}
		br, bc := k, n
		if s.transB {
			br, bc = n, k
		}
		rng := rand.New(rand.NewPCG(uint64(m), uint64(n*k)))
		x, y := sgemmRandom(rng, ar*ac), sgemmRandom(rng, br*bc)
		for _, impl := range cpuImpls() {
			if impl == "ref" || impl == "scalar" {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s", s, impl), func(b *testing.B) {
				be := openBackend(b, impl)
				a, bm, c := sgemmUpload(b, be, x, ac), sgemmUpload(b, be, y, bc), sgemmUpload(b, be, make([]float32, m*n), n)
				cb := make([]float32, m*n)
				ours := func() error { return be.Sgemm(s.transA, s.transB, m, n, k, 1, a, bm, s.beta, c) }
				theirs := func() error {
					return ffi.OpenBLASSgemm(s.transA, s.transB, m, n, k, 1, x, ac, y, bc, s.beta, cb, n)
				}
				if ours() != nil || theirs() != nil { // warm-up: page faults, threads
					b.Fatal("sgemm failed")
				}
				var tOurs, tTheirs time.Duration
				for b.Loop() {
					t0 := time.Now()
					if err := ours(); err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					if err := theirs(); err != nil {
						b.Fatal(err)
					}
					tOurs, tTheirs = tOurs+t1.Sub(t0), tTheirs+time.Since(t1)
				}
				flop := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
				b.ReportMetric(flop/tOurs.Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flop/tTheirs.Seconds()/1e9, "openblas-GFLOP/s")
				b.ReportMetric(tTheirs.Seconds()/tOurs.Seconds(), "x-openblas")
			})
		}
	}
}
