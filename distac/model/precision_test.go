package model

import (
	"errors"
	"math"
	"testing"

	"github.com/distac/distac/ffi"
)

func TestParsePrecision(t *testing.T) {
	for in, want := range map[string]Precision{"": F32, "f32": F32, "fp32": F32, "bf16": BF16} {
		if got, err := ParsePrecision(in); err != nil || got != want {
			t.Errorf("ParsePrecision(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"fp16", "BF16", "f64", "bf16 "} {
		if _, err := ParsePrecision(in); !errors.Is(err, ErrPrecision) {
			t.Errorf("ParsePrecision(%q): %v, want ErrPrecision", in, err)
		}
	}
	if _, err := WithPrecision(engines(t)[0], "f16"); !errors.Is(err, ErrPrecision) {
		t.Errorf("WithPrecision(f16): %v, want ErrPrecision", err)
	}
}

// The bf16 engine runs the models' products on rounded operands: the loss
// and gradients move by about bf16's precision (2^-9 relative), not more,
// on every backend, and are not the fp32 ones (measured: loss 0.1-0.3%,
// gradients 0.5-0.9%).
func TestPrecisionBF16(t *testing.T) {
	for name, c := range map[string]*Config{"vit": tinyViT(true), "mlp": tinyMLP()} {
		t.Run(name, func(t *testing.T) {
			var refLoss, refLoss16 float64
			var refGrad []float32
			for _, e32 := range engines(t) {
				e16, err := WithPrecision(e32, BF16)
				if err != nil {
					t.Fatal(err)
				}
				var loss [2]float64
				var grad [2][]float32
				for i, e := range []Engine{e32, e16} {
					s := newKLSetup(t, e, c, 5, 4)
					p := randomParams(t, e, LayoutOf(c), 5)
					g, _ := NewParams(e, p.Layout)
					loss[i] = s.loss(t, p, g)
					grad[i], _ = ffi.ReadF32(e, g.All())
				}
				if e32.Name() == "ref" {
					refLoss, refGrad, refLoss16 = loss[0], grad[0], loss[1]
				}
				// the same rounded operands on every backend: only the sums differ
				if d := math.Abs(loss[1]-refLoss16) / refLoss16; d > 1e-4 {
					t.Errorf("%s: bf16 loss %v, the ref backend's %v", e32.Name(), loss[1], refLoss16)
				}
				if loss[1] == loss[0] {
					t.Errorf("%s: the bf16 loss equals the fp32 one (%v): nothing was rounded", e32.Name(), loss[0])
				}
				if d := math.Abs(loss[1]-refLoss) / refLoss; d > 1e-2 {
					t.Errorf("%s: bf16 loss %v is %.3g from the fp32 reference %v", e32.Name(), loss[1], d, refLoss)
				}
				var num, den float64
				for i, r := range refGrad {
					num += (float64(grad[1][i]) - float64(r)) * (float64(grad[1][i]) - float64(r))
					den += float64(r) * float64(r)
				}
				t.Logf("%s: loss fp32 %.6g bf16 %.6g; bf16 gradients %.3g from the fp32 reference",
					e32.Name(), loss[0], loss[1], math.Sqrt(num/den))
				if d := math.Sqrt(num / den); d > 3e-2 || d == 0 {
					t.Errorf("%s: bf16 gradients are %.3g (relative) from the fp32 reference, want in (0, 3e-2]", e32.Name(), d)
				}
			}
		})
	}
}
