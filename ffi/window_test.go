package ffi

// Conformance of AbsWindow, the window pass of a sampled top-k select: exact
// counts inside and above windows at every edge, counts that add up over
// calls, and bad arguments.

import (
	"math"
	"slices"
	"testing"
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

func TestAbsWindow(t *testing.T) {
	sizes := append(slices.Clone(testSizes), 300007)
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		for _, n := range sizes {
			x := tiesData(rng, n, true)
			xr := newRegion(t, be, rng, F32, n)
			xr.setF32(t, x)
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
				want, got := make([]uint64, w.span), make([]uint64, w.span)
				for b := range want { // the op adds to what is there
					want[b], got[b] = uint64(b%5), uint64(b%5)
				}
				wantUp := windowRef(x, w.lo, want)
				up, err := be.AbsWindow(xr.View, w.lo, got)
				if err != nil {
					t.Fatal(err)
				}
				if up != wantUp || !slices.Equal(got, want) {
					t.Fatalf("n=%d window [%#x, +%d): above %d, want %d; hist equal %v", n, w.lo, w.span, up, wantUp, slices.Equal(got, want))
				}
			}
		}
	})
}

// TestAbsWindowAdds: counting a vector in four calls into one histogram
// gives the counts of one call over all of it (the op adds to hist).
func TestAbsWindowAdds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		const n = 400003
		x := randF32(rng, n, 0.01)
		xr := newRegion(t, be, rng, F32, n)
		xr.setF32(t, x)
		lo, span := uint32(0x3b000000), 1<<20 // magnitudes 2^-9 up to about 2.07e-3
		want, got := make([]uint64, span), make([]uint64, span)
		wantUp := windowRef(x, lo, want)
		var up uint64
		for q := range 4 {
			v := Vec{Buf: xr.View.Buf, Off: xr.View.Off + n*q/4, N: n*(q+1)/4 - n*q/4}
			c, err := be.AbsWindow(v, lo, got)
			if err != nil {
				t.Fatal(err)
			}
			up += c
		}
		if up != wantUp || !slices.Equal(got, want) {
			t.Fatalf("above %d, want %d; hist equal %v", up, wantUp, slices.Equal(got, want))
		}
	})
}

func TestAbsWindowBadArgs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		xs, _ := tiesInputs(t, be, rng, 1, 20, false)
		i32 := newRegion(t, be, rng, I32, 20)
		var other Backend = NewRef()
		if be.Name() == "ref" {
			cpu, err := NewCPU(ISAScalar, 1)
			if err != nil {
				t.Fatal(err)
			}
			other = cpu
		}
		foreign, _ := tiesInputs(t, other, rng, 1, 20, false)
		hist := []uint64{1, 2, 3, 4}
		for name, call := range map[string]func() (uint64, error){
			"empty hist": func() (uint64, error) { return be.AbsWindow(xs[0], 0, nil) },
			"past 2^31":  func() (uint64, error) { return be.AbsWindow(xs[0], 1<<31-3, hist) },
			"x dtype":    func() (uint64, error) { return be.AbsWindow(i32.View, 0, hist) },
			"x nil buf":  func() (uint64, error) { return be.AbsWindow(Vec{}, 0, hist) },
			"foreign":    func() (uint64, error) { return be.AbsWindow(foreign[0], 0, hist) },
			"out of range": func() (uint64, error) {
				return be.AbsWindow(Vec{Buf: xs[0].Buf, Off: xs[0].Off, N: xs[0].Buf.Len()}, 0, hist)
			},
		} {
			if _, err := call(); err == nil {
				t.Fatalf("%s: accepted", name)
			}
			if !slices.Equal(hist, []uint64{1, 2, 3, 4}) {
				t.Fatalf("%s: hist written", name)
			}
		}
	})
}
