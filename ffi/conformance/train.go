package conformance

// Conformance of the training ops (Trainer) on every backend against float64
// references written here, and thread-count independence of the gradient
// accumulators (train_checks.go: finite differences and error cases).

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/ffi"
)

// trTol bounds ||got - want|| / ||want||. Row reductions run over at most
// 3072 fp32 values (error ~ sqrt(n) * 2^-24 ~ 3e-6 in the worst case here),
// so 1e-5 leaves room without hiding a wrong element.
const trTol = 1e-5

// trGELUElemTol bounds each GELU value's error relative to |f(x)| (forward)
// or to the terms of f'(x) that cancel at its zero (backward). The SIMD erf
// path evaluates erfcx by a fit with 2e-8 relative error in fp32 (~4e-7, 7
// ulp) times an exp of ~1 ulp; the negative tail keeps that relative accuracy.
const trGELUElemTol = 1e-6

// trCols are the row lengths of the per-row ops: tiny, odd, SIMD-width edges
// and the ViT-B widths (768, 3072).
var trCols = []int{1, 3, 17, 64, 65, 768, 3072}

// trMat is a rows x cols matrix in a guarded region, with leading dimension
// cols + pad and guardNaN in the gaps between rows, which must survive.
type trMat struct {
	r              *region
	rows, cols, ld int
}

// newTrMat uploads vals (dense rows*cols) or leaves the matrix poisoned (nil).
func newTrMat(t *testing.T, be ffi.Backend, rng *rand.Rand, rows, cols, pad int, vals []float32) *trMat {
	t.Helper()
	ld := max(cols, 1) + pad
	span := 0
	if rows > 0 && cols > 0 {
		span = (rows-1)*ld + cols
	}
	m := &trMat{r: newRegion(t, be, rng, ffi.F32, span), rows: rows, cols: cols, ld: ld}
	if vals != nil && span > 0 {
		buf := make([]float32, span)
		for i := range buf {
			buf[i] = math.Float32frombits(guardNaN)
		}
		for r := range rows {
			copy(buf[r*ld:], vals[r*cols:(r+1)*cols])
		}
		m.r.setF32(t, buf)
	}
	return m
}

func (m *trMat) Mat() ffi.Mat { return m.r.Mat(m.ld) }

// read returns the dense values and fails if a guard or gap element changed.
func (m *trMat) read(t *testing.T) []float32 {
	t.Helper()
	all := m.r.F32(t)
	out := make([]float32, 0, m.rows*m.cols)
	for i, v := range all {
		if i%m.ld < m.cols {
			out = append(out, v)
		} else if math.Float32bits(v) != guardNaN {
			t.Fatalf("gap element %d (row %d, col %d) written", i, i/m.ld, i%m.ld)
		}
	}
	return out
}

// newTrVec is a guarded Vec holding vals, or n poisoned elements (vals nil).
func newTrVec(t *testing.T, be ffi.Backend, rng *rand.Rand, n int, vals []float32) *region {
	t.Helper()
	r := newRegion(t, be, rng, ffi.F32, n)
	if vals != nil {
		r.setF32(t, vals)
	}
	return r
}

// trCheckScaled is trCheck for values made of terms that may cancel:
// ||got - want|| / ||scale||, scale being the size of the terms.
func trCheckScaled(t *testing.T, what string, got []float32, want, scale []float64, tol float64) {
	t.Helper()
	var num, den float64
	for i := range want {
		d := float64(got[i]) - want[i]
		if math.IsNaN(d) || math.IsInf(d, 0) {
			t.Fatalf("%s[%d] = %g", what, i, got[i])
		}
		num, den = num+d*d, den+scale[i]*scale[i]
	}
	if den > 0 && math.Sqrt(num/den) > tol {
		t.Fatalf("%s: error %.3g of the terms' size > %g", what, math.Sqrt(num/den), tol)
	}
}

