package conformance

// Conformance of the fused losses (KLDistill, CrossEntropyLS) on every backend
// against float64 references written here, independently of the Ref backend.

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/distac/distac/ffi"
)

// lossLogSoftmax64 returns z/t - logsumexp(z/t) in float64.
func lossLogSoftmax64(z []float32, t float64) []float64 {
	out := make([]float64, len(z))
	m := math.Inf(-1)
	for j, v := range z {
		out[j] = float64(v) / t
		m = math.Max(m, out[j])
	}
	var s float64
	for _, a := range out {
		s += math.Exp(a - m)
	}
	lse := m + math.Log(s)
	for j := range out {
		out[j] -= lse
	}
	return out
}

// klWant is the loss and dense gradient of the KL distillation per the header.
func klWant(rows, cols, ld int, zt, zs []float32, tt, ts float32) (float64, []float64) {
	grad := make([]float64, rows*cols)
	var sum float64
	for r := 0; r < rows; r++ {
		lp := lossLogSoftmax64(zt[r*ld:r*ld+cols], float64(tt))
		lq := lossLogSoftmax64(zs[r*ld:r*ld+cols], float64(ts))
		for j := range lp {
			p, q := math.Exp(lp[j]), math.Exp(lq[j])
			sum += p * (lp[j] - lq[j])
			grad[r*cols+j] = float64(tt) / float64(rows) * (q - p)
		}
	}
	return float64(tt) * float64(ts) / float64(rows) * sum, grad
}

// xentWant is the loss and dense gradient of label-smoothed cross-entropy.
func xentWant(rows, cols, ld int, z []float32, labels []int32, eps float32) (float64, []float64) {
	grad := make([]float64, rows*cols)
	var sum float64
	for r := 0; r < rows; r++ {
		ls := lossLogSoftmax64(z[r*ld:r*ld+cols], 1)
		for j, v := range ls {
			y := float64(eps) / float64(cols)
			if j == int(labels[r]) {
				y += 1 - float64(eps)
			}
			sum -= y * v
			grad[r*cols+j] = (math.Exp(v) - y) / float64(rows)
		}
	}
	return sum / float64(rows), grad
}

// lossLogits returns a rows x cols matrix with leading dimension ld, uniform in
// [-scale, scale); the gaps between rows hold NaN, so reading them shows.
func lossLogits(rng *rand.Rand, rows, cols, ld int, scale float32) []float32 {
	x := randF32(rng, (rows-1)*ld+cols, scale)
	for r := 0; r+1 < rows; r++ {
		for j := cols; j < ld; j++ {
			x[r*ld+j] = float32(math.NaN())
		}
	}
	return x
}

// lossMat uploads x as a rows x cols matrix (leading dimension ld) at an
// unaligned offset between guards.
func lossMat(t *testing.T, be ffi.Backend, rng *rand.Rand, x []float32, ld int) ffi.Mat {
	t.Helper()
	r := newRegion(t, be, rng, ffi.F32, len(x))
	r.setF32(t, x)
	return r.Mat(ld)
}

// lossGrad is an output matrix region, NaN-poisoned.
func lossGrad(t *testing.T, be ffi.Backend, rng *rand.Rand, rows, cols, ld int) *region {
	return newRegion(t, be, rng, ffi.F32, (rows-1)*ld+cols)
}

// lossReadMat returns the rows x cols entries of an output region, failing if a
// guard or a gap between rows was written.
func lossReadMat(t *testing.T, g *region, rows, cols, ld int) []float32 {
	t.Helper()
	all := g.F32(t)
	out := make([]float32, 0, rows*cols)
	for r := 0; r < rows; r++ {
		out = append(out, all[r*ld:r*ld+cols]...)
		if r+1 < rows {
			for j := cols; j < ld; j++ {
				if math.Float32bits(all[r*ld+j]) != guardNaN {
					t.Fatalf("gap element (%d, %d) written", r, j)
				}
			}
		}
	}
	return out
}

