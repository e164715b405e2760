package model

import (
	"errors"
	"fmt"

	"github.com/distac/distac/ffi"
)

// Precision is the arithmetic of a model's matrix products.
type Precision string

// The precisions. BF16 is mixed precision as torch.autocast(dtype=bfloat16)
// runs a linear layer: bf16 operands (the fp32 weights and activations
// rounded as the GEMM reads them), fp32 sums and fp32 everywhere else:
// master weights, layernorm, softmax, the attention core, GELU, the loss,
// the gradients' sums and Adam.
const (
	F32  Precision = "f32"
	BF16 Precision = "bf16"
)

// Precisions lists the accepted names.
var Precisions = []Precision{F32, BF16}

// ErrPrecision is wrapped by the error of an unknown precision or one the
// backend cannot run.
var ErrPrecision = errors.New("precision")

// ParsePrecision accepts "f32" (also "fp32", "") and "bf16".
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "", "f32", "fp32":
		return F32, nil
	case "bf16":
		return BF16, nil
	}
	return "", fmt.Errorf("%w %q: want f32 or bf16", ErrPrecision, s)
}

// WithPrecision returns e with every matrix product of the models (patch
// embedding, attention projections, MLP, output projection, head; forward
// and backward) at p. F32 returns e itself.
func WithPrecision(e Engine, p Precision) (Engine, error) {
	switch p {
	case "", F32:
		return e, nil
	case BF16:
		// a 1 x 1 product says whether the backend has the op
		buf, err := e.Alloc(ffi.F32, 1)
		if err != nil {
			return nil, err
		}
		defer e.Free(buf)
		one := ffi.Mat{Buf: buf, LD: 1}
		if err := e.SgemmBF16(false, false, 1, 1, 1, 1, one, one, 0, one); err != nil {
			return nil, fmt.Errorf("%w bf16 on backend %s: %w", ErrPrecision, e.Name(), err)
		}
		return bf16Engine{e}, nil
	}
	return nil, fmt.Errorf("%w %q: want f32 or bf16", ErrPrecision, p)
}

// bf16Engine is an engine whose Sgemm is its SgemmBF16.
type bf16Engine struct{ Engine }

func (b bf16Engine) Sgemm(transA, transB bool, m, n, k int, alpha float32, a, bm ffi.Mat, beta float32, c ffi.Mat) error {
	return b.Engine.SgemmBF16(transA, transB, m, n, k, alpha, a, bm, beta, c)
}
