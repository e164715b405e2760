package conformance

// Conformance of the task-vector ops: Convert, Sub, SumSq, Scale, Axpy,
// WeightedSum and L2Norm on every backend, against float64 references (and,
// for conversions, against the exact bits of the Go reference, which is itself
// checked against hand-computed cases and a float64 rounding oracle).

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/half"
)

var floatTypes = []ffi.DType{ffi.F32, ffi.F16, ffi.BF16}

// tvWide returns n values of varied magnitude (2^-8 .. 2^8, so sums and
// differences round) that are exact in dt, as float32.
func tvWide(rng *rand.Rand, dt ffi.DType, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		f := float32(math.Ldexp(2*rng.Float64()-1, rng.IntN(17)-8))
		switch dt {
		case ffi.F16:
			f = half.F16ToF32(half.F32ToF16(f))
		case ffi.BF16:
			f = half.BF16ToF32(half.F32ToBF16(f))
		}
		x[i] = f
	}
	return x
}

// tvBytes encodes exact-in-dt values as dt's bytes.
func tvBytes(dt ffi.DType, x []float32) []byte {
	if dt == ffi.F32 {
		return ffi.F32Bytes(append([]float32(nil), x...))
	}
	h := make([]uint16, len(x))
	for i, f := range x {
		if dt == ffi.F16 {
			h[i] = half.F32ToF16(f)
		} else {
			h[i] = half.F32ToBF16(f)
		}
	}
	return ffi.U16Bytes(h)
}

// tvInput is a region of dt holding x.
func tvInput(t *testing.T, be ffi.Backend, rng *rand.Rand, dt ffi.DType, x []float32) *region {
	t.Helper()
	r := newRegion(t, be, rng, dt, len(x))
	r.set(t, tvBytes(dt, x))
	return r
}

