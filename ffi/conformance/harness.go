package conformance

// The harness: guarded, poisoned regions of a backend's buffers and the
// checks around them.

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/distac/distac/ffi"
)

// guardNaN is the bit pattern of guard and poison elements; ops must never
// write it (a quiet NaN with a payload no arithmetic produces).
const guardNaN = 0x7fc0dead

const guardLen = 37 // elements of guard before and after each region

// region is a view with guard elements around it inside one buffer.
type region struct {
	be   ffi.Backend
	buf  ffi.Buffer
	View ffi.Vec
}

// newRegion allocates n elements of dt at an unaligned offset between guard
// regions, everything filled with guardNaN (f32) or 0xAB bytes (other types).
func newRegion(t *testing.T, be ffi.Backend, rng *rand.Rand, dt ffi.DType, n int) *region {
	t.Helper()
	off := guardLen + rng.IntN(16)
	buf, err := be.Alloc(dt, off+n+guardLen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Free(buf) })
	r := &region{be: be, buf: buf, View: ffi.Vec{Buf: buf, Off: off, N: n}}
	if err := be.Upload(ffi.All(buf), poisonBytes(dt, buf.Len())); err != nil {
		t.Fatal(err)
	}
	return r
}

// Mat is the region as a matrix with leading dimension ld.
func (r *region) Mat(ld int) ffi.Mat {
	return ffi.Mat{Buf: r.buf, Off: r.View.Off, LD: ld}
}

