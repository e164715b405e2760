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

// BenchmarkSgemmVsOpenBLAS alternates one distac call and one OpenBLAS call
// per iteration on the same operands and reports both rates and their ratio
// ("x-openblas"): on a shared machine the CPU time a process gets drifts
// within seconds, and interleaving lets both see the same conditions.
func BenchmarkSgemmVsOpenBLAS(b *testing.B) {
	for _, s := range [][3]int{{256, 256, 256}, {1024, 1024, 1024}} {
		m, n, k := s[0], s[1], s[2]
		rng := rand.New(rand.NewPCG(uint64(m), uint64(n*k)))
		x, y := sgemmRandom(rng, m*k), sgemmRandom(rng, k*n)
		for _, impl := range cpuImpls() {
			if impl == "ref" || impl == "scalar" {
				continue
			}
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, n, k, impl), func(b *testing.B) {
				be := openBackend(b, impl)
				a, bm, c := sgemmUpload(b, be, x, k), sgemmUpload(b, be, y, n), sgemmUpload(b, be, make([]float32, m*n), n)
				cb := make([]float32, m*n)
				ours := func() error { return be.Sgemm(false, false, m, n, k, 1, a, bm, 0, c) }
				theirs := func() error { return ffi.OpenBLASSgemm(false, false, m, n, k, 1, x, k, y, n, 0, cb, n) }
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
