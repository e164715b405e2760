package ffi

// Conformance of the task-vector ops: Convert, Sub, SumSq, Scale, Axpy,
// WeightedSum and L2Norm on every backend, against float64 references (and,
// for conversions, against the exact bits of the Go reference, which is itself
// checked against hand-computed cases and a float64 rounding oracle).

import (
	"math"
	"math/rand/v2"
	"testing"
)

var floatTypes = []DType{F32, F16, BF16}

// tvWide returns n values of varied magnitude (2^-8 .. 2^8, so sums and
// differences round) that are exact in dt, as float32.
func tvWide(rng *rand.Rand, dt DType, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		f := float32(math.Ldexp(2*rng.Float64()-1, rng.IntN(17)-8))
		switch dt {
		case F16:
			f = F16ToF32(F32ToF16(f))
		case BF16:
			f = BF16ToF32(F32ToBF16(f))
		}
		x[i] = f
	}
	return x
}

// tvBytes encodes exact-in-dt values as dt's bytes.
func tvBytes(dt DType, x []float32) []byte {
	if dt == F32 {
		return F32Bytes(append([]float32(nil), x...))
	}
	h := make([]uint16, len(x))
	for i, f := range x {
		if dt == F16 {
			h[i] = F32ToF16(f)
		} else {
			h[i] = F32ToBF16(f)
		}
	}
	return U16Bytes(h)
}