// lossUntouched fails if anything in the region changed from the poison.
func lossUntouched(t *testing.T, g *region) {
	t.Helper()
	for i, v := range g.F32(t) {
		if math.Float32bits(v) != guardNaN {
			t.Fatalf("element %d written by a failed call", i)
		}
	}
}

type klCase struct {
	rows, cols, ld, ldg int
	tt, ts, scale       float32
}

var klCases = []klCase{
	{1, 1, 1, 1, 1, 1, 1}, {1, 2, 2, 2, 10, 10, 5}, {3, 7, 7, 7, 2.5, 0.7, 4},
	{17, 10, 10, 10, 1, 10, 8}, {128, 10, 10, 10, 10, 10, 20}, {64, 1000, 1000, 1000, 2.5, 0.7, 10},
	{8, 32000, 32000, 32000, 1, 10, 10}, {5, 1023, 1025, 1023, 10, 10, 6}, {3, 1025, 1025, 1031, 1, 10, 3},
	{11, 33, 40, 37, 2.5, 0.7, 5}, {2, 3001, 3001, 3001, 1, 1, 7},
	{17, 10, 12, 10, 1, 10, 1e4}, {64, 1000, 1000, 1003, 2.5, 0.7, 1e4}, {9, 2049, 2049, 2049, 10, 10, 1e4},
	{64, 20011, 20011, 20013, 10, 10, 5}, // > 4 MiB of gradient: the non-temporal store path
}

// checkLoss checks a loss kernel's results for case c: the loss within 1e-5
// (lossErr, as the kernel's test measures it), the loss-only call's loss the
// same bits, the gradient within 1e-5 relative.
func checkLoss(t *testing.T, c any, loss, lossOnly, want, lossErr float64, grad []float32, wantGrad []float64) {
	t.Helper()
	if !(lossErr <= 1e-5) {
		t.Errorf("%+v: loss %v, want %v (err %.3g)", c, loss, want, lossErr)
	}
	if lossOnly != loss {
		t.Errorf("%+v: loss without grad %v != %v with grad", c, lossOnly, loss)
	}
	if e := relErr(grad, wantGrad); !(e <= 1e-5) {
		t.Errorf("%+v: grad rel err %.3g", c, e)
	}
}

// klLossErr is the loss error relative to |want| + 0.1*Tt*Ts: relative 1e-5,
// with an absolute floor, since for nearby distributions the KL is a
// difference of O(1) float32 terms and any float32 kernel is off by ~1e-7
// per unit of KL (the loss carries the factor Tt*Ts).
func klLossErr(got, want float64, tt, ts float32) float64 {
	return math.Abs(got-want) / (math.Abs(want) + 0.1*float64(tt)*float64(ts))
}

func testKLDistill(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	for _, c := range klCases {
		zt := lossLogits(rng, c.rows, c.cols, c.ld, c.scale)
		zs := lossLogits(rng, c.rows, c.cols, c.ld, c.scale)
		wl, wg := klWant(c.rows, c.cols, c.ld, zt, zs, c.tt, c.ts)
		mt, ms := lossMat(t, be, rng, zt, c.ld), lossMat(t, be, rng, zs, c.ld)
		g := lossGrad(t, be, rng, c.rows, c.cols, c.ldg)
		loss, err := be.KLDistill(c.rows, c.cols, mt, ms, c.tt, c.ts, g.Mat(c.ldg))
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		lossOnly, err := be.KLDistill(c.rows, c.cols, mt, ms, c.tt, c.ts, ffi.Mat{})
		if err != nil {
			t.Fatalf("%+v loss only: %v", c, err)
		}
		checkLoss(t, c, loss, lossOnly, wl, klLossErr(loss, wl, c.tt, c.ts), lossReadMat(t, g, c.rows, c.cols, c.ldg), wg)
	}
}

