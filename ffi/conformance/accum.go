package conformance

// Conformance of SubAccumulate, the fused Sub + WeightedSum step + SumSq of
// a streamed merge: the same bits as those three ops on the same backend
// (so a merge may take either route), and a float64 reference. A backend
// without the op must say so with ffi.ErrNotImplemented and write nothing.

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/distac/distac/ffi"
)

// accumMissing reports whether be lacks SubAccumulate, after checking that
// saying so wrote nothing.
func accumMissing(t *testing.T, be ffi.Backend) bool {
	t.Helper()
	rng := newRNG(t)
	x := tvInput(t, be, rng, ffi.F32, randF32(rng, 8, 1))
	acc, ss := newRegion(t, be, rng, ffi.F32, 8), newRegion(t, be, rng, ffi.F64, 1)
	err := be.SubAccumulate(ffi.Vec{}, acc.View, x.View, x.View, 1, true, ss.View)
	if err == nil || !errors.Is(err, ffi.ErrNotImplemented) {
		return false
	}
	for _, r := range []*region{acc, ss} {
		if string(r.bytes(t)) != string(poisonBytes(r.buf.DType(), r.View.N)) {
			t.Fatal("SubAccumulate wrote its outputs before returning ErrNotImplemented")
		}
	}
	return true
}

func f64At(t *testing.T, r *region) float64 {
	t.Helper()
	return math.Float64frombits(binary.LittleEndian.Uint64(r.bytes(t)))
}

// Three tasks through SubAccumulate against Sub, WeightedSum and SumSq of
// the same backend, bit for bit, and float64: every dtype pair, the usual
// sizes and one past several sumsq blocks; acc starts poisoned (the first
// task must not read it), outputs sit between guards.
func testSubAccumulate(t *testing.T, be ffi.Backend) {
	if accumMissing(t, be) {
		t.Skipf("%s has no SubAccumulate (ErrNotImplemented): the merge runs Sub, SumSq and WeightedSum", be.Name())
	}
	rng := newRNG(t)
	check := func(n int, ftT, baseT ffi.DType) {
		bw := tvWide(rng, baseT, n)
		base := tvInput(t, be, rng, baseT, bw)
		w := []float32{2*rng.Float32() - 1, 1, 2*rng.Float32() - 1}
		want := make([]float64, n)
		acc := newRegion(t, be, rng, ffi.F32, n)
		taus := make([]ffi.Vec, len(w))
		for k := range w {
			fw := tvWide(rng, ftT, n)
			ft := tvInput(t, be, rng, ftT, fw)
			for i := range want {
				want[i] += float64(w[k]) * (float64(fw[i]) - float64(bw[i]))
			}
			sub := newRegion(t, be, rng, ffi.F32, n)
			if err := be.Sub(sub.View, ft.View, base.View); err != nil {
				t.Fatal(err)
			}
			taus[k] = sub.View
			tau, ss := newRegion(t, be, rng, ffi.F32, n), newRegion(t, be, rng, ffi.F64, 1)
			if err := be.SubAccumulate(tau.View, acc.View, ft.View, base.View, w[k], k == 0, ss.View); err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(tau.bytes(t), sub.bytes(t), 4); i >= 0 {
				t.Fatalf("%s - %s n=%d task %d: tau element %d differs from Sub", ftT, baseT, n, k, i)
			}
			got, ref := f64At(t, ss), sumSq(t, be, rng, sub.View)
			if math.Float64bits(got) != math.Float64bits(ref) {
				t.Fatalf("%s - %s n=%d task %d: sumsq %v, SumSq %v", ftT, baseT, n, k, got, ref)
			}
			// Only the sum: the same bits again.
			ss2 := newRegion(t, be, rng, ffi.F64, 1)
			if err := be.SubAccumulate(ffi.Vec{}, ffi.Vec{}, ft.View, base.View, 0, false, ss2.View); err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(f64At(t, ss2)) != math.Float64bits(ref) {
				t.Fatalf("%s - %s n=%d: sumsq alone differs", ftT, baseT, n)
			}
		}
		ws := newRegion(t, be, rng, ffi.F32, n)
		if err := be.WeightedSum(ws.View, taus, w); err != nil {
			t.Fatal(err)
		}
		got := acc.F32(t)
		if i := firstDiff(ffi.F32Bytes(got), ws.bytes(t), 4); i >= 0 {
			t.Fatalf("%s - %s n=%d: acc element %d differs from WeightedSum", ftT, baseT, n, i)
		}
		if e := relErr(got, want); e > 1e-6 {
			t.Fatalf("%s - %s n=%d: rel err %g", ftT, baseT, n, e)
		}
	}
	for _, ftT := range floatTypes {
		for _, baseT := range floatTypes {
			for _, n := range testSizes {
				check(n, ftT, baseT)
			}
		}
	}
	check(3*ffi.SumSqBlock+17, ffi.F32, ffi.F32)
	check(2*ffi.SumSqBlock+5, ffi.BF16, ffi.F16)

	// tau over ft in place; NaN and Inf reach the sum.
	x := randF32(rng, 100, 1)
	ft, base := tvInput(t, be, rng, ffi.F32, x), tvInput(t, be, rng, ffi.F32, randF32(rng, 100, 1))
	sub := newRegion(t, be, rng, ffi.F32, 100)
	if err := be.Sub(sub.View, ft.View, base.View); err != nil {
		t.Fatal(err)
	}
	if err := be.SubAccumulate(ft.View, ffi.Vec{}, ft.View, base.View, 1, true, ffi.Vec{}); err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(ft.bytes(t), sub.bytes(t), 4); i >= 0 {
		t.Fatalf("tau over ft in place: element %d differs from Sub", i)
	}
	for _, special := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		y := randF32(rng, ffi.SumSqBlock+9, 1)
		y[ffi.SumSqBlock+3] = special
		in, zero := tvInput(t, be, rng, ffi.F32, y), tvInput(t, be, rng, ffi.F32, make([]float32, len(y)))
		ss := newRegion(t, be, rng, ffi.F64, 1)
		if err := be.SubAccumulate(ffi.Vec{}, ffi.Vec{}, in.View, zero.View, 1, true, ss.View); err != nil {
			t.Fatal(err)
		}
		if got := f64At(t, ss); special != special && got == got || special == special && !math.IsInf(got, 1) {
			t.Fatalf("sumsq with %v = %v", special, got)
		}
	}
}

