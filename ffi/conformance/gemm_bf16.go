package conformance

import (
	"errors"
	"math"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/half"
)

// roundBF16 is x with every element rounded to bf16 (nearest even).
func roundBF16(x []float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = half.BF16ToF32(half.F32ToBF16(v))
	}
	return out
}

// bf16Gemm returns be's SgemmBF16, skipping the test on a backend that
// has no kernel for it.
func bf16Gemm(t *testing.T, be ffi.Backend) gemmOp {
	t.Helper()
	e := trainer(t, be)
	r := newRegion(t, be, newRNG(t), ffi.F32, 1)
	one := r.Mat(1)
	if err := e.SgemmBF16(false, false, 1, 1, 1, 1, one, one, 0, one); errors.Is(err, ffi.ErrNotImplemented) {
		t.Skipf("backend %s has no bf16 GEMM: %v", be.Name(), err)
	}
	return e.SgemmBF16
}

// SgemmBF16 on the GEMM cases and the degenerate ones: against the float64
// product of the rounded operands, the fp32 sums are held to Sgemm's bound.
func testGemmBF16(t *testing.T, be ffi.Backend) {
	op := bf16Gemm(t, be)
	rng := newRNG(t)
	cases := append(gemmCases(rng),
		gemmCase{m: 5, n: 9, k: 0, alpha: 1, beta: 3, pad: 1},
		gemmCase{m: 19, n: 40, k: 8, alpha: 0, beta: -0.5, transB: true},
		gemmCase{m: 19, n: 40, k: 8, alpha: 0, beta: 0, pad: 1},
		gemmCase{m: 0, n: 7, k: 3, alpha: 1, beta: 1},
		gemmCase{m: 400, n: 96, k: 768, alpha: 1, beta: 1, transA: true}, // a ViT weight gradient, threaded
		gemmCase{m: 200, n: 3072, k: 97, alpha: 1, beta: 0, transB: true},
	)
	runGemm(t, be, rng, cases, op, true)
}

// The operands really are rounded: on values bf16 cannot hold, SgemmBF16
// is far from the fp32 product (bf16 keeps 8 significant bits, so the
// relative error is of order 2^-9) and equal to it on values it can.
func testGemmBF16Rounds(t *testing.T, be ffi.Backend) {
	op := bf16Gemm(t, be)
	rng := newRNG(t)
	g := gemmCase{m: 33, n: 65, k: 130, alpha: 1, beta: 0}
	o := newGemmOperands(t, be, rng, g, 1, 0, 0)
	if err := op(false, false, g.m, g.n, g.k, 1, o.ra.Mat(o.lda), o.rb.Mat(o.ldb), 0, o.rc.Mat(o.ldc)); err != nil {
		t.Fatal(err)
	}
	dense := gemmDense(t, o.rc.F32(t), g.m, g.n, o.ldc)
	if e := relErr(dense, gemm64(g, o.a, o.b, o.c)); e < 1e-4 {
		t.Fatalf("relative error %.3g against the unrounded product: the operands were not rounded", e)
	}
	// operands that are bf16 already: small integers, exact products and sums
	exact := func(x []float32) {
		for i := range x {
			if !math.IsNaN(float64(x[i])) {
				x[i] = float32(rng.IntN(17) - 8)
			}
		}
	}
	exact(o.a)
	exact(o.b)
	o.ra.setF32(t, o.a)
	o.rb.setF32(t, o.b)
	if err := op(false, false, g.m, g.n, g.k, 1, o.ra.Mat(o.lda), o.rb.Mat(o.ldb), 0, o.rc.Mat(o.ldc)); err != nil {
		t.Fatal(err)
	}
	dense = gemmDense(t, o.rc.F32(t), g.m, g.n, o.ldc)
	want := gemm64(g, o.a, o.b, o.c)
	for i := range dense {
		if float64(dense[i]) != want[i] {
			t.Fatalf("element %d: %g, want exactly %g", i, dense[i], want[i])
		}
	}
}

// Bad arguments fail before C is written.
func testGemmBF16Errors(t *testing.T, be ffi.Backend) {
	op := bf16Gemm(t, be)
	rng := newRNG(t)
	g := gemmCase{m: 6, n: 5, k: 4, alpha: 1, beta: 1, pad: 1}
	o := newGemmOperands(t, be, rng, g, 1, 0, 0)
	a, b, c := o.ra.Mat(o.lda), o.rb.Mat(o.ldb), o.rc.Mat(o.ldc)
	withLD := func(m ffi.Mat, ld int) ffi.Mat { m.LD = ld; return m }
	before := o.rc.F32(t)
	for name, call := range map[string]func() error{
		"negative n":  func() error { return op(false, false, 6, -5, 4, 1, a, b, 1, c) },
		"short lda":   func() error { return op(false, false, 6, 5, 4, 1, withLD(a, 3), b, 1, c) },
		"short ldc":   func() error { return op(false, false, 6, 5, 4, 1, a, b, 1, withLD(c, 4)) },
		"nil C":       func() error { return op(false, false, 6, 5, 4, 1, a, b, 1, ffi.Mat{LD: 6}) },
		"A too small": func() error { return op(true, false, 6, 5, 4, 1, a, b, 1, c) },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	after := o.rc.F32(t)
	for i := range before {
		if math.Float32bits(before[i]) != math.Float32bits(after[i]) {
			t.Fatalf("C element %d changed by a failed call", i)
		}
	}
}
