package ffi

import (
	"fmt"
	"unsafe"
)

// F32Bytes views a []float32 as bytes (no copy).
func F32Bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

// U16Bytes views a []uint16 as bytes (no copy).
func U16Bytes(x []uint16) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 2*len(x))
}

// I32Bytes views a []int32 as bytes (no copy).
func I32Bytes(x []int32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

// NewF32 allocates an F32 buffer on be holding a copy of x.
func NewF32(be Backend, x []float32) (Buffer, error) {
	buf, err := be.Alloc(F32, len(x))
	if err != nil {
		return nil, err
	}
	if err := be.Upload(All(buf), F32Bytes(x)); err != nil {
		be.Free(buf)
		return nil, err
	}
	return buf, nil
}

// ReadF32 downloads an F32 Vec into a new slice.
func ReadF32(be Backend, v Vec) ([]float32, error) {
	if v.Buf == nil || v.Buf.DType() != F32 {
		return nil, fmt.Errorf("read f32: buffer is not f32")
	}
	out := make([]float32, v.N)
	return out, be.Download(F32Bytes(out), v)
}

// ReadU64 downloads a U64 Vec (histogram counts) into a new slice.
func ReadU64(be Backend, v Vec) ([]uint64, error) {
	if v.Buf == nil || v.Buf.DType() != U64 {
		return nil, fmt.Errorf("read u64: buffer is not u64")
	}
	out := make([]uint64, v.N)
	return out, be.Download(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), 8*len(out)), v)
}

// ReadF64 downloads an F64 Vec (reduction results) into a new slice.
func ReadF64(be Backend, v Vec) ([]float64, error) {
	if v.Buf == nil || v.Buf.DType() != F64 {
		return nil, fmt.Errorf("read f64: buffer is not f64")
	}
	out := make([]float64, v.N)
	return out, be.Download(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), 8*len(out)), v)
}

// SumSqValue is SumSq of x as a number on the host: it allocates the one
// F64 result, runs the op and reads the result back (a sync). Passes over
// many chunks should give SumSq slots of one buffer and read them once.
func SumSqValue(be Backend, x Vec) (float64, error) {
	out, err := be.Alloc(F64, 1)
	if err != nil {
		return 0, err
	}
	defer be.Free(out)
	if err := be.SumSq(x, All(out)); err != nil {
		return 0, err
	}
	v, err := ReadF64(be, All(out))
	if err != nil {
		return 0, err
	}
	return v[0], nil
}
