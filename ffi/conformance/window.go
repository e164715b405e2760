package conformance

// Conformance of AbsWindow, the window pass of a sampled top-k select: exact
// counts inside and above windows at every edge, counts that add up over
// calls, and bad arguments.

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/distac/distac/ffi"
)

// windowRef is the definition: hist[u-lo]++ inside, the count above returned.
func windowRef(x []float32, lo uint32, hist []uint64) uint64 {
	var above uint64
	for _, v := range x {
		u := uint64(math.Float32bits(v) &^ (1 << 31))
		switch {
		case u >= uint64(lo)+uint64(len(hist)):
			above++
		case u >= uint64(lo):
			hist[u-uint64(lo)]++
		}
	}
	return above
}

func testAbsWindow(t *testing.T, be ffi.Backend) {
	forAbsData(t, be, func(rng *rand.Rand, n int, x []float32, xr *region) {
		mid := uint32(1000)
		if n > 0 {
			mid = max(math.Float32bits(x[n/2])&^(1<<31), 500)
		}
		// Around a real element at several widths, over the quiet NaN,
		// ending at 2^31 (NaNs above it), at zero, and where nothing falls.
		wins := []struct{ lo, span uint32 }{
			{mid, 1}, {mid - 3, 7}, {mid - 500, 1000}, {mid, 65536},
			{math.Float32bits(nan32) - 16, 32}, {1<<31 - 16, 16}, {0, 4096}, {0x3f800000, 5},
		}
		for _, w := range wins {
			want := make([]uint64, w.span)
			for b := range want { // the op adds to what is there
				want[b] = uint64(b % 5)
			}
			hist, above := newU64(t, be, rng, want), newU64(t, be, rng, []uint64{7})
			wantUp := 7 + windowRef(x, w.lo, want)
			if err := be.AbsWindow(xr.View, w.lo, hist.View, above.View); err != nil {
				t.Fatal(err)
			}
			got, up := hist.U64(t), above.U64(t)[0]
			if up != wantUp || !slices.Equal(got, want) {
				t.Fatalf("n=%d window [%#x, +%d): above %d, want %d; hist equal %v", n, w.lo, w.span, up, wantUp, slices.Equal(got, want))
			}
		}
	})
}

// forAbsData runs f on TIES-like data (tiesData, specials included) of every
// test size and of 300007 elements (the kernels' sub-histogram path at 15
// and 16 bits), in a guarded region of be.
func forAbsData(t *testing.T, be ffi.Backend, f func(rng *rand.Rand, n int, x []float32, xr *region)) {
	rng := newRNG(t)
	for _, n := range append(slices.Clone(testSizes), 300007) {
		x := tiesData(rng, n, true)
		xr := newRegion(t, be, rng, ffi.F32, n)
		xr.setF32(t, x)
		f(rng, n, x, xr)
	}
}

// testAbsWindowAdds: counting a vector in four calls into one histogram
// gives the counts of one call over all of it (the op adds to hist).
func testAbsWindowAdds(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	const n = 400003
	x := randF32(rng, n, 0.01)
	xr := newRegion(t, be, rng, ffi.F32, n)
	xr.setF32(t, x)
	lo, span := uint32(0x3b000000), 1<<20 // magnitudes 2^-9 up to about 2.07e-3
	want := make([]uint64, span)
	hist, above := newU64(t, be, rng, want), newU64(t, be, rng, []uint64{0})
	wantUp := windowRef(x, lo, want)
	for q := range 4 {
		v := ffi.Vec{Buf: xr.View.Buf, Off: xr.View.Off + n*q/4, N: n*(q+1)/4 - n*q/4}
		if err := be.AbsWindow(v, lo, hist.View, above.View); err != nil {
			t.Fatal(err)
		}
	}
	if got, up := hist.U64(t), above.U64(t)[0]; up != wantUp || !slices.Equal(got, want) {
		t.Fatalf("above %d, want %d; hist equal %v", up, wantUp, slices.Equal(got, want))
	}
}

func testAbsWindowBadArgs(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	xs, _ := tiesInputs(t, be, rng, 1, 20, false)
	i32 := newRegion(t, be, rng, ffi.I32, 20)
	other := otherBackend(be)
	foreign, _ := tiesInputs(t, other, rng, 1, 20, false)
	hist, above := newU64(t, be, rng, []uint64{1, 2, 3, 4}), newU64(t, be, rng, []uint64{5, 6})
	h, a := hist.View, ffi.Vec{Buf: above.View.Buf, Off: above.View.Off, N: 1}
	foreignHist, _ := other.Alloc(ffi.U64, 4)
	defer other.Free(foreignHist)
	for name, call := range map[string]func() error{
		"empty hist":    func() error { return be.AbsWindow(xs[0], 0, ffi.Vec{Buf: h.Buf, Off: h.Off}, a) },
		"past 2^31":     func() error { return be.AbsWindow(xs[0], 1<<31-3, h, a) },
		"x dtype":       func() error { return be.AbsWindow(i32.View, 0, h, a) },
		"x nil buf":     func() error { return be.AbsWindow(ffi.Vec{}, 0, h, a) },
		"foreign":       func() error { return be.AbsWindow(foreign[0], 0, h, a) },
		"foreign hist":  func() error { return be.AbsWindow(xs[0], 0, ffi.All(foreignHist), a) },
		"hist dtype":    func() error { return be.AbsWindow(xs[0], 0, i32.View, a) },
		"above two":     func() error { return be.AbsWindow(xs[0], 0, h, above.View) },
		"above is hist": func() error { return be.AbsWindow(xs[0], 0, h, ffi.Vec{Buf: h.Buf, Off: h.Off, N: 1}) },
		"out of range": func() error {
			return be.AbsWindow(ffi.Vec{Buf: xs[0].Buf, Off: xs[0].Off, N: xs[0].Buf.Len()}, 0, h, a)
		},
	} {
		if err := call(); err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if !slices.Equal(hist.U64(t), []uint64{1, 2, 3, 4}) || !slices.Equal(above.U64(t), []uint64{5, 6}) {
			t.Fatalf("%s: counts written", name)
		}
	}
}
