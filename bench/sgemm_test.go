package bench

// GEMM benchmarks: C = A*B (no transposes, alpha 1, beta 0) on square cubes
// and the ViT-B linear layers at 32 images x 196 tokens (qkv/out-proj
// 6272x768x768, MLP up 6272x3072x768, MLP down 6272x768x3072).
// SetBytes counts A and B read once and C read and written once.
// With -tags openblas, impl=openblas runs beside the CPU paths:
//   go test -tags openblas -run XXX -bench 'Sgemm/1024x1024x1024' -count 3 ./bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/distac/distac/ffi"
)

var sgemmShapes = [][3]int{
	{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048},
	{6272, 768, 768}, {6272, 3072, 768}, {6272, 768, 3072},
}

// sgemmPeer is a GEMM outside distac's backends, on Go slices (row-major).
type sgemmPeer struct {
	name string
	run  func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
		b []float32, ldb int, beta float32, c []float32, ldc int) error
}

// sgemmPeers is filled by the init functions of build-tagged files.
var sgemmPeers []sgemmPeer

// sgemmRefMax is the largest m*n*k the ref backend runs: its float64 triple
// loop does about 1 GFLOP/s, so 512^3 and up would take seconds per call.
const sgemmRefMax = 256 * 256 * 256

func BenchmarkSgemm(b *testing.B) {
	for _, s := range sgemmShapes {
		m, n, k := s[0], s[1], s[2]
		rng := rand.New(rand.NewPCG(uint64(m), uint64(n*k)))
		x, y := sgemmRandom(rng, m*k), sgemmRandom(rng, k*n)
		for _, impl := range cpuImpls() {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, n, k, impl), func(b *testing.B) {
				if impl == "ref" && m*n*k > sgemmRefMax {
					b.Skip("ref: the float64 triple loop runs about 1 GFLOP/s; only shapes up to 256^3")
				}
				be := openBackend(b, impl)
				a, bm, c := sgemmUpload(b, be, x, k), sgemmUpload(b, be, y, n), sgemmUpload(b, be, make([]float32, m*n), n)
				sgemmLoop(b, m, n, k, func() error {
					return be.Sgemm(false, false, m, n, k, 1, a, bm, 0, c)
				})
			})
		}
		for _, p := range sgemmPeers {
			if !sgemmWanted(p.name) {
				continue
			}
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, n, k, p.name), func(b *testing.B) {
				c := make([]float32, m*n)
				sgemmLoop(b, m, n, k, func() error {
					return p.run(false, false, m, n, k, 1, x, k, y, n, 0, c, n)
				})
			})
		}
	}
}

// sgemmLoop times op and reports bytes and GFLOP/s (2*m*n*k per call).
func sgemmLoop(b *testing.B, m, n, k int, op func() error) {
	b.Helper()
	b.SetBytes(int64(4 * (m*k + k*n + 2*m*n)))
	if err := op(); err != nil { // warm-up: page faults, first-touch
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func sgemmRandom(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*rng.Float32() - 1
	}
	return x
}

// sgemmUpload copies x into a buffer of be as a matrix with leading dimension ld.
func sgemmUpload(b *testing.B, be ffi.Backend, x []float32, ld int) ffi.Mat {
	b.Helper()
	buf, err := ffi.NewF32(be, x)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Free(buf) })
	return ffi.Mat{Buf: buf, LD: ld}
}

// sgemmWanted applies the DISTAC_BENCH_IMPLS filter (see cpuImpls) to peers.
func sgemmWanted(impl string) bool {
	want := os.Getenv("DISTAC_BENCH_IMPLS")
	return want == "" || strings.Contains(","+want+",", ","+impl+",")
}
