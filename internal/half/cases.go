package half

import (
	"math"
	"math/rand/v2"
)

// Cases are hand-computed rounding cases, for the tests of every Convert:
// f32 bits in, f16 and bf16 bits out.
var Cases = [][3]uint32{
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

// Sweep is every top-19-bit f32 prefix with low bits at, above and below
// each rounding position, plus random low bits.
func Sweep(rng *rand.Rand) []float32 {
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