func trCheck(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if e := relErr(got, want); e > tol {
		t.Fatalf("%s: relative error %.3g > %g", what, e, tol)
	}
}

// trRowShapes pairs row counts with trCols, fewer rows for the widest rows.
func trRowShapes() [][2]int {
	var s [][2]int
	for _, c := range trCols {
		for _, r := range []int{0, 1, 3, 17} {
			if r*c <= 17*768 {
				s = append(s, [2]int{r, c})
			}
		}
	}
	return s
}

// ------------------------------------------------------------- references

// trLayerNorm64 is the float64 layernorm forward: y, mean, rstd.
func trLayerNorm64(x, gamma, beta []float32, rows, cols int, eps float32) (y, mean, rstd []float64) {
	y, mean, rstd = make([]float64, rows*cols), make([]float64, rows), make([]float64, rows)
	for r := range rows {
		xs := x[r*cols : (r+1)*cols]
		var mu, ss float64
		for _, v := range xs {
			mu += float64(v)
		}
		mu /= float64(cols)
		for _, v := range xs {
			ss += (float64(v) - mu) * (float64(v) - mu)
		}
		rs := 1 / math.Sqrt(ss/float64(cols)+float64(eps))
		mean[r], rstd[r] = mu, rs
		for c, v := range xs {
			y[r*cols+c] = (float64(v)-mu)*rs*float64(gamma[c]) + float64(beta[c])
		}
	}
	return
}

// trLayerNormBackward64 is the float64 backward from the op's inputs (x and
// the saved mean and rstd): dx, the row sums for dgamma and dbeta, and per
// element the size rstd*(|g| + |mean g| + |xhat mean(g xhat)|) of the terms
// that dx subtracts (they cancel completely for cols = 1, where dx = 0).
func trLayerNormBackward64(dy, x, mean, rstd, gamma []float32, rows, cols int) (dx, scale, dg, db []float64) {
	dx, scale = make([]float64, rows*cols), make([]float64, rows*cols)
	dg, db = make([]float64, cols), make([]float64, cols)
	for r := range rows {
		m, s := float64(mean[r]), float64(rstd[r])
		var sg, sgx float64
		for c := range cols {
			xh := (float64(x[r*cols+c]) - m) * s
			g := float64(dy[r*cols+c]) * float64(gamma[c])
			sg, sgx = sg+g, sgx+g*xh
			dg[c] += float64(dy[r*cols+c]) * xh
			db[c] += float64(dy[r*cols+c])
		}
		for c := range cols {
			xh := (float64(x[r*cols+c]) - m) * s
			g := float64(dy[r*cols+c]) * float64(gamma[c])
			a, b := sg/float64(cols), xh*sgx/float64(cols)
			dx[r*cols+c] = s * (g - a - b)
			scale[r*cols+c] = s * (math.Abs(g) + math.Abs(a) + math.Abs(b))
		}
	}
	return
}

// trGELU64 returns f(x), f'(x) and the size of the terms of f' (which cancel
// at its zero) for the erf GELU or QuickGELU.
func trGELU64(x float64, quick bool) (f, df, dfScale float64) {
	if quick {
		s := 1 / (1 + math.Exp(-1.702*x))
		return x * s, s + 1.702*x*s*(1-s), s + math.Abs(1.702*x*s*(1-s))
	}
	phi := 0.5 * math.Erfc(-x/math.Sqrt2)
	dens := math.Exp(-x*x/2) / math.Sqrt(2*math.Pi)
	return x * phi, phi + x*dens, phi + math.Abs(x*dens)
}

func trSoftmax64(x []float32, rows, cols int) []float64 {
	y := make([]float64, rows*cols)
	for r := range rows {
		m := math.Inf(-1)
		for _, v := range x[r*cols : (r+1)*cols] {
			m = math.Max(m, float64(v))
		}
		var s float64
		for c := range cols {
			y[r*cols+c] = math.Exp(float64(x[r*cols+c]) - m)
			s += y[r*cols+c]
		}
		for c := range cols {
			y[r*cols+c] /= s
		}
	}
	return y
}