func tvU16(b []byte) []uint16 {
	h := make([]uint16, len(b)/2)
	for i := range h {
		h[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return h
}

// ------------------------------------------------------------ conversion ---

// convertBits runs be.Convert from src (bytes of st) to dt and returns dt's bytes.
func convertBits(t *testing.T, be ffi.Backend, rng *rand.Rand, dt, st ffi.DType, src []byte) []byte {
	t.Helper()
	n := len(src) / st.Size()
	in := newRegion(t, be, rng, st, n)
	in.set(t, src)
	out := newRegion(t, be, rng, dt, n)
	if err := be.Convert(out.View, in.View); err != nil {
		t.Fatal(err)
	}
	return out.bytes(t)
}

// refConvert converts src bytes with the Go reference functions; the same
// dtype is a plain copy (a NaN is not quieted).
func refConvert(dt, st ffi.DType, src []byte) []byte {
	if dt == st {
		return append([]byte(nil), src...)
	}
	n := len(src) / st.Size()
	wide := make([]float32, n)
	for i := range wide {
		switch st {
		case ffi.F32:
			wide[i] = math.Float32frombits(uint32(src[4*i]) | uint32(src[4*i+1])<<8 |
				uint32(src[4*i+2])<<16 | uint32(src[4*i+3])<<24)
		case ffi.F16:
			wide[i] = half.F16ToF32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		case ffi.BF16:
			wide[i] = half.BF16ToF32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		}
	}
	return tvBytes(dt, wide)
}

func firstDiff(a, b []byte, size int) int {
	for i := 0; i+size <= len(a); i += size {
		if string(a[i:i+size]) != string(b[i:i+size]) {
			return i / size
		}
	}
	return -1
}

// Every f16 and bf16 pattern to every float type and back, and f32 rounding
// cases, must give the Go reference's exact bits on every backend.
func testConvertExhaustive(t *testing.T, be ffi.Backend) {
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	var special []float32
	for _, c := range half.Cases {
		special = append(special, math.Float32frombits(c[0]))
	}
	sweep := half.Sweep(rand.New(rand.NewPCG(1, 2)))
	sample := append(special, sweep[:1<<16]...)
	for i := 0; i < len(sweep); i += 61 { // a spread over the whole sweep
		sample = append(sample, sweep[i])
	}
	rng := newRNG(t)
	for _, st := range floatTypes {
		src := ffi.U16Bytes(all)
		if st == ffi.F32 {
			src = ffi.F32Bytes(sample)
		}
		for _, dt := range floatTypes {
			got := convertBits(t, be, rng, dt, st, src)
			if i := firstDiff(got, refConvert(dt, st, src), dt.Size()); i >= 0 {
				t.Fatalf("%s -> %s: element %d differs from the Go reference", st, dt, i)
			}
		}
	}
	// Round trips through f32 are exact apart from quieting NaNs.
	for _, half := range []ffi.DType{ffi.F16, ffi.BF16} {
		wide := convertBits(t, be, rng, ffi.F32, half, ffi.U16Bytes(all))
		back := tvU16(convertBits(t, be, rng, half, ffi.F32, wide))
		quiet, expMask := uint16(0x200), uint16(0x7c00)
		if half == ffi.BF16 {
			quiet, expMask = 0x40, 0x7f80
		}
		for i, h := range all {
			want := h
			if h&expMask == expMask && h&^(expMask|0x8000) != 0 {
				want = h | quiet
			}
			if back[i] != want {
				t.Fatalf("%s %04x -> f32 -> %s = %04x, want %04x", half, h, half, back[i], want)
			}
		}
	}
}

// tvLarge is past the kernels' streaming-store threshold (8 MiB moved) for
// every op it is used with.
const tvLarge = 1<<21 + 3

func testConvertSizes(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	check := func(n int, dt, st ffi.DType) {
		src := tvBytes(st, tvWide(rng, st, n))
		got := convertBits(t, be, rng, dt, st, src)
		if i := firstDiff(got, refConvert(dt, st, src), dt.Size()); i >= 0 {
			t.Fatalf("n=%d %s -> %s: element %d differs from the Go reference", n, st, dt, i)
		}
	}
	for _, n := range testSizes {
		for _, st := range floatTypes {
			for _, dt := range floatTypes {
				check(n, dt, st)
			}
		}
	}
	for _, half := range []ffi.DType{ffi.F16, ffi.BF16} {
		check(tvLarge, half, ffi.F32)
		check(tvLarge, ffi.F32, half)
	}
}

// ------------------------------------------------------------ arithmetic ---
func testSub(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	check := func(n int, ftT, baseT ffi.DType) {
		a, b := tvWide(rng, ftT, n), tvWide(rng, baseT, n)
		ft, base := tvInput(t, be, rng, ftT, a), tvInput(t, be, rng, baseT, b)
		dst := newRegion(t, be, rng, ffi.F32, n)
		if err := be.Sub(dst.View, ft.View, base.View); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, n)
		for i := range want {
			want[i] = float64(a[i]) - float64(b[i])
		}
		if e := relErr(dst.F32(t), want); e > 1e-7 {
			t.Fatalf("%s - %s, n=%d: rel err %g", ftT, baseT, n, e)
		}
	}
	for _, ftT := range floatTypes {
		for _, baseT := range floatTypes {
			for _, n := range testSizes {
				check(n, ftT, baseT)
			}
		}
	}
	check(tvLarge, ffi.BF16, ffi.BF16)
	check(tvLarge, ffi.F32, ffi.F32)
	// In place over ft is allowed.
	x := randF32(rng, 100, 1)
	r := newRegion(t, be, rng, ffi.F32, 100)
	r.setF32(t, x)
	if err := be.Sub(r.View, r.View, r.View); err != nil {
		t.Fatal(err)
	}
	for i, v := range r.F32(t) {
		if v != 0 {
			t.Fatalf("x - x in place: element %d = %v", i, v)
		}
	}
}

// sumSqExact is the sum of squares in float64 with Neumaier compensation
// (each square of a float32 is exact in float64).
func sumSqExact(x []float32) float64 {
	var s, c float64
	for _, f := range x {
		v := float64(f) * float64(f)
		t := s + v
		if math.Abs(s) >= v {
			c += (s - t) + v
		} else {
			c += (v - t) + s
		}
		s = t
	}
	return s + c
}

// sumSq runs be.SumSq of x into a guarded, poisoned F64 slot and reads it.
func sumSq(t *testing.T, be ffi.Backend, rng *rand.Rand, x ffi.Vec) float64 {
	t.Helper()
	out := newRegion(t, be, rng, ffi.F64, 1)
	if err := be.SumSq(x, out.View); err != nil {
		t.Fatal(err)
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(out.bytes(t)))
}

func testSumSq(t *testing.T, be ffi.Backend) {
	rng, ref := newRNG(t), ffi.NewRef()
	for _, n := range testSizes {
		x := randF32(rng, n, 3)
		got := sumSq(t, be, rng, tvInput(t, be, rng, ffi.F32, x).View)
		want := sumSqExact(x)
		if e := math.Abs(got-want) / max(want, math.SmallestNonzeroFloat64); e > 1e-12 || got != got {
			t.Fatalf("n=%d: sumsq %v, want %v (rel err %g)", n, got, want, e)
		}
		refGot := sumSq(t, ref, rng, tvInput(t, ref, rng, ffi.F32, x).View)
		if got != refGot { // one fixed order of additions on every backend
			t.Fatalf("n=%d: sumsq %v differs from the reference %v", n, got, refGot)
		}
	}
	for _, special := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		x := randF32(rng, 3*ffi.SumSqBlock+5, 1)
		x[2*ffi.SumSqBlock+1] = special
		got := sumSq(t, be, rng, tvInput(t, be, rng, ffi.F32, x).View)
		if special != special && got == got || special == special && !math.IsInf(got, 1) {
			t.Fatalf("sumsq with %v = %v", special, got)
		}
	}
}