// tvInput is a region of dt holding x.
func tvInput(t *testing.T, be Backend, rng *rand.Rand, dt DType, x []float32) *region {
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

// Hand-computed cases: f32 bits in, f16 and bf16 bits out.
var halfCases = [][3]uint32{
	{0x3f800000, 0x3c00, 0x3f80}, // 1
	{0x80000000, 0x8000, 0x8000}, // -0
	{0x477fe000, 0x7bff, 0x4780}, // 65504, the largest f16
	{0x477fefff, 0x7bff, 0x4780}, // just below 65520
	{0x477ff000, 0x7c00, 0x4780}, // 65520: the f16 tie rounds to Inf
	{0x7f7fffff, 0x7c00, 0x7f80}, // FLT_MAX: bf16 rounds up to Inf
	{0x7f800000, 0x7c00, 0x7f80}, // Inf
	{0xff800000, 0xfc00, 0xff80}, // -Inf
	{0x3f801000, 0x3c00, 0x3f80}, // 1 + 2^-11: f16 tie to even (down)
	{0x3f803000, 0x3c02, 0x3f80}, // 1 + 3*2^-11: f16 tie to even (up)
	{0x3f808000, 0x3c04, 0x3f80}, // 1 + 2^-8: bf16 tie to even (down)
	{0x3f818000, 0x3c0c, 0x3f82}, // 1 + 3*2^-8: bf16 tie to even (up)
	{0x38800000, 0x0400, 0x3880}, // 2^-14, the smallest normal f16
	{0x387fc000, 0x03ff, 0x3880}, // 1023*2^-24, the largest subnormal f16
	{0x387fe000, 0x0400, 0x3880}, // 1023.5*2^-24 rounds up to normal
	{0x33800000, 0x0001, 0x3380}, // 2^-24, the smallest subnormal f16
	{0x33000000, 0x0000, 0x3300}, // 2^-25: tie to the even zero
	{0x33000001, 0x0001, 0x3300}, // just above 2^-25
	{0x33c00000, 0x0002, 0x33c0}, // 1.5*2^-24: tie to even (up)
	{0x00000001, 0x0000, 0x0000}, // the smallest f32 subnormal
	{0x80000001, 0x8000, 0x8000},
	{0x00008000, 0x0000, 0x0000}, // bf16 subnormal tie to even (down)
	{0x00018000, 0x0000, 0x0002}, // bf16 subnormal tie to even (up)
	{0x00010000, 0x0000, 0x0001}, // the smallest bf16 subnormal
	{0x7fc00000, 0x7e00, 0x7fc0}, // quiet NaN
	{0x7f800001, 0x7e00, 0x7fc0}, // signalling NaN: quieted, never Inf
	{0xffc02000, 0xfe01, 0xffc0}, // payload kept where it fits
	{0x7fffffff, 0x7fff, 0x7fff}, // must not round into the sign
}

func TestConvertHalfReferenceCases(t *testing.T) {
	for _, c := range halfCases {
		f := math.Float32frombits(c[0])
		if h, b := F32ToF16(f), F32ToBF16(f); uint32(h) != c[1] || uint32(b) != c[2] {
			t.Errorf("%08x: f16 %04x want %04x, bf16 %04x want %04x", c[0], h, c[1], b, c[2])
		}
	}
	widen := [][2]uint32{ // f16 bits, f32 bits
		{0x0001, 0x33800000}, {0x03ff, 0x387fc000}, {0x0400, 0x38800000}, {0x3c00, 0x3f800000},
		{0x7bff, 0x477fe000}, {0x7c00, 0x7f800000}, {0xfc00, 0xff800000}, {0x8000, 0x80000000},
		{0x7e00, 0x7fc00000}, {0x7d00, 0x7fe00000}, {0xfc01, 0xffc02000}, {0x8001, 0xb3800000},
	}
	for _, c := range widen {
		if got := math.Float32bits(F16ToF32(uint16(c[0]))); got != c[1] {
			t.Errorf("F16ToF32(%04x) = %08x, want %08x", c[0], got, c[1])
		}
	}
	if got := math.Float32bits(BF16ToF32(0xff81)); got != 0xff810000 {
		t.Errorf("BF16ToF32(ff81) = %08x: bf16 widening keeps the bits", got)
	}
}

// oracleNarrow rounds f to a 16-bit float with mbits mantissa bits and
// exponent bias `bias` in float64 (f16: 10, 15; bf16: 7, 127).
func oracleNarrow(f float32, mbits, bias int) uint16 {
	x := math.Float32bits(f)
	sign := uint16(x >> 16 & 0x8000)
	emax := 2*bias + 1
	inf := sign | uint16(emax<<mbits)
	if f != f {
		return inf | 1<<(mbits-1) | uint16(x&0x7fffff>>(23-mbits))
	}
	a := math.Abs(float64(f))
	if math.IsInf(a, 0) {
		return inf
	}
	if a < math.Ldexp(1, 1-bias) { // subnormal; may round up to the smallest normal
		return sign | uint16(math.RoundToEven(math.Ldexp(a, bias-1+mbits)))
	}
	_, e := math.Frexp(a) // a in [2^(e-1), 2^e)
	q := math.RoundToEven(math.Ldexp(a, mbits+1-e))
	if q == math.Ldexp(1, mbits+1) {
		q /= 2
		e++
	}
	field := e - 1 + bias
	if field >= emax {
		return inf
	}
	return sign | uint16(field<<mbits) | uint16(int(q)-1<<mbits)
}

// halfSweep is every top-19-bit f32 prefix with low bits at, above and below
// each rounding position, plus random low bits.
func halfSweep(rng *rand.Rand) []float32 {
	low := []uint32{0, 1, 0x0fff, 0x1000, 0x1001, 0x1fff}
	out := make([]float32, 0, 7<<19)
	for top := uint32(0); top < 1<<19; top++ {
		for _, l := range low {
			out = append(out, math.Float32frombits(top<<13|l))
		}
		out = append(out, math.Float32frombits(top<<13|rng.Uint32()&0x1fff))
	}
	return out
}

func TestConvertHalfReferenceOracle(t *testing.T) {
	bad := 0
	for _, f := range halfSweep(newRNG(t)) {
		if h, w := F32ToF16(f), oracleNarrow(f, 10, 15); h != w && bad < 10 {
			t.Errorf("F32ToF16(%08x) = %04x, oracle %04x", math.Float32bits(f), h, w)
			bad++
		}
		if h, w := F32ToBF16(f), oracleNarrow(f, 7, 127); h != w && bad < 10 {
			t.Errorf("F32ToBF16(%08x) = %04x, oracle %04x", math.Float32bits(f), h, w)
			bad++
		}
	}
	for i := range 1 << 16 {
		h := uint16(i)
		f := F16ToF32(h)
		if f != f {
			if math.Float32bits(f) != uint32(h&0x8000)<<16|0x7fc00000|uint32(h&0x3ff)<<13 {
				t.Errorf("F16ToF32(%04x) = %08x: NaN payload or quiet bit lost", h, math.Float32bits(f))
			}
			continue
		}
		e, m := int(h>>10&0x1f), float64(h&0x3ff)
		want := math.Ldexp(m, -24) // subnormal
		if e == 0x1f {
			want = math.Inf(1)
		} else if e > 0 {
			want = math.Ldexp(1024+m, e-25)
		}
		if h&0x8000 != 0 {
			want = math.Copysign(want, -1)
		}
		if float64(f) != want || math.Signbit(float64(f)) != math.Signbit(want) {
			t.Errorf("F16ToF32(%04x) = %v, want %v", h, f, want)
		}
	}
}

// convertBits runs be.Convert from src (bytes of st) to dt and returns dt's bytes.
func convertBits(t *testing.T, be Backend, rng *rand.Rand, dt, st DType, src []byte) []byte {
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
func refConvert(dt, st DType, src []byte) []byte {
	if dt == st {
		return append([]byte(nil), src...)
	}
	n := len(src) / st.Size()
	wide := make([]float32, n)
	for i := range wide {
		switch st {
		case F32:
			wide[i] = math.Float32frombits(uint32(src[4*i]) | uint32(src[4*i+1])<<8 |
				uint32(src[4*i+2])<<16 | uint32(src[4*i+3])<<24)
		case F16:
			wide[i] = F16ToF32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		case BF16:
			wide[i] = BF16ToF32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		}
	}
	if dt == F32 {
		return F32Bytes(wide)
	}
	h := make([]uint16, n)
	for i, f := range wide {
		if dt == F16 {
			h[i] = F32ToF16(f)
		} else {
			h[i] = F32ToBF16(f)
		}
	}
	return U16Bytes(h)
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
func TestConvertExhaustive(t *testing.T) {
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	var special []float32
	for _, c := range halfCases {
		special = append(special, math.Float32frombits(c[0]))
	}
	sweep := halfSweep(rand.New(rand.NewPCG(1, 2)))
	sample := append(special, sweep[:1<<16]...)
	for i := 0; i < len(sweep); i += 61 { // a spread over the whole sweep
		sample = append(sample, sweep[i])
	}
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		for _, st := range floatTypes {
			src := U16Bytes(all)
			if st == F32 {
				src = F32Bytes(sample)
			}
			for _, dt := range floatTypes {
				got := convertBits(t, be, rng, dt, st, src)
				if i := firstDiff(got, refConvert(dt, st, src), dt.Size()); i >= 0 {
					t.Fatalf("%s -> %s: element %d differs from the Go reference", st, dt, i)
				}
			}
		}
		// Round trips through f32 are exact apart from quieting NaNs.
		for _, half := range []DType{F16, BF16} {
			wide := convertBits(t, be, rng, F32, half, U16Bytes(all))
			back := tvU16(convertBits(t, be, rng, half, F32, wide))
			quiet, expMask := uint16(0x200), uint16(0x7c00)
			if half == BF16 {
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
	})
}

// tvLarge is past the kernels' streaming-store threshold (8 MiB moved) for
// every op it is used with.
const tvLarge = 1<<21 + 3

func TestConvertSizes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		check := func(n int, dt, st DType) {
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
		for _, half := range []DType{F16, BF16} {
			check(tvLarge, half, F32)
			check(tvLarge, F32, half)
		}
	})
}

// ------------------------------------------------------------ arithmetic ---

func TestSub(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		check := func(n int, ftT, baseT DType) {
			a, b := tvWide(rng, ftT, n), tvWide(rng, baseT, n)
			ft, base := tvInput(t, be, rng, ftT, a), tvInput(t, be, rng, baseT, b)
			dst := newRegion(t, be, rng, F32, n)
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
		check(tvLarge, BF16, BF16)
		check(tvLarge, F32, F32)
		// In place over ft is allowed.
		x := randF32(rng, 100, 1)
		r := newRegion(t, be, rng, F32, 100)
		r.setF32(t, x)
		if err := be.Sub(r.View, r.View, r.View); err != nil {
			t.Fatal(err)
		}
		for i, v := range r.F32(t) {
			if v != 0 {
				t.Fatalf("x - x in place: element %d = %v", i, v)
			}
		}
	})
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

func TestSumSq(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		for _, n := range testSizes {
			x := randF32(rng, n, 3)
			r := tvInput(t, be, rng, F32, x)
			got, err := be.SumSq(r.View)
			if err != nil {
				t.Fatal(err)
			}
			want := sumSqExact(x)
			if e := math.Abs(got-want) / max(want, math.SmallestNonzeroFloat64); e > 1e-12 || got != got {
				t.Fatalf("n=%d: sumsq %v, want %v (rel err %g)", n, got, want, e)
			}
			refGot, _ := NewRef().SumSq(tvInput(t, NewRef(), rng, F32, x).View)
			if got != refGot { // one fixed order of additions on every backend
				t.Fatalf("n=%d: sumsq %v differs from the reference %v", n, got, refGot)
			}
		}
		for _, special := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
			x := randF32(rng, 3*sumSqBlock+5, 1)
			x[2*sumSqBlock+1] = special
			got, err := be.SumSq(tvInput(t, be, rng, F32, x).View)
			if err != nil {
				t.Fatal(err)
			}
			if special != special && got == got || special == special && !math.IsInf(got, 1) {
				t.Fatalf("sumsq with %v = %v", special, got)
			}
		}
	})
}

