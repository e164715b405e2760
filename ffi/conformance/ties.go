package conformance

// Conformance of the merge-method ops (AbsHistogram, TiesTrim, TiesMerge,
// TallConsensus) and of TopKAbsThreshold on every backend. Trim, histogram
// and TALL are checked bit for bit (the references repeat the header's
// float32 operations); the TIES mean against float64.

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/distac/distac/ffi"
)

var (
	nan32 = float32(math.NaN())
	inf32 = float32(math.Inf(1))
)

// tiesData returns n task-vector-like values in [-1, 1) with exact zeros of
// both signs, values tied at +-0.5 and, if specials, NaNs and infinities.
func tiesData(rng *rand.Rand, n int, specials bool) []float32 {
	x := randF32(rng, n, 1)
	for i := range x {
		switch r := rng.IntN(64); {
		case r == 0:
			x[i] = 0
		case r == 1:
			x[i] = float32(math.Copysign(0, -1))
		case r == 2:
			x[i] = 0.5
		case r == 3:
			x[i] = -0.5
		case specials && r == 4:
			x[i] = nan32
		case specials && r == 5:
			x[i] = inf32 * float32(1-2*rng.IntN(2))
		}
	}
	return x
}

// tiesInputs uploads count inputs of n elements, each at its own unaligned
// offset, and returns their views and values.
func tiesInputs(t *testing.T, be ffi.Backend, rng *rand.Rand, count, n int, specials bool) ([]ffi.Vec, [][]float32) {
	t.Helper()
	vs := make([]ffi.Vec, count)
	vals := make([][]float32, count)
	for k := range vs {
		vals[k] = tiesData(rng, n, specials)
		r := newRegion(t, be, rng, ffi.F32, n)
		r.setF32(t, vals[k])
		vs[k] = r.View
	}
	return vs, vals
}

// sameF32 reports whether got is want bit for bit, any NaN matching any NaN
// except the guard pattern (an element left unwritten).
// trim1 is TiesTrim's rule for one element: |x| < threshold ? 0 : x (NaN x
// or threshold keeps x).
func trim1(x, threshold float32) float32 {
	if abs32(x) < threshold {
		return 0
	}
	return x
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

func sameF32(got, want float32) bool {
	if want != want {
		return got != got && math.Float32bits(got) != guardNaN
	}
	return math.Float32bits(got) == math.Float32bits(want)
}

// poisoned fails unless every element of the region still holds the poison.
func poisoned(t *testing.T, r *region) {
	t.Helper()
	for i, v := range r.F32(t) {
		if math.Float32bits(v) != guardNaN {
			t.Fatalf("element %d written (%v) by a failing call", i, v)
		}
	}
}

func testTiesTrim(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	for _, n := range testSizes {
		x := tiesData(rng, n, true)
		xr := newRegion(t, be, rng, ffi.F32, n)
		xr.setF32(t, x)
		for _, thr := range []float32{0, 0.3, 0.5, nan32, inf32} {
			dst := newRegion(t, be, rng, ffi.F32, n)
			if err := be.TiesTrim(dst.View, xr.View, thr); err != nil {
				t.Fatal(err)
			}
			for i, g := range dst.F32(t) {
				want := x[i]
				if math.Abs(float64(x[i])) < float64(thr) {
					want = 0
				}
				if !sameF32(g, want) {
					t.Fatalf("n=%d threshold=%v: dst[%d] = %v, want %v (x = %v)", n, thr, i, g, want, x[i])
				}
			}
		}
		// In place: dst is x.
		if err := be.TiesTrim(xr.View, xr.View, 0.5); err != nil {
			t.Fatal(err)
		}
		for i, g := range xr.F32(t) {
			if want := trim1(x[i], 0.5); !sameF32(g, want) {
				t.Fatalf("in place n=%d: dst[%d] = %v, want %v", n, i, g, want)
			}
		}
	}
}

// tiesMergeRef is the header's definition: sign election on the in-order
// float32 sum, disjoint mean in float64, NaN if any trimmed value is NaN.
func tiesMergeRef(vals [][]float32, thr []float32, n int) []float64 {
	want := make([]float64, n)
	for i := range want {
		var s float32
		for t := range vals {
			s += trim1(vals[t][i], thr[t])
		}
		up := s >= 0 // a NaN sum (+Inf + -Inf) elects -
		var sum float64
		agree := 0
		for t := range vals {
			v := trim1(vals[t][i], thr[t])
			if v != v {
				sum, agree = math.NaN(), 1
				break
			}
			if (up && v > 0) || (!up && v < 0) {
				sum += float64(v)
				agree++
			}
		}
		if agree > 0 {
			want[i] = sum / float64(agree)
		}
	}
	return want
}

// checkMerged compares got with want: NaNs where want has them (never the
// guard pattern), and relErr <= 1e-6 elsewhere.
func checkMerged(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	for i := range w {
		if math.IsNaN(w[i]) {
			if !sameF32(g[i], nan32) {
				t.Fatalf("%s: dst[%d] = %v, want NaN", what, i, g[i])
			}
			g[i], w[i] = 0, 0
		}
	}
	if e := relErr(g, w); e > 1e-6 {
		t.Fatalf("%s: relErr %g", what, e)
	}
}

func testTiesMerge(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	for _, count := range []int{1, 2, 3, 8} {
		for _, n := range testSizes {
			specials := n%2 == 1
			xs, vals := tiesInputs(t, be, rng, count, n, specials)
			thr := make([]float32, count)
			for k := range thr {
				thr[k] = []float32{0, 0.5, 0.25, 0.9}[k%4] // 0 keeps everything
			}
			dst := newRegion(t, be, rng, ffi.F32, n)
			if err := be.TiesMerge(dst.View, xs, thr); err != nil {
				t.Fatal(err)
			}
			want := tiesMergeRef(vals, thr, n)
			checkMerged(t, "merge", dst.F32(t), want)
			// In place over the first input.
			if n > 0 && count > 1 {
				if err := be.TiesMerge(xs[0], xs, thr); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, n)
				if err := be.Download(ffi.F32Bytes(got), xs[0]); err != nil {
					t.Fatal(err)
				}
				checkMerged(t, "merge in place", got, want)
			}
		}
	}
}