// SumSq must give the same bits for any thread count.
func testSumSqThreads(t *testing.T, be0 ffi.Backend) {
	rng, ref := newRNG(t), ffi.NewRef()
	// Enough blocks that every thread count below gets several of them.
	x := randF32(rng, 7*tvSumSqGrain*ffi.SumSqBlock+12345, 1)
	want := sumSq(t, ref, rng, tvInput(t, ref, rng, ffi.F32, x).View)
	in := tvInput(t, be0, rng, ffi.F32, x)
	for _, threads := range []int{1, 2, 3, 7, 0} {
		be := withThreads(t, be0, threads)
		got := sumSq(t, be, rng, in.View)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s threads=%d: %v (%016x), want %v (%016x)", be.Name(), threads, got,
				math.Float64bits(got), want, math.Float64bits(want))
		}
	}
}

// tvSumSqGrain is TV_SUMSQ_GRAIN of taskvec.c: the fewest blocks per thread.
const tvSumSqGrain = 16

func testScale(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	for _, n := range testSizes {
		x := randF32(rng, n, 2)
		r := tvInput(t, be, rng, ffi.F32, x)
		if err := be.Scale(r.View, -0.37); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, n)
		for i, v := range x {
			want[i] = float64(v) * float64(float32(-0.37))
		}
		if e := relErr(r.F32(t), want); e > 1e-7 {
			t.Fatalf("n=%d: rel err %g", n, e)
		}
	}
}

func testAxpy(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	const a = float32(1.7)
	for _, n := range testSizes {
		x, y := randF32(rng, n, 1), randF32(rng, n, 1)
		xr, yr := tvInput(t, be, rng, ffi.F32, x), tvInput(t, be, rng, ffi.F32, y)
		if err := be.Axpy(a, xr.View, yr.View); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, n)
		for i := range want {
			want[i] = float64(y[i]) + float64(a)*float64(x[i])
		}
		if e := relErr(yr.F32(t), want); e > 1e-6 {
			t.Fatalf("n=%d: rel err %g", n, e)
		}
		if got := xr.F32(t); firstDiff(ffi.F32Bytes(got), ffi.F32Bytes(x), 4) >= 0 {
			t.Fatalf("n=%d: axpy changed x", n)
		}
	}
	// x and y may be the same view: y = (1 + a) y.
	y := randF32(rng, 33, 1)
	yr := tvInput(t, be, rng, ffi.F32, y)
	if err := be.Axpy(a, yr.View, yr.View); err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(y))
	for i, v := range y {
		want[i] = float64(v) + float64(a)*float64(v)
	}
	if e := relErr(yr.F32(t), want); e > 1e-6 {
		t.Fatalf("y += a*y: rel err %g", e)
	}
}