// SumSq must give the same bits for any thread count.
func TestSumSqThreads(t *testing.T) {
	rng := newRNG(t)
	// Enough blocks that every thread count below gets several of them.
	x := randF32(rng, 7*tvSumSqGrain*sumSqBlock+12345, 1)
	want, _ := NewRef().SumSq(tvInput(t, NewRef(), rng, F32, x).View)
	scalar, err := NewCPU(ISAScalar, 1)
	if err != nil {
		t.Fatal(err)
	}
	in := tvInput(t, scalar, rng, F32, x) // CPU buffers serve every CPU backend
	for _, isa := range []string{ISAScalar, ISAAVX2, ISAAVX512} {
		if s := pathStatus(isa); s != "runs" {
			t.Logf("%s: %s", isa, s)
			continue
		}
		for _, threads := range []int{1, 2, 3, 7, 0} {
			be, err := NewCPU(isa, threads)
			if err != nil {
				t.Fatal(err)
			}
			got, err := be.SumSq(in.View)
			if err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("%s threads=%d: %v (%016x), want %v (%016x)", isa, threads, got,
					math.Float64bits(got), want, math.Float64bits(want))
			}
		}
	}
}

// tvSumSqGrain is TV_SUMSQ_GRAIN of taskvec.c: the fewest blocks per thread.
const tvSumSqGrain = 16

