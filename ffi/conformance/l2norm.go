package conformance

// Conformance of row L2 normalization and Zero on every backend: float64
// references written here, rows clamped by eps, rows whose squares overflow
// fp32, in-place forms, a finite-difference check of the backward through the
// reference backend, and bad arguments that must write nothing.

import (
	"fmt"
	"math"
	"testing"

	"github.com/distac/distac/ffi"
)

// trL2Norm64 is the float64 forward: y and the row norms.
func trL2Norm64(x []float32, rows, cols int, eps float32) (y, norm []float64) {
	y, norm = make([]float64, rows*cols), make([]float64, rows)
	for r := range rows {
		var ss float64
		for _, v := range x[r*cols : (r+1)*cols] {
			ss += float64(v) * float64(v)
		}
		norm[r] = math.Sqrt(ss)
		d := math.Max(norm[r], float64(eps))
		for c := range cols {
			y[r*cols+c] = float64(x[r*cols+c]) / d
		}
	}
	return y, norm
}

// trL2NormBackward64 is the float64 backward from the op's y and norm, and
// per element the size (|dy| + |y <dy,y>|) / d of the terms that cancel.
func trL2NormBackward64(dy, y, norm []float32, rows, cols int, eps float32) (dx, size []float64) {
	dx, size = make([]float64, rows*cols), make([]float64, rows*cols)
	for r := range rows {
		n := float64(norm[r])
		var dot float64
		for c := range cols {
			dot += float64(dy[r*cols+c]) * float64(y[r*cols+c])
		}
		for c := range cols {
			i := r*cols + c
			g, yc := float64(dy[i]), float64(y[i])
			if n > float64(eps) {
				dx[i], size[i] = (g-yc*dot)/n, (math.Abs(g)+math.Abs(yc*dot))/n
			} else {
				dx[i], size[i] = g/float64(eps), math.Abs(g)/float64(eps)
			}
		}
	}
	return dx, size
}

func testTrainL2Norm(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	const eps = 1e-12
	shapes := append(trRowShapes(), [2]int{128, 512})
	for i, sh := range shapes {
		rows, cols, pad := sh[0], sh[1], i%3
		t.Run(fmt.Sprintf("%dx%d_pad%d", rows, cols, pad), func(t *testing.T) {
			// Row 1 is zero and row 2 tiny (both clamped by eps); row 3's
			// squares overflow fp32.
			x := randF32(rng, rows*cols, 2)
			for r, mul := range []float32{1, 0, 1e-15, 1e30} {
				for c := 0; r < rows && c < cols; c++ {
					x[r*cols+c] *= mul
				}
			}
			xm, ym := newTrMat(t, be, rng, rows, cols, pad, x), newTrMat(t, be, rng, rows, cols, pad, nil)
			nr := newTrVec(t, be, rng, rows, nil)
			if err := tr.L2NormForward(rows, cols, xm.Mat(), eps, ym.Mat(), nr.View); err != nil {
				t.Fatal(err)
			}
			wy, wn := trL2Norm64(x, rows, cols, eps)
			y, norm := ym.read(t), nr.F32(t)
			trCheck(t, "y", y, wy, 1e-6)
			trCheck(t, "norm", norm, wn, 1e-6)

			dy := randF32(rng, rows*cols, 1)
			dym, dxm := newTrMat(t, be, rng, rows, cols, pad, dy), newTrMat(t, be, rng, rows, cols, pad, nil)
			if err := tr.L2NormBackward(rows, cols, dym.Mat(), ym.Mat(), nr.View, eps, dxm.Mat()); err != nil {
				t.Fatal(err)
			}
			wdx, size := trL2NormBackward64(dy, y, norm, rows, cols, eps)
			dx := dxm.read(t)
			trCheckScaled(t, "dx", dx, wdx, size, 1e-6)

			// In place (y = x without norm, dx = dy): the same bits.
			if err := tr.L2NormForward(rows, cols, xm.Mat(), eps, xm.Mat(), ffi.Vec{}); err != nil {
				t.Fatal(err)
			}
			if err := tr.L2NormBackward(rows, cols, dym.Mat(), ym.Mat(), nr.View, eps, dym.Mat()); err != nil {
				t.Fatal(err)
			}
			for k, pair := range [][2][]float32{{xm.read(t), y}, {dym.read(t), dx}} {
				for j := range pair[0] {
					if math.Float32bits(pair[0][j]) != math.Float32bits(pair[1][j]) {
						t.Fatalf("in-place %s[%d] = %g, out of place %g", []string{"y", "dx"}[k], j, pair[0][j], pair[1][j])
					}
				}
			}
		})
	}
}