// trSoftmaxBackward64 returns dx from the op's input y, and per element the
// size y*(|dy| + |<dy,y>|) of the terms that cancel in dy - <dy,y>.
func trSoftmaxBackward64(y, dy []float32, rows, cols int) (dx, scale []float64) {
	dx, scale = make([]float64, rows*cols), make([]float64, rows*cols)
	for r := range rows {
		var dot float64
		for c := range cols {
			dot += float64(dy[r*cols+c]) * float64(y[r*cols+c])
		}
		for c := range cols {
			i := r*cols + c
			dx[i] = float64(y[i]) * (float64(dy[i]) - dot)
			scale[i] = float64(y[i]) * (math.Abs(float64(dy[i])) + math.Abs(dot))
		}
	}
	return
}

// ------------------------------------------------------------- layernorm
func testTrainLayerNorm(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	const eps = 1e-5
	for i, sh := range trRowShapes() {
		rows, cols, pad := sh[0], sh[1], i%3 // pad 0: ld == cols as well
		t.Run(fmt.Sprintf("%dx%d_pad%d", rows, cols, pad), func(t *testing.T) {
			// An offset mean: the variance must not cancel; every fourth shape
			// has |mean| >> std, where the normalization must not either.
			x, offset := randF32(rng, rows*cols, 2), float32(3)
			if i%4 == 3 {
				offset = 1000
			}
			for j := range x {
				x[j] += offset
			}
			gamma, beta := randF32(rng, cols, 1.5), randF32(rng, cols, 0.5)
			xm := newTrMat(t, be, rng, rows, cols, pad, x)
			ym := newTrMat(t, be, rng, rows, cols, pad, nil)
			g, b := newTrVec(t, be, rng, cols, gamma), newTrVec(t, be, rng, cols, beta)
			mr, rr := newTrVec(t, be, rng, rows, nil), newTrVec(t, be, rng, rows, nil)
			if err := tr.LayerNormForward(rows, cols, xm.Mat(), g.View, b.View, eps, ym.Mat(), mr.View, rr.View); err != nil {
				t.Fatal(err)
			}
			wy, wm, wr := trLayerNorm64(x, gamma, beta, rows, cols, eps)
			trCheck(t, "y", ym.read(t), wy, trTol)
			mean, rstd := mr.F32(t), rr.F32(t)
			trCheck(t, "mean", mean, wm, trTol)
			trCheck(t, "rstd", rstd, wr, trTol)

			dy := randF32(rng, rows*cols, 1)
			dg0, db0 := randF32(rng, cols, 1), randF32(rng, cols, 1)
			dym := newTrMat(t, be, rng, rows, cols, pad, dy)
			dxm := newTrMat(t, be, rng, rows, cols, pad, nil)
			dg, db := newTrVec(t, be, rng, cols, dg0), newTrVec(t, be, rng, cols, db0)
			if err := tr.LayerNormBackward(rows, cols, dym.Mat(), xm.Mat(), mr.View, rr.View, g.View, dxm.Mat(), false, dg.View, db.View); err != nil {
				t.Fatal(err)
			}
			wdx, wsc, wdg, wdb := trLayerNormBackward64(dy, x, mean, rstd, gamma, rows, cols)
			for c := range cols {
				wdg[c] += float64(dg0[c])
				wdb[c] += float64(db0[c])
			}
			trCheckScaled(t, "dx", dxm.read(t), wdx, wsc, trTol)
			trCheck(t, "dgamma", dg.F32(t), wdg, trTol)
			trCheck(t, "dbeta", db.F32(t), wdb, trTol)

			// accumulate, no parameter gradients: dx += the same gradient again.
			if err := tr.LayerNormBackward(rows, cols, dym.Mat(), xm.Mat(), mr.View, rr.View, g.View, dxm.Mat(), true, ffi.Vec{}, ffi.Vec{}); err != nil {
				t.Fatal(err)
			}
			for j := range wdx {
				wdx[j], wsc[j] = 2*wdx[j], 2*wsc[j]
			}
			trCheckScaled(t, "dx accumulated", dxm.read(t), wdx, wsc, trTol)

			// in place, without the statistics: y = x.
			if err := tr.LayerNormForward(rows, cols, xm.Mat(), g.View, b.View, eps, xm.Mat(), ffi.Vec{}, ffi.Vec{}); err != nil {
				t.Fatal(err)
			}
			trCheck(t, "y in place", xm.read(t), wy, trTol)
		})
	}
}