func TestScale(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		for _, n := range testSizes {
			x := randF32(rng, n, 2)
			r := tvInput(t, be, rng, F32, x)
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
	})
}

func TestAxpy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		const a = float32(1.7)
		for _, n := range testSizes {
			x, y := randF32(rng, n, 1), randF32(rng, n, 1)
			xr, yr := tvInput(t, be, rng, F32, x), tvInput(t, be, rng, F32, y)
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
			if got := xr.F32(t); firstDiff(F32Bytes(got), F32Bytes(x), 4) >= 0 {
				t.Fatalf("n=%d: axpy changed x", n)
			}
		}
		// x and y may be the same view: y = (1 + a) y.
		y := randF32(rng, 33, 1)
		yr := tvInput(t, be, rng, F32, y)
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
	})
}

func TestWeightedSum(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		for _, count := range []int{1, 2, 3, 8} {
			sizes := testSizes
			if count == 2 {
				sizes = append(sizes[:len(sizes):len(sizes)], tvLarge)
			}
			for _, n := range sizes {
				xs := make([]Vec, count)
				w := make([]float32, count)
				want := make([]float64, n)
				for k := range xs {
					x := randF32(rng, n, 1)
					xs[k] = tvInput(t, be, rng, F32, x).View
					w[k] = 2*rng.Float32() - 1
					for i, v := range x {
						want[i] += float64(w[k]) * float64(v)
					}
				}
				dst := newRegion(t, be, rng, F32, n)
				if err := be.WeightedSum(dst.View, xs, w); err != nil {
					t.Fatal(err)
				}
				if e := relErr(dst.F32(t), want); e > 1e-6 {
					t.Fatalf("count=%d n=%d: rel err %g", count, n, e)
				}
			}
		}
	})
}