// testTrainL2NormFiniteDifferences: the backward against a fourth-order
// central difference of its forward (see trFD).
func testTrainL2NormFiniteDifferences(t *testing.T, be ffi.Backend) {
	ref, rng := trainer(t, be), newRNG(t)
	const rows, cols, eps = 3, 7, 1e-12
	x, w := trGrid(rng, rows*cols, 2, 0), randF32(rng, rows*cols, 1)
	fd := fdData{t, ref}
	mat := func(v []float32) ffi.Mat { return fd.mat(v, cols) }
	read := fd.read
	loss := func() float64 {
		y := mat(make([]float32, rows*cols))
		if err := ref.L2NormForward(rows, cols, mat(x), eps, y, ffi.Vec{}); err != nil {
			t.Fatal(err)
		}
		var l float64
		for i, v := range read(y, rows*cols) {
			l += float64(w[i]) * float64(v)
		}
		return l
	}
	y, dx := mat(make([]float32, rows*cols)), mat(make([]float32, rows*cols))
	norm := ffi.All(mat(make([]float32, rows)).Buf)
	if err := ref.L2NormForward(rows, cols, mat(x), eps, y, norm); err != nil {
		t.Fatal(err)
	}
	if err := ref.L2NormBackward(rows, cols, mat(w), y, norm, eps, dx); err != nil {
		t.Fatal(err)
	}
	trFD(t, rng, "dx", x, read(dx, rows*cols), loss)
}

// testZero: every dtype, at unaligned offsets between guards.
func testZero(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	for _, dt := range []ffi.DType{ffi.F32, ffi.F16, ffi.BF16, ffi.I32, ffi.U8, ffi.F64, ffi.U64} {
		for _, n := range []int{0, 1, 7, 64, 1000} {
			r := newRegion(t, be, rng, dt, n) // poisoned: NaN or 0xAB bytes
			if err := be.Zero(r.View); err != nil {
				t.Fatal(err)
			}
			for i, b := range r.bytes(t) { // checks the guards too
				if b != 0 {
					t.Fatalf("%s n=%d: byte %d = %#x after Zero", dt, n, i, b)
				}
			}
		}
	}
}

// testTrainL2NormZeroErrors: bad shapes, eps, views and foreign buffers are
// errors, and nothing changes.
func testTrainL2NormZeroErrors(t *testing.T, be ffi.Backend) {
	tr, rng := trainer(t, be), newRNG(t)
	x, y := newTrMat(t, be, rng, 4, 8, 0, randF32(rng, 32, 1)), newTrMat(t, be, rng, 4, 8, 0, nil)
	n := newTrVec(t, be, rng, 4, randF32(rng, 4, 1))
	regions := []*region{x.r, y.r, n}
	other := otherBackend(be)
	foreign, err := other.Alloc(ffi.F32, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Free(foreign)
	X, Y, N := x.Mat(), y.Mat(), n.View
	short := Y
	short.LD = 7
	fwd := func(rows, cols int, eps float32, out ffi.Mat, norm ffi.Vec) func() error {
		return func() error { return tr.L2NormForward(rows, cols, X, eps, out, norm) }
	}
	bwd := func(eps float32, y ffi.Mat, norm ffi.Vec, dx ffi.Mat) func() error {
		return func() error { return tr.L2NormBackward(4, 8, X, y, norm, eps, dx) }
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cases := []errorCase{
		{"cols 0", fwd(4, 0, 1e-12, Y, N)},
		{"negative rows", fwd(-1, 8, 1e-12, Y, N)},
		{"eps 0", fwd(4, 8, 0, Y, N)},
		{"eps negative", fwd(4, 8, -1, Y, N)},
		{"eps NaN", fwd(4, 8, nan, Y, N)},
		{"eps inf", fwd(4, 8, inf, Y, N)},
		{"y short ld", fwd(4, 8, 1e-12, short, N)},
		{"overrun", fwd(100, 8, 1e-12, Y, ffi.Vec{})},
		{"norm length", fwd(4, 8, 1e-12, Y, ffi.Vec{Buf: N.Buf, Off: N.Off, N: 3})},
		{"y foreign", fwd(4, 8, 1e-12, ffi.Mat{Buf: foreign, LD: 8}, N)},
		{"backward norm none", bwd(1e-12, X, ffi.Vec{}, Y)},
		{"backward eps NaN", bwd(nan, X, N, Y)},
		{"backward dx short ld", bwd(1e-12, X, N, short)},
		{"backward y foreign", bwd(1e-12, ffi.Mat{Buf: foreign, LD: 8}, N, Y)},
		{"zero nil", func() error { return be.Zero(ffi.Vec{}) }},
		{"zero overrun", func() error { return be.Zero(ffi.Vec{Buf: Y.Buf, Off: Y.Off, N: Y.Buf.Len()}) }},
		{"zero negative offset", func() error { return be.Zero(ffi.Vec{Buf: Y.Buf, Off: -1, N: 2}) }},
		{"zero foreign", func() error { return be.Zero(ffi.All(foreign)) }},
	}
	expectErrors(t, regions, cases)
}
