// Package bench holds distac's benchmarks: every op on every backend, and the
// peers (OpenBLAS behind the openblas build tag, PyTorch via bench/peers) in
// the same run. Names are Benchmark<Op>/<shape>/<impl>.
package bench

import (
	"os"
	"strings"
	"testing"

	"github.com/distac/distac/ffi"
)

// cpuImpls lists the CPU paths this machine runs, fastest first, limited by
// DISTAC_BENCH_IMPLS (comma-separated, e.g. "avx2,ref") when set.
func cpuImpls() []string {
	want := os.Getenv("DISTAC_BENCH_IMPLS")
	var out []string
	for _, isa := range append(append([]string{}, ffi.ISAs...), "ref") {
		if isa != "ref" && !ffi.CPUHas(isa) {
			continue
		}
		if want != "" && !strings.Contains(","+want+",", ","+isa+",") {
			continue
		}
		out = append(out, isa)
	}
	return out
}

// allocBuf allocates n elements of dt on be, freed when the benchmark ends.
func allocBuf(b *testing.B, be ffi.Backend, dt ffi.DType, n int) ffi.Buffer {
	b.Helper()
	buf, err := be.Alloc(dt, n)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Free(buf) })
	return buf
}

// timeOp runs op once untimed (which also faults its output pages in), then
// times it with bytes counted per call.
func timeOp(b *testing.B, bytes int, op func() error) {
	b.Helper()
	if err := op(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(bytes))
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
}

// openBackend opens impl with every CPU thread.
func openBackend(b *testing.B, impl string) ffi.Backend {
	b.Helper()
	be, err := ffi.Open(impl, 0)
	if err != nil {
		b.Fatal(err)
	}
	return be
}
