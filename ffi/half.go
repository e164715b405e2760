package ffi

import (
	"encoding/binary"

	"github.com/distac/distac/internal/half"
)

// widener returns element i of a host float Vec as float32.
func widener(v Vec) func(i int) float32 {
	switch v.Buf.DType() {
	case F16:
		h := u16s(v)
		return func(i int) float32 { return half.F16ToF32(h[i]) }
	case BF16:
		h := u16s(v)
		return func(i int) float32 { return half.BF16ToF32(h[i]) }
	}
	x := f32s(v)
	return func(i int) float32 { return x[i] }
}

// narrower returns a function storing a float32 as element i of a host float Vec.
func narrower(v Vec) func(i int, f float32) {
	switch v.Buf.DType() {
	case F16:
		h := u16s(v)
		return func(i int, f float32) { h[i] = half.F32ToF16(f) }
	case BF16:
		h := u16s(v)
		return func(i int, f float32) { h[i] = half.F32ToBF16(f) }
	}
	x := f32s(v)
	return func(i int, f float32) { x[i] = f }
}

// EncodeFloats returns xs as little-endian dt bytes (F32, F16 or BF16; the
// halves rounded to nearest even), a new slice.
func EncodeFloats(xs []float32, dt DType) []byte {
	if dt != F16 && dt != BF16 {
		return append([]byte(nil), F32Bytes(xs)...)
	}
	out := make([]byte, 2*len(xs))
	to := half.F32ToBF16
	if dt == F16 {
		to = half.F32ToF16
	}
	for i, x := range xs {
		binary.LittleEndian.PutUint16(out[2*i:], to(x))
	}
	return out
}