func TestL2Norm(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		var xs []Vec
		var all []float32
		for _, n := range []int{0, 5, 1000, 70000} {
			x := randF32(rng, n, 1)
			xs = append(xs, tvInput(t, be, rng, F32, x).View)
			all = append(all, x...)
		}
		got, err := L2Norm(be, xs)
		if err != nil {
			t.Fatal(err)
		}
		if want := math.Sqrt(sumSqExact(all)); math.Abs(got-want) > 1e-12*want {
			t.Fatalf("L2Norm = %v, want %v", got, want)
		}
		if got, err := L2Norm(be, nil); got != 0 || err != nil {
			t.Fatalf("L2Norm of nothing = %v, %v", got, err)
		}
		bad := newRegion(t, be, rng, F16, 4).View
		if _, err := L2Norm(be, append(xs, bad)); err == nil {
			t.Fatal("L2Norm accepted an f16 tensor")
		}
	})
}

// ---------------------------------------------------------------- errors ---

// foreign is a backend whose buffers the tested one must refuse.
func foreign(t *testing.T, be Backend) Backend {
	if _, ok := be.(*Ref); ok {
		cpu, err := NewCPU(ISAScalar, 1)
		if err != nil {
			t.Fatal(err)
		}
		return cpu
	}
	return NewRef()
}

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
	alien, freed Buffer
	out          func(dt DType, n int) *region
}

func tvErrorCases(t *testing.T, fn func(t *testing.T, be Backend, s tvErrorSetup)) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		other := foreign(t, be)
		alien, err := other.Alloc(F32, 8)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Free(alien) })
		freed, err := be.Alloc(F32, 8)
		if err != nil {
			t.Fatal(err)
		}
		be.Free(freed)
		fn(t, be, tvErrorSetup{
			x8:    tvInput(t, be, rng, F32, randF32(rng, 8, 1)),
			x9:    tvInput(t, be, rng, F32, randF32(rng, 9, 1)),
			h8:    newRegion(t, be, rng, F16, 8),
			alien: alien,
			freed: freed,
			out:   func(dt DType, n int) *region { return newRegion(t, be, rng, dt, n) },
		})
	})
}

// overlapping returns two n-element views of r's buffer, the second shifted by d.
func overlapping(r *region, n, d int) (Vec, Vec) {
	return Vec{Buf: r.buf, Off: r.View.Off, N: n}, Vec{Buf: r.buf, Off: r.View.Off + d, N: n}
}

func TestConvertErrors(t *testing.T) {
	tvErrorCases(t, func(t *testing.T, be Backend, s tvErrorSetup) {
		o := s.out(F16, 8)
		tvExpectError(t, "length mismatch", o, func() error { return be.Convert(o.View, s.x9.View) })
		tvExpectError(t, "foreign src", o, func() error { return be.Convert(o.View, All(s.alien)) })
		tvExpectError(t, "freed src", o, func() error { return be.Convert(o.View, All(s.freed)) })
		o = s.out(I32, 8)
		tvExpectError(t, "to i32", o, func() error { return be.Convert(o.View, s.x8.View) })
		o = s.out(F32, 16)
		a, b := overlapping(o, 8, 4)
		tvExpectError(t, "overlap", o, func() error { return be.Convert(a, b) })
	})
}