// ------------------------------------------------------------------ GELU
func testTrainGELU(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	for _, quick := range []bool{false, true} {
		for _, n := range testSizes {
			t.Run(fmt.Sprintf("quick=%v/%d", quick, n), func(t *testing.T) {
				x, dy := randF32(rng, n, 6), randF32(rng, n, 1)
				xr, dyr := newTrVec(t, be, rng, n, x), newTrVec(t, be, rng, n, dy)
				yr, dxr := newTrVec(t, be, rng, n, nil), newTrVec(t, be, rng, n, nil)
				if err := tr.GELUForward(xr.View, yr.View, quick); err != nil {
					t.Fatal(err)
				}
				if err := tr.GELUBackward(xr.View, dyr.View, dxr.View, quick); err != nil {
					t.Fatal(err)
				}
				y, dx := yr.F32(t), dxr.F32(t)
				wy, wdx := make([]float64, n), make([]float64, n)
				for i, v := range x {
					f, df, scale := trGELU64(float64(v), quick)
					wy[i], wdx[i] = f, float64(dy[i])*df
					trGELUElem(t, "y", v, y[i], f, math.Abs(f))
					trGELUElem(t, "dx", v, dx[i], wdx[i], math.Abs(float64(dy[i]))*scale)
				}
				trCheck(t, "y", y, wy, trTol)
				trCheck(t, "dx", dx, wdx, trTol)
			})
		}
	}
}

// testTrainGELUSweep checks every value on a dense grid of [-15, 15],
// through the far negative tail where f is tiny but must stay accurate.
func testTrainGELUSweep(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	const n = 30001
	x, ones := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], ones[i] = -15+30*float32(i)/(n-1), 1
	}
	for _, quick := range []bool{false, true} {
		xr, onesr := newTrVec(t, be, rng, n, x), newTrVec(t, be, rng, n, ones)
		yr, dr := newTrVec(t, be, rng, n, nil), newTrVec(t, be, rng, n, nil)
		if err := tr.GELUForward(xr.View, yr.View, quick); err != nil {
			t.Fatal(err)
		}
		if err := tr.GELUBackward(xr.View, onesr.View, dr.View, quick); err != nil {
			t.Fatal(err)
		}
		y, d := yr.F32(t), dr.F32(t)
		for i, v := range x {
			f, df, scale := trGELU64(float64(v), quick)
			trGELUElem(t, fmt.Sprintf("quick=%v f", quick), v, y[i], f, math.Abs(f))
			trGELUElem(t, fmt.Sprintf("quick=%v f'", quick), v, d[i], df, scale)
		}
	}
}

// trGELUElem fails unless |got - want| <= trGELUElemTol * scale (plus the
// spacing of fp32 subnormals, where results below FLT_MIN lose bits).
func trGELUElem(t *testing.T, what string, x, got float32, want, scale float64) {
	if d := math.Abs(float64(got) - want); !(d <= trGELUElemTol*scale+1e-37) {
		t.Helper()
		t.Fatalf("%s(%g) = %g, want %g (error %.3g of scale %.3g)", what, x, got, want, d, scale)
	}
}