// Large task vectors: the CPU backend splits them over its threads, and on
// one thread the kernels write the 16 MiB output with streaming stores.
func testTiesTallLarge(t *testing.T, be0 ffi.Backend) {
	const n = 1<<22 + 3
	backends := []ffi.Backend{be0}
	if tb, ok := be0.(threaded); ok {
		single, err := tb.WithThreads(1)
		if err != nil {
			t.Fatal(err)
		}
		backends = append(backends, single)
	}
	rng := newRNG(t)
	xs, vals := tiesInputs(t, be0, rng, 2, n, true)
	thr, lambdas := []float32{0.25, 0}, []float32{0.3, 0.5}
	wantM := tiesMergeRef(vals, thr, n)
	wantD, wantC := tallRef(vals, lambdas, 2, n)
	for _, be := range backends {
		dst := newRegion(t, be, rng, ffi.F32, n)
		if err := be.TiesTrim(dst.View, xs[0], 0.5); err != nil {
			t.Fatal(err)
		}
		for i, g := range dst.F32(t) {
			if want := trim1(vals[0][i], 0.5); !sameF32(g, want) {
				t.Fatalf("trim: dst[%d] = %v, want %v", i, g, want)
			}
		}
		if err := be.TiesMerge(dst.View, xs, thr); err != nil {
			t.Fatal(err)
		}
		checkMerged(t, "merge", dst.F32(t), wantM)
		counts := newRegion(t, be, rng, ffi.U8, n)
		if err := be.TallConsensus(dst.View, counts.View, xs, lambdas, 2); err != nil {
			t.Fatal(err)
		}
		gotC := counts.bytes(t)
		for i, g := range dst.F32(t) {
			if !sameF32(g, wantD[i]) || gotC[i] != wantC[i] {
				t.Fatalf("tall: element %d = %v (%d), want %v (%d)", i, g, gotC[i], wantD[i], wantC[i])
			}
		}
	}
}

func testTiesMergeCrafted(t *testing.T, be ffi.Backend) {
	// Columns: all zero -> 0; exact cancellation elects +; a NaN input ->
	// NaN; trimmed away -> the other side; +Inf + -Inf sums to NaN, which
	// elects -; all negative -> their mean; a lone -0 -> 0.
	a := []float32{0, 1, 0.5, nan32, 0.001, inf32, -2, float32(math.Copysign(0, -1))}
	b := []float32{0, -1, -0.25, 1, -0.001, -inf32, -4, 0}
	want := []float32{0, 1, 0.5, nan32, 0.001, -inf32, -3, 0}
	rng := newRNG(t)
	ra, rb := newRegion(t, be, rng, ffi.F32, len(a)), newRegion(t, be, rng, ffi.F32, len(b))
	ra.setF32(t, a)
	rb.setF32(t, b)
	dst := newRegion(t, be, rng, ffi.F32, len(a))
	if err := be.TiesMerge(dst.View, []ffi.Vec{ra.View, rb.View}, []float32{0, 0.01}); err != nil {
		t.Fatal(err)
	}
	for i, g := range dst.F32(t) {
		if !sameF32(g, want[i]) {
			t.Fatalf("column %d: got %v, want %v", i, g, want[i])
		}
	}
}