func TestSubErrors(t *testing.T) {
	tvErrorCases(t, func(t *testing.T, be Backend, s tvErrorSetup) {
		o := s.out(F32, 8)
		tvExpectError(t, "length mismatch", o, func() error { return be.Sub(o.View, s.x8.View, s.x9.View) })
		tvExpectError(t, "foreign base", o, func() error { return be.Sub(o.View, s.x8.View, All(s.alien)) })
		tvExpectError(t, "freed ft", o, func() error { return be.Sub(o.View, All(s.freed), s.x8.View) })
		tvExpectError(t, "out of bounds", o, func() error {
			return be.Sub(o.View, Vec{Buf: s.x8.buf, Off: s.x8.buf.Len() - 4, N: 8}, s.x8.View)
		})
		o = s.out(F16, 8)
		tvExpectError(t, "dst f16", o, func() error { return be.Sub(o.View, s.x8.View, s.h8.View) })
		o = s.out(F32, 16)
		a, b := overlapping(o, 8, 1)
		tvExpectError(t, "shifted overlap", o, func() error { return be.Sub(b, a, s.x8.View) })
	})
}

func TestSumSqErrors(t *testing.T) {
	tvErrorCases(t, func(t *testing.T, be Backend, s tvErrorSetup) {
		for what, v := range map[string]Vec{"f16": s.h8.View, "foreign": All(s.alien), "freed": All(s.freed),
			"out of bounds": {Buf: s.x8.buf, Off: -1, N: 8}} {
			if _, err := be.SumSq(v); err == nil {
				t.Errorf("%s: no error", what)
			}
		}
	})
}

func TestScaleAxpyErrors(t *testing.T) {
	tvErrorCases(t, func(t *testing.T, be Backend, s tvErrorSetup) {
		o := s.out(F16, 8)
		tvExpectError(t, "scale f16", o, func() error { return be.Scale(o.View, 2) })
		o = s.out(F32, 9)
		tvExpectError(t, "axpy length mismatch", o, func() error { return be.Axpy(1, s.x8.View, o.View) })
		o = s.out(F32, 8)
		tvExpectError(t, "axpy foreign x", o, func() error { return be.Axpy(1, All(s.alien), o.View) })
		tvExpectError(t, "axpy f16 x", o, func() error { return be.Axpy(1, s.h8.View, o.View) })
		o = s.out(F32, 16)
		a, b := overlapping(o, 8, 1)
		tvExpectError(t, "axpy shifted overlap", o, func() error { return be.Axpy(1, a, b) })
	})
}

func TestWeightedSumErrors(t *testing.T) {
	tvErrorCases(t, func(t *testing.T, be Backend, s tvErrorSetup) {
		o := s.out(F32, 8)
		x8, x9 := s.x8.View, s.x9.View
		for what, op := range map[string]func() error{
			"no inputs":       func() error { return be.WeightedSum(o.View, nil, nil) },
			"weight count":    func() error { return be.WeightedSum(o.View, []Vec{x8}, []float32{1, 2}) },
			"length mismatch": func() error { return be.WeightedSum(o.View, []Vec{x8, x9}, []float32{1, 2}) },
			"f16 input":       func() error { return be.WeightedSum(o.View, []Vec{s.h8.View}, []float32{1}) },
			"foreign input":   func() error { return be.WeightedSum(o.View, []Vec{All(s.alien)}, []float32{1}) },
			"dst is an input": func() error { return be.WeightedSum(o.View, []Vec{x8, o.View}, []float32{1, 1}) },
		} {
			tvExpectError(t, what, o, op)
		}
	})
}
