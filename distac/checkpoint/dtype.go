package checkpoint

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/half"
	"github.com/nlpodyssey/safetensors"
)

// DType is a safetensors element type.
type DType = safetensors.DType

// IsComputeFloat reports whether tensors of dt take part in task vectors:
// F32, F16 and BF16 are computed in f32; other floats are rejected.
func IsComputeFloat(dt DType) bool {
	return dt == safetensors.F32 || dt == safetensors.F16 || dt == safetensors.BF16
}

// IsCarried reports whether tensors of dt are integer (or bool) buffers,
// copied unchanged from the base model and skipped for task vectors.
func IsCarried(dt DType) bool {
	switch dt {
	case safetensors.BOOL, safetensors.U8, safetensors.I8, safetensors.I16, safetensors.U16,
		safetensors.I32, safetensors.U32, safetensors.I64, safetensors.U64:
		return true
	}
	return false
}

// ComputeType maps a float dtype (IsComputeFloat) to the backend's.
func ComputeType(dt DType) ffi.DType {
	switch dt {
	case safetensors.F16:
		return ffi.F16
	case safetensors.BF16:
		return ffi.BF16
	}
	return ffi.F32
}

// DecodeFloats widens little-endian F32, F16 or BF16 values to float32
// (exactly: every 16-bit value is a float32).
func DecodeFloats(dt DType, raw []byte) ([]float32, error) {
	size := int(dt.Size())
	if !IsComputeFloat(dt) {
		return nil, fmt.Errorf("dtype %s, want F32, F16 or BF16", dt)
	}
	if len(raw)%size != 0 {
		return nil, fmt.Errorf("%d bytes of %s", len(raw), dt)
	}
	out := make([]float32, len(raw)/size)
	for i := range out {
		switch dt {
		case safetensors.F32:
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		case safetensors.F16:
			out[i] = half.F16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		default:
			out[i] = half.BF16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	}
	return out, nil
}

// ParseOutDType parses a user's output dtype: "" (keep the base model's),
// "f32", "f16" or "bf16" (any case, "float32"/"float16"/"bfloat16" too).
func ParseOutDType(s string) (dt DType, keep bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return 0, true, nil
	case "f32", "float32", "fp32":
		return safetensors.F32, false, nil
	case "f16", "float16", "fp16", "half":
		return safetensors.F16, false, nil
	case "bf16", "bfloat16":
		return safetensors.BF16, false, nil
	}
	return 0, false, fmt.Errorf("output dtype %q: want f32, f16 or bf16", s)
}

// NumElements is the product of shape, or an error when it overflows.
func NumElements(shape []uint64) (uint64, error) {
	n := uint64(1)
	for _, d := range shape {
		if d != 0 && n > (1<<62)/d {
			return 0, fmt.Errorf("shape %v overflows", shape)
		}
		n *= d
	}
	return n, nil
}