func poisonBytes(dt ffi.DType, n int) []byte {
	b := make([]byte, n*dt.Size())
	if dt == ffi.F32 {
		p := make([]float32, n)
		for i := range p {
			p[i] = math.Float32frombits(guardNaN)
		}
		copy(b, ffi.F32Bytes(p))
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

func (r *region) setF32(t *testing.T, x []float32) { t.Helper(); r.set(t, ffi.F32Bytes(x)) }

// F32 reads the region back and fails the test if a guard element changed.
func (r *region) F32(t *testing.T) []float32 {
	t.Helper()
	r.checkGuards(t)
	out := make([]float32, r.View.N)
	if err := r.be.Download(ffi.F32Bytes(out), r.View); err != nil {
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
	if err := r.be.Download(all, ffi.All(r.buf)); err != nil {
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

// relErr is ffi.RelErr: ||got - want|| / ||want||, +Inf for a NaN or Inf
// in got where want is finite.
func relErr(got []float32, want []float64) float64 { return ffi.RelErr(got, want) }

// randF32 returns n values uniform in [-scale, scale).
func randF32(rng *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = (2*rng.Float32() - 1) * scale
	}
	return x
}

// testSizes are the lengths every elementwise op runs: tiny, odd, prime,
// around SIMD widths and blocks, and one large.
var testSizes = []int{0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 257, 1000, 4099, 65537, 200003}

func newRNG(t *testing.T) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(len(t.Name())), 0x5eed))
}

// The harness must be able to fail: a write into a guard is caught.
func testGuardsCatchOverrun(t *testing.T, be ffi.Backend) {
	r := newRegion(t, be, newRNG(t), ffi.F32, 10)
	wider := ffi.Vec{Buf: r.View.Buf, Off: r.View.Off, N: 11}
	if err := be.Upload(wider, ffi.F32Bytes(make([]float32, 11))); err != nil {
		t.Fatal(err)
	}
	ft := &fakeT{}
	r.checkGuardsT(ft)
	if !ft.failed {
		t.Fatal("guard overwrite not detected")
	}
}

func testViewChecks(t *testing.T, be ffi.Backend) {
	buf, err := be.Alloc(ffi.F32, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Free(buf)
	err = be.Upload(ffi.Vec{Buf: buf, Off: 5, N: 6}, make([]byte, 24))
	if err == nil || !strings.Contains(err.Error(), "outside buffer") {
		t.Fatalf("out-of-range upload: err = %v", err)
	}
	if _, err := be.Alloc(ffi.F32, -1); err == nil {
		t.Fatal("negative alloc accepted")
	}
}

// fakeT records failure without stopping the real test.
type fakeT struct{ failed bool }

func (f *fakeT) Helper()               {}
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }
func (f *fakeT) Fatal(...any)          { f.failed = true }

type fataler interface {
	Helper()
	Fatalf(string, ...any)
	Fatal(...any)
}

// otherBackend returns a backend whose buffers be must refuse: the
// reference backend, or for the reference itself one whose buffers are of a
// type no backend knows.
func otherBackend(be ffi.Backend) ffi.Backend {
	if be.Name() != "ref" {
		return ffi.NewRef()
	}
	return alienBackend{ffi.NewRef()}
}

// alienBuffer is a buffer of alienBackend.
type alienBuffer struct{ ffi.Buffer }

// alienBackend is the reference backend with its buffers wrapped in a type
// of this package, so any backend under test sees them as another's.
type alienBackend struct{ ffi.Backend }

func (a alienBackend) Alloc(dt ffi.DType, n int) (ffi.Buffer, error) {
	b, err := a.Backend.Alloc(dt, n)
	if err != nil {
		return nil, err
	}
	return alienBuffer{b}, nil
}

func (a alienBackend) Free(b ffi.Buffer) { a.Backend.Free(b.(alienBuffer).Buffer) }

func (a alienBackend) Upload(dst ffi.Vec, src []byte) error {
	dst.Buf = dst.Buf.(alienBuffer).Buffer
	return a.Backend.Upload(dst, src)
}

func (a alienBackend) Download(dst []byte, src ffi.Vec) error {
	src.Buf = src.Buf.(alienBuffer).Buffer
	return a.Backend.Download(dst, src)
}

// newU64 is a guarded U64 region holding vals (counts an op adds to).
func newU64(t *testing.T, be ffi.Backend, rng *rand.Rand, vals []uint64) *region {
	t.Helper()
	r := newRegion(t, be, rng, ffi.U64, len(vals))
	b := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	r.set(t, b)
	return r
}

// U64 reads a U64 region back after checking its guards.
func (r *region) U64(t *testing.T) []uint64 {
	t.Helper()
	b := r.bytes(t)
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out
}

// errorCase is a call that must fail.
type errorCase struct {
	name string
	run  func() error
}

// expectErrors runs every case: each must fail, and none may change any of
// regions (guards included).
func expectErrors(t *testing.T, regions []*region, cases []errorCase) {
	t.Helper()
	unchanged := snapshot(t, regions)
	for _, c := range cases {
		if err := c.run(); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	unchanged(t)
}

// snapshot records the bytes of regions; the function it returns fails the
// test if any has changed since.
func snapshot(t *testing.T, regions []*region) func(t *testing.T) {
	t.Helper()
	before := make([][]byte, len(regions))
	for i, r := range regions {
		before[i] = r.bytes(t)
	}
	return func(t *testing.T) {
		t.Helper()
		for i, r := range regions {
			if string(r.bytes(t)) != string(before[i]) {
				t.Fatalf("region %d changed by a call that should not write", i)
			}
		}
	}
}

// fdData uploads and reads the small dense matrices of the finite
// difference tests.
type fdData struct {
	t  *testing.T
	be ffi.Backend
}

// mat uploads x as a matrix of cols columns.
func (f fdData) mat(x []float32, cols int) ffi.Mat {
	b, err := ffi.NewF32(f.be, x)
	if err != nil {
		f.t.Fatal(err)
	}
	return ffi.Mat{Buf: b, LD: cols}
}

// read downloads the first n elements of m.
func (f fdData) read(m ffi.Mat, n int) []float32 {
	x, err := ffi.ReadF32(f.be, ffi.Vec{Buf: m.Buf, N: n})
	if err != nil {
		f.t.Fatal(err)
	}
	return x
}
