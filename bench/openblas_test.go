//go:build openblas

package bench

import "github.com/distac/distac/ffi"

// With -tags openblas, BenchmarkSgemm also runs OpenBLAS's cblas_sgemm.
func init() {
	sgemmPeers = append(sgemmPeers, sgemmPeer{name: "openblas", run: ffi.OpenBLASSgemm})
}
