package conformance

// Conformance of DareDrop: the mask of ffi.DareKeep exactly, at any offset
// into the stream and any chunking, and bad arguments refused.

import (
	"math"
	"testing"

	"github.com/distac/distac/ffi"
)

func testDareDrop(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	for _, p := range []float64{0, 0.1, 0.5, 0.9, 0.999} {
		for _, n := range testSizes {
			x := randF32(rng, n, 1)
			r := tvInput(t, be, rng, ffi.F32, x)
			key, first := rng.Uint64(), uint64(rng.IntN(1<<40))
			if err := be.DareDrop(r.View, key, first, p); err != nil {
				t.Fatal(err)
			}
			kept := 0
			for i, g := range r.F32(t) {
				want := float32(0)
				if ffi.DareKeep(key, first+uint64(i), p) {
					want, kept = x[i], kept+1
				}
				if math.Float32bits(g) != math.Float32bits(want) {
					t.Fatalf("p=%v n=%d: x[%d] = %v, want %v", p, n, i, g, want)
				}
			}
			// The kept share is 1-p within 6 standard deviations.
			if sd := math.Sqrt(float64(n) * p * (1 - p)); n >= 1000 && math.Abs(float64(kept)-(1-p)*float64(n)) > 6*sd+1 {
				t.Fatalf("p=%v n=%d: kept %d", p, n, kept)
			}
		}
	}
	// Chunks of one stream give what the whole does.
	const n = 70001
	x := randF32(rng, n, 1)
	whole, parts := tvInput(t, be, rng, ffi.F32, x), tvInput(t, be, rng, ffi.F32, x)
	if err := be.DareDrop(whole.View, 42, 0, 0.6); err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < n; lo += 9999 {
		v := ffi.Vec{Buf: parts.View.Buf, Off: parts.View.Off + lo, N: min(9999, n-lo)}
		if err := be.DareDrop(v, 42, uint64(lo), 0.6); err != nil {
			t.Fatal(err)
		}
	}
	if w, p := whole.F32(t), parts.F32(t); string(ffi.F32Bytes(w)) != string(ffi.F32Bytes(p)) {
		t.Fatal("chunked drops differ from one drop of the whole")
	}

	s := tvErrorCases(t, be)
	for what, c := range map[string]struct {
		v ffi.Vec
		p float64
	}{
		"p = 1": {s.x8.View, 1}, "p < 0": {s.x8.View, -0.1}, "p NaN": {s.x8.View, math.NaN()},
		"f16": {s.h8.View, 0.5}, "foreign": {ffi.All(s.alien), 0.5}, "freed": {ffi.All(s.freed), 0.5},
		"out of bounds": {ffi.Vec{Buf: s.x8.buf, Off: 1, N: s.x8.buf.Len()}, 0.5},
	} {
		before := s.x8.F32(t)
		if err := be.DareDrop(c.v, 1, 0, c.p); err == nil {
			t.Errorf("%s: no error", what)
		}
		if after := s.x8.F32(t); string(ffi.F32Bytes(after)) != string(ffi.F32Bytes(before)) {
			t.Errorf("%s: written despite the error", what)
		}
	}
}
