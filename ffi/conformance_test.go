package ffi

// The shared conformance harness: every backend (ref, scalar, avx2, avx512
// where this CPU has them) runs the same op tests against float64 references.
// Outputs sit between NaN guard regions that must keep their exact bits, start
// at unaligned offsets, and are poisoned with NaN before each op.

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

var (
	noAVX512 = flag.Bool("no-avx512", os.Getenv("DISTAC_TEST_NO_AVX512") != "", "skip the AVX-512 path")
	noAVX2   = flag.Bool("no-avx2", os.Getenv("DISTAC_TEST_NO_AVX2") != "", "skip the AVX2 and AVX-512 paths")
)

func TestMain(m *testing.M) {
	flag.Parse()
	for _, isa := range []string{ISAAVX512, ISAAVX2, ISAScalar} {
		fmt.Printf("ffi: %-7s %s\n", isa, pathStatus(isa))
	}
	os.Exit(m.Run())
}

// pathStatus says whether the tests run isa here, and if not, why.
func pathStatus(isa string) string {
	switch {
	case isa == ISAAVX512 && (*noAVX512 || *noAVX2):
		return "skipped: disabled by -no-avx512/-no-avx2"
	case isa == ISAAVX2 && *noAVX2:
		return "skipped: disabled by -no-avx2"
	case !CPUHas(isa):
		return "skipped: this CPU/OS lacks it"
	case CPUHas(isa) != KernelsSupport(isa):
		return "MISMATCH: cpuid and the kernels disagree"
	}
	return "runs"
}

// forEachBackend runs fn as a subtest on ref and every CPU path this machine
// runs; a path it cannot run is a skipped subtest with the reason.
func forEachBackend(t *testing.T, fn func(t *testing.T, be Backend)) {
	t.Helper()
	t.Run("ref", func(t *testing.T) { fn(t, NewRef()) })
	for _, isa := range []string{ISAScalar, ISAAVX2, ISAAVX512} {
		t.Run(isa, func(t *testing.T) {
			if s := pathStatus(isa); s != "runs" {
				t.Skip(s)
			}
			be, err := NewCPU(isa, 0)
			if err != nil {
				t.Fatal(err)
			}
			fn(t, be)
		})
	}
}

// guardNaN is the bit pattern of guard and poison elements; ops must never
// write it (a quiet NaN with a payload no arithmetic produces).
const guardNaN = 0x7fc0dead

const guardLen = 37 // elements of guard before and after each region

// region is a view with guard elements around it inside one buffer.
type region struct {
	be   Backend
	buf  Buffer
	View Vec
}

// newRegion allocates n elements of dt at an unaligned offset between guard
// regions, everything filled with guardNaN (f32) or 0xAB bytes (other types).
func newRegion(t *testing.T, be Backend, rng *rand.Rand, dt DType, n int) *region {
	t.Helper()
	off := guardLen + rng.IntN(16)
	buf, err := be.Alloc(dt, off+n+guardLen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Free(buf) })
	r := &region{be: be, buf: buf, View: Vec{Buf: buf, Off: off, N: n}}
	if err := be.Upload(All(buf), poisonBytes(dt, buf.Len())); err != nil {
		t.Fatal(err)
	}
	return r
}

// Mat is the region as a matrix with leading dimension ld.
func (r *region) Mat(ld int) Mat { return Mat{Buf: r.buf, Off: r.View.Off, LD: ld} }

func poisonBytes(dt DType, n int) []byte {
	b := make([]byte, n*dt.Size())
	if dt == F32 {
		p := make([]float32, n)
		for i := range p {
			p[i] = math.Float32frombits(guardNaN)
		}
		copy(b, F32Bytes(p))
		return b
	}
	for i := range b {
		b[i] = 0xAB
	}
	return b
}

// set uploads data (bytes of the region's dtype) into the region.
func (r *region) set(t *testing.T, data []byte) {
	t.Helper()
	if err := r.be.Upload(r.View, data); err != nil {
		t.Fatal(err)
	}
}

func (r *region) setF32(t *testing.T, x []float32) { t.Helper(); r.set(t, F32Bytes(x)) }

// F32 reads the region back and fails the test if a guard element changed.
func (r *region) F32(t *testing.T) []float32 {
	t.Helper()
	r.checkGuards(t)
	out := make([]float32, r.View.N)
	if err := r.be.Download(F32Bytes(out), r.View); err != nil {
		t.Fatal(err)
	}
	return out
}

// bytes reads the region back (any dtype) after checking the guards.
func (r *region) bytes(t *testing.T) []byte {
	t.Helper()
	r.checkGuards(t)
	out := make([]byte, r.View.N*r.buf.DType().Size())
	if err := r.be.Download(out, r.View); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkGuards fails if anything outside View changed. For a strided matrix
// region the gaps between rows are checked by the op tests themselves.
func (r *region) checkGuards(t *testing.T) { t.Helper(); r.checkGuardsT(t) }

func (r *region) checkGuardsT(t fataler) {
	t.Helper()
	all := make([]byte, r.buf.Len()*r.buf.DType().Size())
	if err := r.be.Download(all, All(r.buf)); err != nil {
		t.Fatal(err)
	}
	want := poisonBytes(r.buf.DType(), r.buf.Len())
	s := r.buf.DType().Size()
	lo, hi := r.View.Off*s, (r.View.Off+r.View.N)*s
	for i := range all {
		if (i < lo || i >= hi) && all[i] != want[i] {
			t.Fatalf("guard byte %d (element %d) changed: region is [%d,%d) of %d elements",
				i, i/s, r.View.Off, r.View.Off+r.View.N, r.buf.Len())
		}
	}
}

// relErr is ||got - want|| / ||want|| (absolute norm if want is 0). Any NaN or
// Inf in got where want is finite gives +Inf, so NaN never passes.
func relErr(got []float32, want []float64) float64 {
	var num, den float64
	for i := range want {
		g := float64(got[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			if g != want[i] { // only an expected Inf/Inf match is allowed
				return math.Inf(1)
			}
			continue
		}
		d := g - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// randF32 returns n values uniform in [-scale, scale).
func randF32(rng *rand.Rand, n int, scale float32) []float32 { return uniform(rng, n, scale) }

// testSizes are the lengths every elementwise op runs: tiny, odd, prime,
// around SIMD widths and blocks, and one large.
var testSizes = []int{0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 257, 1000, 4099, 65537, 200003}

func newRNG(t *testing.T) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(len(t.Name())), 0x5eed))
}
