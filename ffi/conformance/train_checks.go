package conformance

// Conformance of the training ops, continued: finite-difference checks of
// every backward through the reference backend, and the error cases that
// must write nothing.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/ffi"
)

// testTrainFiniteDifferences checks every backward of the backend against a fourth-order central difference of its forward, for the loss
// L = sum(w * y) whose dL/dy = w is the backward's dy. Inputs sit on a 2^-12
// grid so that the steps +-h, +-2h (h = 2^-7) are exact in fp32; what is
// left is the fp32 rounding of y, up to ~2e-5 absolute in the quotient here,
// against a bound of 2e-4 * (1 + |dL/dp|).
func testTrainFiniteDifferences(t *testing.T, be ffi.Backend) {
	ref, rng := trainer(t, be), newRNG(t)
	buf := func(x []float32) ffi.Buffer {
		b, err := ffi.NewF32(ref, x)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	read := func(b ffi.Buffer) []float32 {
		x, err := ffi.ReadF32(ref, ffi.All(b))
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	dot := func(w []float32, b ffi.Buffer) float64 {
		var s float64
		for i, v := range read(b) {
			s += float64(w[i]) * float64(v)
		}
		return s
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("layernorm", func(t *testing.T) {
		const rows, cols = 3, 17
		x, gamma, beta := trGrid(rng, rows*cols, 2, 3), trGrid(rng, cols, 1.5, 0), trGrid(rng, cols, 1, 0)
		w := randF32(rng, rows*cols, 1)
		loss := func() float64 {
			y := buf(make([]float32, rows*cols))
			must(ref.LayerNormForward(rows, cols, ffi.Mat{Buf: buf(x), Off: 0, LD: cols}, ffi.All(buf(gamma)), ffi.All(buf(beta)), 1e-5, ffi.Mat{Buf: y, Off: 0, LD: cols}, ffi.Vec{}, ffi.Vec{}))
			return dot(w, y)
		}
		xb, gb, y, mean, rstd := buf(x), buf(gamma), buf(make([]float32, rows*cols)), buf(make([]float32, rows)), buf(make([]float32, rows))
		must(ref.LayerNormForward(rows, cols, ffi.Mat{Buf: xb, Off: 0, LD: cols}, ffi.All(gb), ffi.All(buf(beta)), 1e-5, ffi.Mat{Buf: y, Off: 0, LD: cols}, ffi.All(mean), ffi.All(rstd)))
		dx, dg, db := buf(make([]float32, rows*cols)), buf(make([]float32, cols)), buf(make([]float32, cols))
		must(ref.LayerNormBackward(rows, cols, ffi.Mat{Buf: buf(w), Off: 0, LD: cols}, ffi.Mat{Buf: xb, Off: 0, LD: cols}, ffi.All(mean), ffi.All(rstd), ffi.All(gb), ffi.Mat{Buf: dx, Off: 0, LD: cols}, false, ffi.All(dg), ffi.All(db)))
		trFD(t, rng, "dx", x, read(dx), loss)
		trFD(t, rng, "dgamma", gamma, read(dg), loss)
		trFD(t, rng, "dbeta", beta, read(db), loss)
	})

	for _, quick := range []bool{false, true} {
		t.Run(fmt.Sprintf("gelu_quick=%v", quick), func(t *testing.T) {
			const n = 33
			x, w := trGrid(rng, n, 4, 0), randF32(rng, n, 1)
			loss := func() float64 {
				y := buf(make([]float32, n))
				must(ref.GELUForward(ffi.All(buf(x)), ffi.All(y), quick))
				return dot(w, y)
			}
			dx := buf(make([]float32, n))
			must(ref.GELUBackward(ffi.All(buf(x)), ffi.All(buf(w)), ffi.All(dx), quick))
			trFD(t, rng, "dx", x, read(dx), loss)
		})
	}

	t.Run("softmax", func(t *testing.T) {
		const rows, cols = 2, 9
		x, w := trGrid(rng, rows*cols, 3, 0), randF32(rng, rows*cols, 1)
		loss := func() float64 {
			y := buf(make([]float32, rows*cols))
			must(ref.SoftmaxForward(rows, cols, ffi.Mat{Buf: buf(x), Off: 0, LD: cols}, ffi.Mat{Buf: y, Off: 0, LD: cols}))
			return dot(w, y)
		}
		y, dx := buf(make([]float32, rows*cols)), buf(make([]float32, rows*cols))
		must(ref.SoftmaxForward(rows, cols, ffi.Mat{Buf: buf(x), Off: 0, LD: cols}, ffi.Mat{Buf: y, Off: 0, LD: cols}))
		must(ref.SoftmaxBackward(rows, cols, ffi.Mat{Buf: y, Off: 0, LD: cols}, ffi.Mat{Buf: buf(w), Off: 0, LD: cols}, ffi.Mat{Buf: dx, Off: 0, LD: cols}))
		trFD(t, rng, "dx", x, read(dx), loss)
	})

	t.Run("bias", func(t *testing.T) {
		const rows, cols = 4, 5
		y0, b, w := randF32(rng, rows*cols, 1), trGrid(rng, cols, 1, 0), randF32(rng, rows*cols, 1)
		loss := func() float64 {
			y := buf(y0)
			must(ref.BiasAdd(rows, cols, ffi.Mat{Buf: y, Off: 0, LD: cols}, ffi.All(buf(b))))
			return dot(w, y)
		}
		db := buf(make([]float32, cols))
		must(ref.BiasGrad(rows, cols, ffi.Mat{Buf: buf(w), Off: 0, LD: cols}, ffi.All(db)))
		trFD(t, rng, "db", b, read(db), loss)
	})
}

// trGrid is n values uniform in [-scale, scale) + offset, rounded to 2^-12.
func trGrid(rng *rand.Rand, n int, scale, offset float32) []float32 {
	x := randF32(rng, n, scale)
	for i := range x {
		x[i] = float32(math.Round(float64(x[i])*4096)/4096) + offset
	}
	return x
}

// trFD compares grad[i] = dL/dp[i] with (8(L(+h) - L(-h)) - (L(+2h) - L(-2h))) / 12h
// at a few random coordinates i (truncation error O(h^4)).
func trFD(t *testing.T, rng *rand.Rand, what string, p, grad []float32, loss func() float64) {
	t.Helper()
	const h = 1.0 / 128
	for range 6 {
		i := rng.IntN(len(p))
		orig := p[i]
		at := func(s float32) float64 { p[i] = orig + s*h; return loss() }
		fd := (8*(at(1)-at(-1)) - (at(2) - at(-2))) / (12 * h)
		p[i] = orig
		if d := math.Abs(fd - float64(grad[i])); !(d <= 2e-4*(1+math.Abs(fd))) {
			t.Fatalf("%s[%d]: backward %g, finite difference %g", what, i, grad[i], fd)
		}
	}
}

// ------------------------------------------------------------------ errors

// testTrainErrors: bad shapes, views, dtypes, parameters and foreign buffers
// are errors, and nothing (outputs, accumulators, guards) changes.
func testTrainErrors(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	vals := func(n int) []float32 { return randF32(rng, n, 1) }
	x, y := newTrMat(t, be, rng, 4, 8, 0, vals(32)), newTrMat(t, be, rng, 4, 8, 0, nil)
	g, b, dg := newTrVec(t, be, rng, 8, vals(8)), newTrVec(t, be, rng, 8, vals(8)), newTrVec(t, be, rng, 8, vals(8))
	mean, rstd := newTrVec(t, be, rng, 4, vals(4)), newTrVec(t, be, rng, 4, vals(4))
	th, gr, m, v, ini := newTrVec(t, be, rng, 16, vals(16)), newTrVec(t, be, rng, 16, vals(16)),
		newTrVec(t, be, rng, 16, vals(16)), newTrVec(t, be, rng, 16, vals(16)), newTrVec(t, be, rng, 16, vals(16))
	out := newTrVec(t, be, rng, 16, nil)
	regions := []*region{x.r, y.r, g, b, dg, mean, rstd, th, gr, m, v, ini, out}

	i32, err := be.Alloc(ffi.I32, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Free(i32)
	other := otherBackend(be)
	foreign, err := other.Alloc(ffi.F32, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Free(foreign)

	X, Y := x.Mat(), y.Mat()
	shortLD := Y
	shortLD.LD = 7
	adam := ffi.AdamParams{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, ClipScale: 1, Step: 1}
	with := func(f func(p *ffi.AdamParams)) ffi.AdamParams { p := adam; f(&p); return p }
	cases := []errorCase{
		{"layernorm short ld", func() error {
			return tr.LayerNormForward(4, 8, X, g.View, b.View, 1e-5, shortLD, mean.View, rstd.View)
		}},
		{"layernorm cols 0", func() error { return tr.LayerNormForward(4, 0, X, g.View, b.View, 1e-5, Y, mean.View, rstd.View) }},
		{"layernorm negative eps", func() error { return tr.LayerNormForward(4, 8, X, g.View, b.View, -1, Y, mean.View, rstd.View) }},
		{"layernorm NaN eps", func() error {
			return tr.LayerNormForward(4, 8, X, g.View, b.View, float32(math.NaN()), Y, mean.View, rstd.View)
		}},
		{"layernorm overrun", func() error { return tr.LayerNormForward(100, 8, X, g.View, b.View, 1e-5, Y, ffi.Vec{}, ffi.Vec{}) }},
		{"layernorm gamma length", func() error {
			return tr.LayerNormForward(4, 8, X, ffi.Vec{Buf: g.View.Buf, Off: g.View.Off, N: 7}, b.View, 1e-5, Y, mean.View, rstd.View)
		}},
		{"layernorm mean length", func() error {
			return tr.LayerNormForward(4, 8, X, g.View, b.View, 1e-5, Y, ffi.Vec{Buf: mean.View.Buf, Off: mean.View.Off, N: 3}, rstd.View)
		}},
		{"layernorm backward dgamma dtype", func() error {
			return tr.LayerNormBackward(4, 8, X, X, mean.View, rstd.View, g.View, Y, false, ffi.All(i32), ffi.Vec{})
		}},
		{"layernorm backward missing rstd", func() error {
			return tr.LayerNormBackward(4, 8, X, X, mean.View, ffi.Vec{}, g.View, Y, false, dg.View, ffi.Vec{})
		}},
		{"gelu length", func() error {
			return tr.GELUForward(th.View, ffi.Vec{Buf: out.View.Buf, Off: out.View.Off, N: 15}, false)
		}},
		{"gelu backward dy", func() error { return tr.GELUBackward(th.View, ffi.Vec{}, out.View, true) }},
		{"softmax short ld", func() error { return tr.SoftmaxForward(4, 8, X, shortLD) }},
		{"softmax cols 0", func() error { return tr.SoftmaxBackward(4, 0, X, X, Y) }},
		{"bias add length", func() error { return tr.BiasAdd(4, 8, Y, ffi.Vec{Buf: b.View.Buf, Off: b.View.Off, N: 9}) }},
		{"bias grad negative rows", func() error { return tr.BiasGrad(-1, 8, X, dg.View) }},
		{"adam step 0", func() error {
			return tr.AdamStep(th.View, gr.View, m.View, v.View, ffi.Vec{}, with(func(p *ffi.AdamParams) { p.Step = 0 }))
		}},
		{"adam beta1 1", func() error {
			return tr.AdamStep(th.View, gr.View, m.View, v.View, ffi.Vec{}, with(func(p *ffi.AdamParams) { p.Beta1 = 1 }))
		}},
		{"adam NaN lr", func() error {
			return tr.AdamStep(th.View, gr.View, m.View, v.View, ffi.Vec{}, with(func(p *ffi.AdamParams) { p.LR = float32(math.NaN()) }))
		}},
		{"adam inf clip", func() error {
			return tr.AdamStep(th.View, gr.View, m.View, v.View, ffi.Vec{}, with(func(p *ffi.AdamParams) { p.ClipScale = float32(math.Inf(1)) }))
		}},
		{"adam negative anchor", func() error {
			return tr.AdamStep(th.View, gr.View, m.View, v.View, ini.View, with(func(p *ffi.AdamParams) { p.Anchor = -1 }))
		}},
		{"adam anchor without init", func() error {
			return tr.AdamStep(th.View, gr.View, m.View, v.View, ffi.Vec{}, with(func(p *ffi.AdamParams) { p.Anchor = 0.5 }))
		}},
		{"adam v length", func() error {
			return tr.AdamStep(th.View, gr.View, m.View, ffi.Vec{Buf: v.View.Buf, Off: v.View.Off, N: 15}, ffi.Vec{}, adam)
		}},
		{"adam foreign buffer", func() error { return tr.AdamStep(th.View, gr.View, m.View, ffi.All(foreign), ffi.Vec{}, adam) }},
		{"sumsq anchor without theta", func() error {
			_, err := tr.AnchoredGradSumSq(gr.View, ffi.Vec{}, ini.View, 0.5)
			return err
		}},
	}
	expectErrors(t, regions, cases)
}