func testWeightedSum(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	for _, count := range []int{1, 2, 3, 8} {
		sizes := testSizes
		if count == 2 {
			sizes = append(sizes[:len(sizes):len(sizes)], tvLarge)
		}
		for _, n := range sizes {
			xs := make([]ffi.Vec, count)
			w := make([]float32, count)
			want := make([]float64, n)
			for k := range xs {
				x := randF32(rng, n, 1)
				xs[k] = tvInput(t, be, rng, ffi.F32, x).View
				w[k] = 2*rng.Float32() - 1
				for i, v := range x {
					want[i] += float64(w[k]) * float64(v)
				}
			}
			dst := newRegion(t, be, rng, ffi.F32, n)
			if err := be.WeightedSum(dst.View, xs, w); err != nil {
				t.Fatal(err)
			}
			if e := relErr(dst.F32(t), want); e > 1e-6 {
				t.Fatalf("count=%d n=%d: rel err %g", count, n, e)
			}
		}
	}
}

// ---------------------------------------------------------------- errors ---

// tvExpectError runs op, which must fail, and checks out kept its poison.
func tvExpectError(t *testing.T, what string, out *region, op func() error) {
	t.Helper()
	if err := op(); err == nil {
		t.Errorf("%s: no error", what)
	}
	b := out.bytes(t)
	want := poisonBytes(out.buf.DType(), out.buf.Len())
	s := out.buf.DType().Size()
	if string(b) != string(want[out.View.Off*s:(out.View.Off+out.View.N)*s]) {
		t.Errorf("%s: output written despite the error", what)
	}
}

// tvErrorSetup holds inputs for the error cases: 8 and 9 f32 elements, 8
// f16 elements, a buffer of another backend and one already freed.
type tvErrorSetup struct {
	x8, x9, h8   *region
	alien, freed ffi.Buffer
	out          func(dt ffi.DType, n int) *region
}

// tvErrorCases makes the setup of the error cases on be.
func tvErrorCases(t *testing.T, be ffi.Backend) tvErrorSetup {
	rng := newRNG(t)
	other := otherBackend(be)
	alien, err := other.Alloc(ffi.F32, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Free(alien) })
	freed, err := be.Alloc(ffi.F32, 8)
	if err != nil {
		t.Fatal(err)
	}
	be.Free(freed)
	return tvErrorSetup{
		x8:    tvInput(t, be, rng, ffi.F32, randF32(rng, 8, 1)),
		x9:    tvInput(t, be, rng, ffi.F32, randF32(rng, 9, 1)),
		h8:    newRegion(t, be, rng, ffi.F16, 8),
		alien: alien,
		freed: freed,
		out:   func(dt ffi.DType, n int) *region { return newRegion(t, be, rng, dt, n) },
	}
}

// overlapping returns two n-element views of r's buffer, the second shifted by d.
func overlapping(r *region, n, d int) (ffi.Vec, ffi.Vec) {
	return ffi.Vec{Buf: r.buf, Off: r.View.Off, N: n}, ffi.Vec{Buf: r.buf, Off: r.View.Off + d, N: n}
}

func testConvertErrors(t *testing.T, be ffi.Backend) {
	s := tvErrorCases(t, be)
	o := s.out(ffi.F16, 8)
	tvExpectError(t, "length mismatch", o, func() error { return be.Convert(o.View, s.x9.View) })
	tvExpectError(t, "foreign src", o, func() error { return be.Convert(o.View, ffi.All(s.alien)) })
	tvExpectError(t, "freed src", o, func() error { return be.Convert(o.View, ffi.All(s.freed)) })
	o = s.out(ffi.I32, 8)
	tvExpectError(t, "to i32", o, func() error { return be.Convert(o.View, s.x8.View) })
	o = s.out(ffi.F32, 16)
	a, b := overlapping(o, 8, 4)
	tvExpectError(t, "overlap", o, func() error { return be.Convert(a, b) })
}

