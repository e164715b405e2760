package half

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestCases(t *testing.T) {
	for _, c := range Cases {
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

func TestOracle(t *testing.T) {
	bad := 0
	for _, f := range Sweep(rand.New(rand.NewPCG(3, 4))) {
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