func testSubAccumulateErrors(t *testing.T, be ffi.Backend) {
	s := tvErrorCases(t, be)
	o := s.out(ffi.F32, 8)
	x8, x9, none := s.x8.View, s.x9.View, ffi.Vec{}
	for what, op := range map[string]func() error{
		"length mismatch": func() error { return be.SubAccumulate(none, o.View, x8, x9, 1, true, none) },
		"acc length":      func() error { return be.SubAccumulate(none, o.View, x9, x9, 1, true, none) },
		"foreign base":    func() error { return be.SubAccumulate(none, o.View, x8, ffi.All(s.alien), 1, true, none) },
		"freed ft":        func() error { return be.SubAccumulate(none, o.View, ffi.All(s.freed), x8, 1, true, none) },
		"nil ft":          func() error { return be.SubAccumulate(none, o.View, none, x8, 1, true, none) },
		"acc is an input": func() error { return be.SubAccumulate(none, o.View, o.View, x8, 1, false, none) },
		"tau is acc":      func() error { return be.SubAccumulate(o.View, o.View, x8, x8, 1, false, none) },
	} {
		tvExpectError(t, what, o, op)
	}
	h := s.out(ffi.F16, 8)
	tvExpectError(t, "acc f16", h, func() error { return be.SubAccumulate(none, h.View, x8, x8, 1, true, none) })
	o = s.out(ffi.F32, 16)
	a, b := overlapping(o, 8, 1)
	tvExpectError(t, "tau shifted over ft", o, func() error { return be.SubAccumulate(b, none, a, x8, 1, true, none) })
	two, f32 := s.out(ffi.F64, 2), s.out(ffi.F32, 1)
	tvExpectError(t, "two sums", two, func() error { return be.SubAccumulate(none, none, x8, x8, 1, true, two.View) })
	tvExpectError(t, "f32 sum", f32, func() error { return be.SubAccumulate(none, none, x8, x8, 1, true, f32.View) })
}