func testAbsHistogram(t *testing.T, be ffi.Backend) {
	digits := []struct{ shift, bits int }{{16, 15}, {0, 16}, {21, 10}, {10, 11}, {0, 10}, {31, 1}, {28, 8}, {20, 12}}
	forAbsData(t, be, func(rng *rand.Rand, n int, x []float32, xr *region) {
		for _, d := range digits {
			hi := d.shift + d.bits
			prefixes := []uint32{0, 1 << max(31-hi, 0)} // everything (or the low bins), nothing
			if n > 0 && hi < 32 {
				prefixes = append(prefixes, (math.Float32bits(x[n/2])&^(1<<31))>>hi)
			}
			for _, prefix := range prefixes {
				want := make([]uint64, 1<<d.bits)
				for b := range want { // the op adds to what is there
					want[b] = uint64(b)
				}
				hist := newU64(t, be, rng, want)
				for _, v := range x {
					u := math.Float32bits(v) &^ (1 << 31)
					if hi >= 32 || u>>hi == prefix {
						want[(u>>d.shift)&(1<<d.bits-1)]++
					}
				}
				if err := be.AbsHistogram(xr.View, d.shift, d.bits, prefix, hist.View); err != nil {
					t.Fatal(err)
				}
				if got := hist.U64(t); !slices.Equal(got, want) {
					t.Fatalf("n=%d shift=%d bits=%d prefix=%#x: counts differ", n, d.shift, d.bits, prefix)
				}
			}
		}
	})
}

// tallRef is the header's definition in float32 (it is exact arithmetic on
// the same operations, so results must match bit for bit).
func tallRef(vals [][]float32, lambdas []float32, minAgree, n int) ([]float32, []byte) {
	dst, counts := make([]float32, n), make([]byte, n)
	for i := range n {
		merged, agree := ffi.TallAt(vals, i, lambdas, minAgree)
		dst[i], counts[i] = merged, byte(agree)
	}
	return dst, counts
}

func testTallConsensus(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	for _, count := range []int{1, 2, 3, 8} {
		for j, n := range testSizes {
			xs, vals := tiesInputs(t, be, rng, count, n, n%2 == 1)
			lambdas := make([]float32, count)
			for k := range lambdas {
				lambdas[k] = []float32{0.2, 0.3, 0.4, 0.5, 0.6}[k%5]
			}
			minAgree := 1 + j%3 // 1, 2, 3 in turn
			switch {
			case count == 8 && n == 1000:
				minAgree = 0 // every element kept
			case count == 3 && n == 1000:
				minAgree = 4 // none kept (unless mtl is NaN)
			}
			wantD, wantC := tallRef(vals, lambdas, minAgree, n)
			for mode := range 3 { // both outputs, counts only, dst only
				dst, counts := newRegion(t, be, rng, ffi.F32, n), newRegion(t, be, rng, ffi.U8, n)
				d, c := dst.View, counts.View
				if mode == 1 {
					d = ffi.Vec{}
				}
				if mode == 2 {
					c = ffi.Vec{}
				}
				if err := be.TallConsensus(d, c, xs, lambdas, minAgree); err != nil {
					t.Fatal(err)
				}
				if mode == 1 {
					poisoned(t, dst)
				} else {
					for i, g := range dst.F32(t) {
						if !sameF32(g, wantD[i]) {
							t.Fatalf("count=%d n=%d min=%d: dst[%d] = %v, want %v", count, n, minAgree, i, g, wantD[i])
						}
					}
				}
				for i, g := range counts.bytes(t) {
					want := wantC[i]
					if mode == 2 {
						want = 0xAB // the poison: not written
					}
					if g != want {
						t.Fatalf("count=%d n=%d mode=%d: counts[%d] = %d, want %d", count, n, mode, i, g, want)
					}
				}
			}
		}
	}
}

func testTallConsensusNoOutputs(t *testing.T, be ffi.Backend) {
	xs, _ := tiesInputs(t, be, newRNG(t), 2, 10, false)
	if err := be.TallConsensus(ffi.Vec{}, ffi.Vec{}, xs, []float32{0.3, 0.3}, 2); err != nil {
		t.Fatal(err)
	}
}