// --------------------------------------------------------------- softmax
func testTrainSoftmax(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	shapes := append(trRowShapes(), [2]int{600, 50}, [2]int{64, 197}) // attention-like
	for i, sh := range shapes {
		rows, cols, pad := sh[0], sh[1], i%3
		t.Run(fmt.Sprintf("%dx%d_pad%d", rows, cols, pad), func(t *testing.T) {
			x := randF32(rng, rows*cols, 8)
			if rows > 0 && cols > 2 {
				x[1] = float32(math.Inf(-1)) // a masked entry: probability 0
			}
			xm := newTrMat(t, be, rng, rows, cols, pad, x)
			ym := newTrMat(t, be, rng, rows, cols, pad, nil)
			if err := tr.SoftmaxForward(rows, cols, xm.Mat(), ym.Mat()); err != nil {
				t.Fatal(err)
			}
			y := ym.read(t)
			trCheck(t, "y", y, trSoftmax64(x, rows, cols), trTol)

			dy := randF32(rng, rows*cols, 1)
			dym := newTrMat(t, be, rng, rows, cols, pad, dy)
			dxm := newTrMat(t, be, rng, rows, cols, pad, nil)
			if err := tr.SoftmaxBackward(rows, cols, ym.Mat(), dym.Mat(), dxm.Mat()); err != nil {
				t.Fatal(err)
			}
			// dy - <dy,y> cancels where one probability dominates a row, so the
			// error is measured against the size of the terms, not of dx.
			want, scale := trSoftmaxBackward64(y, dy, rows, cols)
			got := dxm.read(t)
			trCheckScaled(t, "dx", got, want, scale, trTol)

			// in place: y = x, then dx = dy.
			if err := tr.SoftmaxForward(rows, cols, xm.Mat(), xm.Mat()); err != nil {
				t.Fatal(err)
			}
			if got := xm.read(t); rows > 0 && relErr(got, trF64(y)) > 1e-6 {
				t.Fatalf("in-place forward differs: %.3g", relErr(got, trF64(y)))
			}
			if err := tr.SoftmaxBackward(rows, cols, ym.Mat(), dym.Mat(), dym.Mat()); err != nil {
				t.Fatal(err)
			}
			if got2 := dym.read(t); relErr(got2, trF64(got)) > 1e-6 {
				t.Fatalf("in-place backward differs: %.3g", relErr(got2, trF64(got)))
			}
		})
	}
}

func trF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// ------------------------------------------------------------------ bias
func testTrainBias(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	shapes := append(trRowShapes(), [2]int{1000, 65}, [2]int{5, 0})
	for i, sh := range shapes {
		rows, cols, pad := sh[0], sh[1], i%3
		t.Run(fmt.Sprintf("%dx%d_pad%d", rows, cols, pad), func(t *testing.T) {
			y, bias, db0 := randF32(rng, rows*cols, 1), randF32(rng, cols, 1), randF32(rng, cols, 1)
			ym := newTrMat(t, be, rng, rows, cols, pad, y)
			b, db := newTrVec(t, be, rng, cols, bias), newTrVec(t, be, rng, cols, db0)
			if err := tr.BiasGrad(rows, cols, ym.Mat(), db.View); err != nil {
				t.Fatal(err)
			}
			if err := tr.BiasAdd(rows, cols, ym.Mat(), b.View); err != nil {
				t.Fatal(err)
			}
			wy, wdb := make([]float64, rows*cols), trF64(db0)
			for j, v := range y {
				wy[j] = float64(v) + float64(bias[j%cols])
				wdb[j%cols] += float64(v)
			}
			trCheck(t, "y", ym.read(t), wy, 1e-6)
			trCheck(t, "db", db.F32(t), wdb, trTol)
		})
	}
}

// ------------------------------------------------------------------ Adam
func testTrainAdam(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	for _, n := range []int{0, 1, 7, 17, 64, 1000, 65537, 200003} {
		for _, anchor := range []float32{0, 0.5} {
			t.Run(fmt.Sprintf("%d_anchor%g", n, anchor), func(t *testing.T) {
				trAdamSteps(t, be, tr, rng, n, anchor)
			})
		}
	}
}

