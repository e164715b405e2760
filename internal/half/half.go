// Package half converts between float32 and the 16-bit float formats of
// checkpoints, IEEE binary16 (f16) and bfloat16 (bf16), in pure Go.
package half

import "math"

// The conversions follow, bit for bit, the rules of distac_convert
// (kernels/avx/convert.c), which every backend's Convert shares:
//   - widening (F16ToF32, BF16ToF32) is exact; an f16 NaN keeps its payload
//     and gets the quiet bit, a bf16 is the top half of an f32 as it stands;
//   - narrowing rounds to nearest even; |x| >= 65520 gives ±Inf in f16; a NaN
//     keeps the top of its payload, gets the quiet bit and never becomes Inf;
//   - subnormals are exact both ways.

// F16ToF32 widens IEEE binary16 bits to a float32 (exact).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp, mant := uint32(h>>10&0x1f), uint32(h&0x3ff)
	switch {
	case exp == 0x1f && mant != 0:
		return math.Float32frombits(sign | 0x7fc00000 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000)
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal m * 2^-24: shift the leading one up to bit 10
		exp = 1
		for mant&0x400 == 0 {
			mant <<= 1
			exp--
		}
		mant &= 0x3ff
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13) // rebias 15 -> 127
}

// F32ToF16 narrows a float32 to IEEE binary16 bits, rounding to nearest even.
func F32ToF16(f float32) uint16 {
	x := math.Float32bits(f)
	sign := uint16(x >> 16 & 0x8000)
	a := x & 0x7fffffff
	switch {
	case a > 0x7f800000: // NaN, quieted
		return sign | 0x7e00 | uint16(a>>13&0x3ff)
	case a >= 0x47800000: // >= 2^16, or Inf
		return sign | 0x7c00
	case a >= 0x38800000: // normal f16; rounding may carry up to Inf
		a += 0xfff + (a >> 13 & 1)
		return sign | uint16(a>>13-112<<10)
	case a <= 0x33000000: // <= 2^-25: ties to the even zero
		return sign
	}
	// f16 subnormal: q = round(|f| / 2^-24) with |f| = m * 2^(e-150)
	e, m := a>>23, a&0x7fffff|0x800000
	s := 126 - e // 14..24
	q, rem, half := m>>s, m&(1<<s-1), uint32(1)<<(s-1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return sign | uint16(q) // q == 0x400 is the smallest normal, correctly encoded
}

// BF16ToF32 widens bfloat16 bits to a float32 (exact: they are its top half).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 narrows a float32 to bfloat16 bits, rounding to nearest even:
// adding 0x7fff plus the kept lsb carries exactly when the dropped half is
// above a tie, or a tie with an odd lsb. A NaN is truncated with its quiet bit
// set instead, since the carry could turn it into Inf or flip the sign.
func F32ToBF16(f float32) uint16 {
	x := math.Float32bits(f)
	if x&0x7fffffff > 0x7f800000 {
		return uint16(x>>16 | 0x40)
	}
	return uint16((x + 0x7fff + (x >> 16 & 1)) >> 16)
}