// Identical teacher and student at one temperature: loss and gradient ~0.
func testKLDistillIdentical(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	for _, c := range []klCase{{4, 3000, 3000, 3000, 10, 10, 30}, {6, 77, 80, 77, 1, 1, 1e4}} {
		z := lossLogits(rng, c.rows, c.cols, c.ld, c.scale)
		mz := lossMat(t, be, rng, z, c.ld)
		g := lossGrad(t, be, rng, c.rows, c.cols, c.ldg)
		loss, err := be.KLDistill(c.rows, c.cols, mz, mz, c.tt, c.ts, g.Mat(c.ldg))
		if err != nil {
			t.Fatal(err)
		}
		// Exactly 0, not nearly: a student that equals its teacher must not
		// move (Adam turns a 1e-9 gradient into a full step).
		if loss != 0 {
			t.Errorf("%+v: loss %v, want 0", c, loss)
		}
		nonzero := 0
		for _, v := range lossReadMat(t, g, c.rows, c.cols, c.ldg) {
			if v != 0 {
				nonzero++
			}
		}
		if nonzero != 0 {
			t.Errorf("%+v: %d of %d gradient entries are not 0", c, nonzero, c.rows*c.cols)
		}
	}
}

// NaN, +Inf or -Inf anywhere in either matrix makes the loss NaN.
func testKLDistillNonFinite(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	const rows, cols = 3, 1100
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for _, student := range []bool{false, true} {
			for _, at := range []int{0, 17, 1030, 1099} {
				zt, zs := lossLogits(rng, rows, cols, cols, 3), lossLogits(rng, rows, cols, cols, 3)
				if student {
					zs[cols+at] = float32(bad)
				} else {
					zt[cols+at] = float32(bad)
				}
				g := lossGrad(t, be, rng, rows, cols, cols)
				loss, err := be.KLDistill(rows, cols, lossMat(t, be, rng, zt, cols),
					lossMat(t, be, rng, zs, cols), 2, 3, g.Mat(cols))
				if err != nil {
					t.Fatal(err)
				}
				if !math.IsNaN(loss) {
					t.Errorf("%v in %s column %d: loss %v, want NaN", bad, map[bool]string{false: "teacher", true: "student"}[student], at, loss)
				}
			}
		}
	}
}