// trAdamSteps runs four Adam steps, the clip scale from AnchoredGradSumSq as a
// caller computes it, against float64 references for the sum of squares, m, v
// and each step's update (from the backend's own theta, so errors do not
// compound). The student stays within 0.01 of its init, as in DisTaC: far
// apart, grad + anchor can cancel to ~1e-6 in fp32, and Adam's first step
// (~ lr * g / (|g| + eps)) would turn that rounding into a visible error.
func trAdamSteps(t *testing.T, be ffi.Backend, tr ffi.Trainer, rng *rand.Rand, n int, anchor float32) {
	theta := randF32(rng, n, 1)
	init := randF32(rng, n, 0.01)
	for i := range init {
		init[i] += theta[i]
	}
	thr, initr := newTrVec(t, be, rng, n, theta), newTrVec(t, be, rng, n, init)
	mr, vr := newTrVec(t, be, rng, n, make([]float32, n)), newTrVec(t, be, rng, n, make([]float32, n))
	m64, v64 := make([]float64, n), make([]float64, n)
	p := ffi.AdamParams{LR: 0.05, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Anchor: anchor}
	initView := initr.View
	if anchor == 0 {
		initView = ffi.Vec{} // not read: may be none
	}
	for step := 1; step <= 4; step++ {
		grad := randF32(rng, n, 1)
		gr := newTrVec(t, be, rng, n, grad)
		th0 := thr.F32(t)
		g64 := make([]float64, n)
		var ss64 float64
		for i := range g64 {
			g64[i] = float64(grad[i]) + 2*float64(anchor)*(float64(th0[i])-float64(init[i]))
			ss64 += g64[i] * g64[i]
		}
		ss, err := tr.AnchoredGradSumSq(gr.View, thr.View, initView, anchor)
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(ss - ss64); d > trTol*ss64 || math.IsNaN(ss) {
			t.Fatalf("step %d: sumsq %g, want %g", step, ss, ss64)
		}
		p.Step, p.ClipScale = step, 1
		if ss64 > 0 {
			p.ClipScale = float32(min(1, 0.5*math.Sqrt(float64(n))/math.Sqrt(ss))) // clipping on
		}
		if err := tr.AdamStep(thr.View, gr.View, mr.View, vr.View, initView, p); err != nil {
			t.Fatal(err)
		}
		bc1 := 1 - math.Pow(float64(p.Beta1), float64(step))
		bc2 := 1 - math.Pow(float64(p.Beta2), float64(step))
		// The moments are sums of terms that may cancel (m), so their error
		// is measured against the size of the terms, and the update's
		// against the update those terms make; the new theta may also carry
		// the rounding of its one fp32 store, which is no error of the step.
		upd, updScale, mScale := make([]float64, n), make([]float64, n), make([]float64, n)
		th := thr.F32(t)
		var num, den float64
		for i := range g64 {
			g := float64(p.ClipScale) * g64[i]
			mScale[i] = math.Abs(float64(p.Beta1)*m64[i]) + math.Abs((1-float64(p.Beta1))*g)
			m64[i] = float64(p.Beta1)*m64[i] + (1-float64(p.Beta1))*g
			v64[i] = float64(p.Beta2)*v64[i] + (1-float64(p.Beta2))*g*g
			d := math.Sqrt(v64[i])/math.Sqrt(bc2) + float64(p.Eps)
			upd[i] = -float64(p.LR) / bc1 * m64[i] / d
			updScale[i] = float64(p.LR) / bc1 * mScale[i] / d
			store := float64(math.Nextafter32(th[i], float32(math.Inf(1))) - th[i]) // one ulp of theta
			e := max(0, math.Abs(float64(th[i])-(float64(th0[i])+upd[i]))-store)
			num, den = num+e*e, den+updScale[i]*updScale[i]
		}
		mGot, vGot := mr.F32(t), vr.F32(t)
		trCheckScaled(t, fmt.Sprintf("step %d m", step), mGot, m64, mScale, trTol)
		trCheck(t, fmt.Sprintf("step %d v", step), vGot, v64, trTol)
		if den > 0 && !(math.Sqrt(num/den) <= trTol) {
			t.Fatalf("step %d update: error %.3g of its size > %g", step, math.Sqrt(num/den), trTol)
		}
		// The next step starts from the moments as stored (fp32), so each
		// step is checked on its own and rounding does not pile up: with few
		// entries a moment that nearly cancels would otherwise carry the
		// earlier steps' rounding as a large relative error.
		for i := range m64 {
			m64[i], v64[i] = float64(mGot[i]), float64(vGot[i])
		}
	}
}