// Bad arguments return an error and write nothing.
func testTiesBadArgs(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	xs, _ := tiesInputs(t, be, rng, 3, 20, false)
	dst := newRegion(t, be, rng, ffi.F32, 20)
	short := newRegion(t, be, rng, ffi.F32, 19)
	u8 := newRegion(t, be, rng, ffi.U8, 20)
	i32 := newRegion(t, be, rng, ffi.I32, 20)
	other := otherBackend(be)
	foreign, _ := tiesInputs(t, other, rng, 1, 20, false)
	checkForeign(t, be, dst, foreign[0], xs)
	th3 := []float32{0.1, 0.1, 0.1}
	for name, call := range map[string]func() error{
		"trim length":       func() error { return be.TiesTrim(dst.View, short.View, 0.1) },
		"trim dtype":        func() error { return be.TiesTrim(dst.View, i32.View, 0.1) },
		"trim nil":          func() error { return be.TiesTrim(dst.View, ffi.Vec{}, 0.1) },
		"merge no inputs":   func() error { return be.TiesMerge(dst.View, nil, nil) },
		"merge thresholds":  func() error { return be.TiesMerge(dst.View, xs, th3[:2]) },
		"merge length":      func() error { return be.TiesMerge(dst.View, append(slices.Clone(xs), short.View), append(th3, 0)) },
		"merge dst dtype":   func() error { return be.TiesMerge(i32.View, xs, th3) },
		"merge input dtype": func() error { return be.TiesMerge(dst.View, []ffi.Vec{i32.View}, th3[:1]) },
		"merge out of range": func() error {
			return be.TiesMerge(ffi.Vec{Buf: dst.buf, Off: dst.buf.Len() - 5, N: 20}, xs, th3)
		},
		"tall lambdas":   func() error { return be.TallConsensus(dst.View, u8.View, xs, th3[:1], 1) },
		"tall no inputs": func() error { return be.TallConsensus(dst.View, u8.View, nil, nil, 1) },
		"tall 256 inputs": func() error {
			many := make([]ffi.Vec, 256)
			for i := range many {
				many[i] = xs[0]
			}
			return be.TallConsensus(dst.View, u8.View, many, make([]float32, 256), 1)
		},
		"tall counts dtype": func() error { return be.TallConsensus(dst.View, i32.View, xs, th3, 1) },
		"tall counts f32":   func() error { return be.TallConsensus(dst.View, short.View, xs, th3, 1) },
		"tall dst length":   func() error { return be.TallConsensus(short.View, u8.View, xs, th3, 1) },
		"tall dst dtype":    func() error { return be.TallConsensus(u8.View, ffi.Vec{}, xs, th3, 1) },
		"tall length":       func() error { return be.TallConsensus(dst.View, u8.View, []ffi.Vec{xs[0], short.View}, th3[:2], 1) },
	} {
		if err := call(); err == nil {
			t.Fatalf("%s: accepted", name)
		}
		poisoned(t, dst)
		if b := u8.bytes(t); slices.ContainsFunc(b, func(v byte) bool { return v != 0xAB }) {
			t.Fatalf("%s: counts written", name)
		}
	}
	hr := newU64(t, be, rng, []uint64{1, 2, 3, 4})
	hist := hr.View
	big := newU64(t, be, rng, make([]uint64, 1<<17))
	for name, call := range map[string]func() error{
		"bits 0": func() error {
			return be.AbsHistogram(xs[0], 0, 0, 0, ffi.Vec{Buf: hist.Buf, Off: hist.Off, N: 1})
		},
		"bits 17":    func() error { return be.AbsHistogram(xs[0], 0, 17, 0, big.View) },
		"shift 32":   func() error { return be.AbsHistogram(xs[0], 32, 2, 0, hist) },
		"shift -1":   func() error { return be.AbsHistogram(xs[0], -1, 2, 0, hist) },
		"hist len":   func() error { return be.AbsHistogram(xs[0], 0, 3, 0, hist) },
		"hist nil":   func() error { return be.AbsHistogram(xs[0], 0, 2, 0, ffi.Vec{}) },
		"hist dtype": func() error { return be.AbsHistogram(xs[0], 0, 2, 0, i32.View) },
		"x dtype":    func() error { return be.AbsHistogram(i32.View, 0, 2, 0, hist) },
		"x nil buf":  func() error { return be.AbsHistogram(ffi.Vec{}, 0, 2, 0, hist) },
	} {
		if err := call(); err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if !slices.Equal(hr.U64(t), []uint64{1, 2, 3, 4}) {
			t.Fatalf("%s: hist written", name)
		}
	}
}

// checkForeign: a buffer of another backend is refused by every op.
func checkForeign(t *testing.T, be ffi.Backend, dst *region, foreign ffi.Vec, xs []ffi.Vec) {
	t.Helper()
	if be.TiesTrim(dst.View, foreign, 0.1) == nil ||
		be.TiesMerge(dst.View, []ffi.Vec{xs[0], foreign}, []float32{0, 0}) == nil ||
		be.TallConsensus(dst.View, ffi.Vec{}, []ffi.Vec{foreign}, []float32{0.3}, 1) == nil ||
		be.AbsHistogram(foreign, 0, 2, 0, newU64(t, be, newRNG(t), make([]uint64, 4)).View) == nil {
		t.Fatal("a buffer of another backend was accepted")
	}
	poisoned(t, dst)
}