// Bad arguments fail with an error that names the problem and write nothing.
func testKLDistillInvalid(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	const rows, cols = 3, 5
	z := lossMat(t, be, rng, lossLogits(rng, rows, cols, cols, 1), cols)
	g := lossGrad(t, be, rng, rows, cols, cols)
	short := ffi.Mat{Buf: z.Buf, Off: z.Off, LD: cols - 1}
	i32, err := be.Alloc(ffi.I32, rows*cols)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Free(i32)
	for _, c := range []struct {
		name       string
		rows, cols int
		zt, zs     ffi.Mat
		tt, ts     float32
		grad       ffi.Mat
		want       string
	}{
		{"zero teacher temperature", rows, cols, z, z, 0, 1, g.Mat(cols), "temperature"},
		{"negative student temperature", rows, cols, z, z, 1, -1, g.Mat(cols), "temperature"},
		{"NaN temperature", rows, cols, z, z, float32(math.NaN()), 1, g.Mat(cols), "temperature"},
		{"Inf temperature", rows, cols, z, z, 1, float32(math.Inf(1)), g.Mat(cols), "temperature"},
		{"no rows", 0, cols, z, z, 1, 1, g.Mat(cols), "shape"},
		{"no cols", rows, 0, z, z, 1, 1, g.Mat(cols), "shape"},
		{"short teacher ld", rows, cols, short, z, 1, 1, g.Mat(cols), "teacher logits: leading dimension"},
		{"short student ld", rows, cols, z, short, 1, 1, g.Mat(cols), "student logits: leading dimension"},
		{"short grad ld", rows, cols, z, z, 1, 1, g.Mat(cols - 1), "grad: leading dimension"},
		{"rows overrun the buffers", 100, cols, z, z, 1, 1, g.Mat(cols), "overruns"},
		{"i32 logits", rows, cols, ffi.Mat{Buf: i32, LD: cols}, z, 1, 1, g.Mat(cols), "dtype"},
		{"nil teacher", rows, cols, ffi.Mat{LD: cols}, z, 1, 1, g.Mat(cols), "nil buffer"},
	} {
		_, err := be.KLDistill(c.rows, c.cols, c.zt, c.zs, c.tt, c.ts, c.grad)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	lossUntouched(t, g)
}

// The loss does not depend on the thread count, to the bit.
func testKLDistillThreads(t *testing.T, be0 ffi.Backend) {
	rng := newRNG(t)
	const rows, cols = 64, 5000 // enough work for two threads
	zt, zs := lossLogits(rng, rows, cols, cols, 8), lossLogits(rng, rows, cols, cols, 8)
	var first float64
	for i, threads := range []int{1, 2, 3, 0} {
		be := withThreads(t, be0, threads)
		loss, err := be.KLDistill(rows, cols, lossMat(t, be, rng, zt, cols), lossMat(t, be, rng, zs, cols), 2.5, 0.7, ffi.Mat{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = loss
		} else if loss != first {
			t.Errorf("%s with %d threads: loss %v, with 1: %v", be.Name(), threads, loss, first)
		}
	}
}

// The gradient matches central differences of the reference backend's loss
// (float64 throughout; the steps are exact in float32): an independent
// derivative of the definition, which a float32 loss is too coarse for.
func testKLDistillFiniteDifference(t *testing.T, be ffi.Backend) {
	rng, ref := newRNG(t), ffi.NewRef()
	const rows, cols, h = 2, 5, 1.0 / 1024
	zt, zs := make([]float32, rows*cols), make([]float32, rows*cols)
	for i := range zt { // multiples of 1/1024, so z +- h is exact
		zt[i] = float32(rng.IntN(4096)-2048) / 1024
		zs[i] = float32(rng.IntN(4096)-2048) / 1024
	}
	const tt, ts = 2.5, 0.7
	mt := lossMat(t, be, rng, zt, cols)
	g := lossGrad(t, be, rng, rows, cols, cols)
	if _, err := be.KLDistill(rows, cols, mt, lossMat(t, be, rng, zs, cols), tt, ts, g.Mat(cols)); err != nil {
		t.Fatal(err)
	}
	grad := lossReadMat(t, g, rows, cols, cols)
	fd := make([]float64, rows*cols)
	for i := range zs {
		var l [2]float64
		for k, d := range []float32{h, -h} {
			p := append([]float32(nil), zs...)
			p[i] += d
			loss, err := ref.KLDistill(rows, cols, lossMat(t, ref, rng, zt, cols), lossMat(t, ref, rng, p, cols), tt, ts, ffi.Mat{})
			if err != nil {
				t.Fatal(err)
			}
			l[k] = loss
		}
		fd[i] = (l[0] - l[1]) / (2 * h)
	}
	if e := relErr(grad, fd); !(e <= 1e-5) {
		t.Errorf("gradient vs central differences: rel err %.3g\n got %v\nwant %v", e, grad, fd)
	}
}

type xentCase struct {
	rows, cols, ld, ldg int
	eps, scale          float32
}

func testCrossEntropyLS(t *testing.T, be ffi.Backend) {
	cases := []xentCase{
		{1, 1, 1, 1, 0.1, 1}, {1, 2, 2, 2, 0, 5}, {3, 7, 7, 9, 0.1, 4}, {17, 10, 13, 11, 1, 8},
		{128, 10, 10, 10, 0.1, 5}, {64, 1000, 1000, 1000, 0.1, 10}, {8, 32000, 32000, 32000, 0.1, 10},
		{5, 2047, 2047, 2050, 0.1, 6}, {3, 2049, 2049, 2051, 0, 3},
		{17, 10, 10, 10, 0.1, 1e4}, {9, 3001, 3001, 3005, 0, 1e4},
		{64, 20011, 20011, 20013, 0.1, 5}, // non-temporal stores
	}
	rng := newRNG(t)
	for _, c := range cases {
		z := lossLogits(rng, c.rows, c.cols, c.ld, c.scale)
		labels := make([]int32, c.rows)
		for r := range labels {
			labels[r] = int32(rng.IntN(c.cols))
		}
		labels[c.rows-1] = int32(c.cols - 1) // the last column, in a vector tail
		wl, wg := xentWant(c.rows, c.cols, c.ld, z, labels, c.eps)
		lr := newRegion(t, be, rng, ffi.I32, c.rows)
		lr.set(t, ffi.I32Bytes(labels))
		g := lossGrad(t, be, rng, c.rows, c.cols, c.ldg)
		mz := lossMat(t, be, rng, z, c.ld)
		loss, err := be.CrossEntropyLS(c.rows, c.cols, mz, lr.View, c.eps, g.Mat(c.ldg))
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		lossOnly, err := be.CrossEntropyLS(c.rows, c.cols, mz, lr.View, c.eps, ffi.Mat{})
		if err != nil {
			t.Fatalf("%+v loss only: %v", c, err)
		}
		// relative 1e-5; a loss near 0 (a confident right answer) gets an absolute 1e-8
		lossErr := math.Abs(loss-wl) / math.Max(math.Abs(wl), 1e-3)
		checkLoss(t, c, loss, lossOnly, wl, lossErr, lossReadMat(t, g, c.rows, c.cols, c.ldg), wg)
	}
}

func testCrossEntropyLSNonFinite(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	const rows, cols = 3, 2100
	lr := newRegion(t, be, rng, ffi.I32, rows)
	lr.set(t, ffi.I32Bytes([]int32{0, 5, cols - 1}))
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for _, eps := range []float32{0, 0.1} {
			for _, at := range []int{0, 9, 2050, 2099} {
				z := lossLogits(rng, rows, cols, cols, 3)
				z[cols+at] = float32(bad)
				loss, err := be.CrossEntropyLS(rows, cols, lossMat(t, be, rng, z, cols), lr.View, eps, ffi.Mat{})
				if err != nil {
					t.Fatal(err)
				}
				if !math.IsNaN(loss) {
					t.Errorf("%v at column %d, eps %v: loss %v, want NaN", bad, at, eps, loss)
				}
			}
		}
	}
}

func testCrossEntropyLSInvalid(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	const rows, cols = 3, 5
	z := lossMat(t, be, rng, lossLogits(rng, rows, cols, cols, 1), cols)
	g := lossGrad(t, be, rng, rows, cols, cols)
	labelVec := func(ls ...int32) ffi.Vec {
		r := newRegion(t, be, rng, ffi.I32, len(ls))
		r.set(t, ffi.I32Bytes(ls))
		return r.View
	}
	good := labelVec(0, 4, 2)
	for _, c := range []struct {
		name   string
		rows   int
		labels ffi.Vec
		eps    float32
		grad   ffi.Mat
		want   string
	}{
		{"negative label", rows, labelVec(0, -1, 2), 0.1, g.Mat(cols), "label[1] = -1"},
		{"label = cols", rows, labelVec(0, 1, cols), 0.1, g.Mat(cols), "label[2] = 5"},
		{"short labels", rows, labelVec(0, 1), 0.1, g.Mat(cols), "length 2, want 3"},
		{"f32 labels", rows, ffi.Vec{Buf: z.Buf, Off: z.Off, N: rows}, 0.1, g.Mat(cols), "dtype"},
		{"eps < 0", rows, good, -0.1, g.Mat(cols), "label smoothing"},
		{"eps > 1", rows, good, 1.5, g.Mat(cols), "label smoothing"},
		{"NaN eps", rows, good, float32(math.NaN()), g.Mat(cols), "label smoothing"},
		{"no rows", 0, labelVec(), 0.1, g.Mat(cols), "shape"},
		{"short grad ld", rows, good, 0.1, g.Mat(cols - 1), "grad: leading dimension"},
	} {
		_, err := be.CrossEntropyLS(c.rows, cols, z, c.labels, c.eps, c.grad)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	lossUntouched(t, g)
}