// -------------------------------------------------- thread-count independence

// testTrainAccumulatorsThreads: dgamma, dbeta, db and the anchored sum of
// squares must have the same bits for 1, 2 and 3 threads (the shapes are big
// enough for the kernels to use 3).
func testTrainAccumulatorsThreads(t *testing.T, be0 ffi.Backend) {
	const rows, cols, n = 2000, 65, 3*65536 + 77
	rng := newRNG(t)
	x, dy, gamma := randF32(rng, rows*cols, 1), randF32(rng, rows*cols, 1), randF32(rng, cols, 1)
	grad, theta, init := randF32(rng, n, 1), randF32(rng, n, 1), randF32(rng, n, 1)
	var first [][]float32
	var firstSS float64
	for threads := 1; threads <= 3; threads++ {
		be := trainer(t, withThreads(t, be0, threads))
		xm, dym := newTrMat(t, be, rng, rows, cols, 1, x), newTrMat(t, be, rng, rows, cols, 1, dy)
		dxm, ym := newTrMat(t, be, rng, rows, cols, 1, nil), newTrMat(t, be, rng, rows, cols, 1, nil)
		g, b := newTrVec(t, be, rng, cols, gamma), newTrVec(t, be, rng, cols, make([]float32, cols))
		mr, rr := newTrVec(t, be, rng, rows, nil), newTrVec(t, be, rng, rows, nil)
		dg, db, dbias := newTrVec(t, be, rng, cols, make([]float32, cols)), newTrVec(t, be, rng, cols, make([]float32, cols)), newTrVec(t, be, rng, cols, make([]float32, cols))
		if err := be.LayerNormForward(rows, cols, xm.Mat(), g.View, b.View, 1e-5, ym.Mat(), mr.View, rr.View); err != nil {
			t.Fatal(err)
		}
		if err := be.LayerNormBackward(rows, cols, dym.Mat(), xm.Mat(), mr.View, rr.View, g.View, dxm.Mat(), false, dg.View, db.View); err != nil {
			t.Fatal(err)
		}
		if err := be.BiasGrad(rows, cols, dym.Mat(), dbias.View); err != nil {
			t.Fatal(err)
		}
		gr, thr, ir := newTrVec(t, be, rng, n, grad), newTrVec(t, be, rng, n, theta), newTrVec(t, be, rng, n, init)
		ss, err := be.AnchoredGradSumSq(gr.View, thr.View, ir.View, 0.3)
		if err != nil {
			t.Fatal(err)
		}
		got := [][]float32{dg.F32(t), db.F32(t), dbias.F32(t)}
		if threads == 1 {
			first, firstSS = got, ss
			continue
		}
		for k, name := range []string{"dgamma", "dbeta", "db"} {
			for c := range cols {
				if math.Float32bits(got[k][c]) != math.Float32bits(first[k][c]) {
					t.Fatalf("%s[%d] with %d threads: %g, with 1: %g", name, c, threads, got[k][c], first[k][c])
				}
			}
		}
		if math.Float64bits(ss) != math.Float64bits(firstSS) {
			t.Fatalf("anchored sumsq with %d threads: %v, with 1: %v", threads, ss, firstSS)
		}
	}
}