func testSubErrors(t *testing.T, be ffi.Backend) {
	s := tvErrorCases(t, be)
	o := s.out(ffi.F32, 8)
	tvExpectError(t, "length mismatch", o, func() error { return be.Sub(o.View, s.x8.View, s.x9.View) })
	tvExpectError(t, "foreign base", o, func() error { return be.Sub(o.View, s.x8.View, ffi.All(s.alien)) })
	tvExpectError(t, "freed ft", o, func() error { return be.Sub(o.View, ffi.All(s.freed), s.x8.View) })
	tvExpectError(t, "out of bounds", o, func() error {
		return be.Sub(o.View, ffi.Vec{Buf: s.x8.buf, Off: s.x8.buf.Len() - 4, N: 8}, s.x8.View)
	})
	o = s.out(ffi.F16, 8)
	tvExpectError(t, "dst f16", o, func() error { return be.Sub(o.View, s.x8.View, s.h8.View) })
	o = s.out(ffi.F32, 16)
	a, b := overlapping(o, 8, 1)
	tvExpectError(t, "shifted overlap", o, func() error { return be.Sub(b, a, s.x8.View) })
}

func testSumSqErrors(t *testing.T, be ffi.Backend) {
	s := tvErrorCases(t, be)
	out := s.out(ffi.F64, 1)
	for what, v := range map[string]ffi.Vec{"f16": s.h8.View, "foreign": ffi.All(s.alien), "freed": ffi.All(s.freed),
		"out of bounds": {Buf: s.x8.buf, Off: -1, N: 8}} {
		tvExpectError(t, what, out, func() error { return be.SumSq(v, out.View) })
	}
	two, f32 := s.out(ffi.F64, 2), s.out(ffi.F32, 1)
	tvExpectError(t, "two outputs", two, func() error { return be.SumSq(s.x8.View, two.View) })
	tvExpectError(t, "f32 output", f32, func() error { return be.SumSq(s.x8.View, f32.View) })
}

func testScaleAxpyErrors(t *testing.T, be ffi.Backend) {
	s := tvErrorCases(t, be)
	o := s.out(ffi.F16, 8)
	tvExpectError(t, "scale f16", o, func() error { return be.Scale(o.View, 2) })
	o = s.out(ffi.F32, 9)
	tvExpectError(t, "axpy length mismatch", o, func() error { return be.Axpy(1, s.x8.View, o.View) })
	o = s.out(ffi.F32, 8)
	tvExpectError(t, "axpy foreign x", o, func() error { return be.Axpy(1, ffi.All(s.alien), o.View) })
	tvExpectError(t, "axpy f16 x", o, func() error { return be.Axpy(1, s.h8.View, o.View) })
	o = s.out(ffi.F32, 16)
	a, b := overlapping(o, 8, 1)
	tvExpectError(t, "axpy shifted overlap", o, func() error { return be.Axpy(1, a, b) })
}

func testWeightedSumErrors(t *testing.T, be ffi.Backend) {
	s := tvErrorCases(t, be)
	o := s.out(ffi.F32, 8)
	x8, x9 := s.x8.View, s.x9.View
	for what, op := range map[string]func() error{
		"no inputs":       func() error { return be.WeightedSum(o.View, nil, nil) },
		"weight count":    func() error { return be.WeightedSum(o.View, []ffi.Vec{x8}, []float32{1, 2}) },
		"length mismatch": func() error { return be.WeightedSum(o.View, []ffi.Vec{x8, x9}, []float32{1, 2}) },
		"f16 input":       func() error { return be.WeightedSum(o.View, []ffi.Vec{s.h8.View}, []float32{1}) },
		"foreign input":   func() error { return be.WeightedSum(o.View, []ffi.Vec{ffi.All(s.alien)}, []float32{1}) },
		"dst is an input": func() error { return be.WeightedSum(o.View, []ffi.Vec{x8, o.View}, []float32{1, 1}) },
	} {
		tvExpectError(t, what, o, op)
	}
}
