package ffi

// Conformance of the merge-method ops (AbsHistogram, TiesTrim, TiesMerge,
// TallConsensus) and of TopKAbsThreshold on every backend. Trim, histogram
// and TALL are checked bit for bit (the references repeat the header's
// float32 operations); the TIES mean against float64.

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
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
func tiesInputs(t *testing.T, be Backend, rng *rand.Rand, count, n int, specials bool) ([]Vec, [][]float32) {
	t.Helper()
	vs := make([]Vec, count)
	vals := make([][]float32, count)
	for k := range vs {
		vals[k] = tiesData(rng, n, specials)
		r := newRegion(t, be, rng, F32, n)
		r.setF32(t, vals[k])
		vs[k] = r.View
	}
	return vs, vals
}

// sameF32 reports whether got is want bit for bit, any NaN matching any NaN
// except the guard pattern (an element left unwritten).
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

func TestTiesTrim(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		for _, n := range testSizes {
			x := tiesData(rng, n, true)
			xr := newRegion(t, be, rng, F32, n)
			xr.setF32(t, x)
			for _, thr := range []float32{0, 0.3, 0.5, nan32, inf32} {
				dst := newRegion(t, be, rng, F32, n)
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
				if want := tiesTrim1(x[i], 0.5); !sameF32(g, want) {
					t.Fatalf("in place n=%d: dst[%d] = %v, want %v", n, i, g, want)
				}
			}
		}
	})
}

// tiesMergeRef is the header's definition: sign election on the in-order
// float32 sum, disjoint mean in float64, NaN if any trimmed value is NaN.
func tiesMergeRef(vals [][]float32, thr []float32, n int) []float64 {
	want := make([]float64, n)
	for i := range want {
		var s float32
		for t := range vals {
			s += tiesTrim1(vals[t][i], thr[t])
		}
		up := s >= 0 // a NaN sum (+Inf + -Inf) elects -
		var sum float64
		agree := 0
		for t := range vals {
			v := tiesTrim1(vals[t][i], thr[t])
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

func TestTiesMerge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		for _, count := range []int{1, 2, 3, 8} {
			for _, n := range testSizes {
				specials := n%2 == 1
				xs, vals := tiesInputs(t, be, rng, count, n, specials)
				thr := make([]float32, count)
				for k := range thr {
					thr[k] = []float32{0, 0.5, 0.25, 0.9}[k%4] // 0 keeps everything
				}
				dst := newRegion(t, be, rng, F32, n)
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
					if err := be.Download(F32Bytes(got), xs[0]); err != nil {
						t.Fatal(err)
					}
					checkMerged(t, "merge in place", got, want)
				}
			}
		}
	})
}

// Large task vectors: the CPU backend splits them over its threads, and on
// one thread the kernels write the 16 MiB output with streaming stores.
func TestTiesTallLarge(t *testing.T) {
	const n = 1<<22 + 3
	forEachBackend(t, func(t *testing.T, be Backend) {
		if be.Name() == "ref" {
			t.Skip("no threads or streaming stores")
		}
		single, err := NewCPU(be.Name(), 1)
		if err != nil {
			t.Fatal(err)
		}
		rng := newRNG(t)
		xs, vals := tiesInputs(t, be, rng, 2, n, true)
		thr, lambdas := []float32{0.25, 0}, []float32{0.3, 0.5}
		wantM := tiesMergeRef(vals, thr, n)
		wantD, wantC := tallRef(vals, lambdas, 2, n)
		for _, be := range []Backend{be, single} {
			dst := newRegion(t, be, rng, F32, n)
			if err := be.TiesTrim(dst.View, xs[0], 0.5); err != nil {
				t.Fatal(err)
			}
			for i, g := range dst.F32(t) {
				if want := tiesTrim1(vals[0][i], 0.5); !sameF32(g, want) {
					t.Fatalf("trim: dst[%d] = %v, want %v", i, g, want)
				}
			}
			if err := be.TiesMerge(dst.View, xs, thr); err != nil {
				t.Fatal(err)
			}
			checkMerged(t, "merge", dst.F32(t), wantM)
			counts := newRegion(t, be, rng, U8, n)
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
	})
}

func TestTiesMergeCrafted(t *testing.T) {
	// Columns: all zero -> 0; exact cancellation elects +; a NaN input ->
	// NaN; trimmed away -> the other side; +Inf + -Inf sums to NaN, which
	// elects -; all negative -> their mean; a lone -0 -> 0.
	a := []float32{0, 1, 0.5, nan32, 0.001, inf32, -2, float32(math.Copysign(0, -1))}
	b := []float32{0, -1, -0.25, 1, -0.001, -inf32, -4, 0}
	want := []float32{0, 1, 0.5, nan32, 0.001, -inf32, -3, 0}
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		ra, rb := newRegion(t, be, rng, F32, len(a)), newRegion(t, be, rng, F32, len(b))
		ra.setF32(t, a)
		rb.setF32(t, b)
		dst := newRegion(t, be, rng, F32, len(a))
		if err := be.TiesMerge(dst.View, []Vec{ra.View, rb.View}, []float32{0, 0.01}); err != nil {
			t.Fatal(err)
		}
		for i, g := range dst.F32(t) {
			if !sameF32(g, want[i]) {
				t.Fatalf("column %d: got %v, want %v", i, g, want[i])
			}
		}
	})
}

func TestAbsHistogram(t *testing.T) {
	digits := []struct{ shift, bits int }{{16, 15}, {0, 16}, {21, 10}, {10, 11}, {0, 10}, {31, 1}, {28, 8}, {20, 12}}
	// 300007 elements take the kernels' sub-histogram path at 15 and 16 bits.
	sizes := append(slices.Clone(testSizes), 300007)
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		for _, n := range sizes {
			x := tiesData(rng, n, true)
			xr := newRegion(t, be, rng, F32, n)
			xr.setF32(t, x)
			for _, d := range digits {
				hi := d.shift + d.bits
				prefixes := []uint32{0, 1 << max(31-hi, 0)} // everything (or the low bins), nothing
				if n > 0 && hi < 32 {
					prefixes = append(prefixes, (math.Float32bits(x[n/2])&^(1<<31))>>hi)
				}
				for _, prefix := range prefixes {
					want := make([]uint64, 1<<d.bits)
					got := make([]uint64, 1<<d.bits)
					for b := range want { // the op adds to what is there
						want[b], got[b] = uint64(b), uint64(b)
					}
					for _, v := range x {
						u := math.Float32bits(v) &^ (1 << 31)
						if hi >= 32 || u>>hi == prefix {
							want[(u>>d.shift)&(1<<d.bits-1)]++
						}
					}
					if err := be.AbsHistogram(xr.View, d.shift, d.bits, prefix, got); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("n=%d shift=%d bits=%d prefix=%#x: counts differ", n, d.shift, d.bits, prefix)
					}
				}
			}
		}
	})
}

// kthLargestAbs is the reference: sort |x| (NaN above +Inf) descending.
func kthLargestAbs(vals [][]float32, k int) uint32 {
	var all []uint32
	for _, v := range vals {
		for _, x := range v {
			all = append(all, math.Float32bits(x)&^(1<<31))
		}
	}
	slices.Sort(all)
	return all[len(all)-k]
}

func TestTopKAbsThreshold(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		// The last total is large enough for the CPU backends to count it on
		// two threads, split inside the first vector.
		lens := [][]int{{1}, {5, 0, 3}, {1000, 17, 4099}, {65537, 257, 33, 200003}, {400003, 0, 150001}}
		for _, lens := range lens {
			var xs []Vec
			var vals [][]float32
			total := 0
			for _, n := range lens {
				v := tiesData(rng, n, false)
				for i := range v { // many duplicates: a few hundred distinct magnitudes
					if rng.IntN(2) == 0 {
						v[i] = float32(rng.IntN(300)-150) / 64
					}
				}
				r := newRegion(t, be, rng, F32, n)
				r.setF32(t, v)
				xs, vals = append(xs, r.View), append(vals, v)
				total += n
			}
			ks := []int{1, total, 1 + total/2, 1 + rng.IntN(total), 1 + rng.IntN(total)}
			for _, k := range ks {
				got, err := TopKAbsThreshold(be, xs, int64(k))
				if err != nil {
					t.Fatal(err)
				}
				want := math.Float32frombits(kthLargestAbs(vals, k))
				if k == total {
					want = 0 // keep everything
				}
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("lens %v k=%d: threshold %v, want %v", lens, k, got, want)
				}
				kept := 0
				for _, v := range vals {
					for _, x := range v {
						if !(abs32(x) < got) {
							kept++
						}
					}
				}
				if kept < k {
					t.Fatalf("lens %v k=%d: threshold %v keeps %d", lens, k, got, kept)
				}
			}
			for _, c := range []struct {
				k    int64
				want float32
			}{{0, inf32}, {-3, inf32}, {int64(total) + 5, 0}} {
				if got, err := TopKAbsThreshold(be, xs, c.k); err != nil || got != c.want {
					t.Fatalf("k=%d: got %v, %v; want %v", c.k, got, err, c.want)
				}
			}
		}
	})
}

func TestTopKSplitVecs(t *testing.T) {
	buf := &hostBuffer{n: 100, dt: F32}
	for _, lens := range [][]int{{10}, {3, 0, 7}, {1, 1, 1, 1, 1}, {50, 25, 25}} {
		var xs []Vec
		total, off := 0, 0
		for _, n := range lens {
			xs = append(xs, Vec{Buf: buf, Off: off, N: n})
			off, total = off+n+1, total+n
		}
		for parts := 1; parts <= 4; parts++ {
			runs := splitVecs(xs, int64(total), parts)
			var flat, sizes []int
			for _, run := range runs {
				size := 0
				for _, v := range run {
					for i := range v.N {
						flat = append(flat, v.Off+i)
					}
					size += v.N
				}
				sizes = append(sizes, size)
			}
			var want []int
			for _, x := range xs {
				for i := range x.N {
					want = append(want, x.Off+i)
				}
			}
			per := (total + parts - 1) / parts
			if len(runs) != parts || !slices.Equal(flat, want) || slices.Max(sizes) > per {
				t.Fatalf("lens %v into %d: sizes %v", lens, parts, sizes)
			}
		}
	}
}

func TestTopKSpecials(t *testing.T) {
	x := []float32{nan32, inf32, -inf32, 3, -3, float32(math.Copysign(0, -1)), 0, 1e-45}
	cases := []struct {
		k    int64
		want float32
	}{{1, inf32}, {2, inf32}, {3, inf32}, {4, 3}, {5, 3}, {6, 1e-45}, {7, 0}, {8, 0}}
	forEachBackend(t, func(t *testing.T, be Backend) {
		r := newRegion(t, be, newRNG(t), F32, len(x))
		r.setF32(t, x)
		for _, c := range cases {
			got, err := TopKAbsThreshold(be, []Vec{r.View}, c.k)
			if err != nil || math.Float32bits(got) != math.Float32bits(c.want) {
				t.Fatalf("k=%d: got %v (%v), want %v", c.k, got, err, c.want)
			}
		}
	})
}

func TestTiesThreshold(t *testing.T) {
	if keepCount(0.07, 100) != 7 || keepCount(0.2, 10) != 2 || keepCount(0.25, 10) != 3 || keepCount(1, 9) != 9 {
		t.Fatal("keepCount rounding")
	}
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		xs, vals := tiesInputs(t, be, rng, 3, 1000, false)
		for i := range vals[0] { // distinct magnitudes: exactly k kept
			vals[0][i] = float32(i+1) * 1e-3
		}
		if err := be.Upload(xs[0], F32Bytes(vals[0])); err != nil {
			t.Fatal(err)
		}
		thr, err := TiesThreshold(be, xs[:1], 0.2)
		if err != nil || thr != vals[0][800] {
			t.Fatalf("keep 20%% of 1..1000 (x1e-3): %v, %v; want %v", thr, err, vals[0][800])
		}
		if thr, err := TiesThreshold(be, xs, 1); err != nil || thr != 0 {
			t.Fatalf("keep all: %v, %v", thr, err)
		}
		if thr, err := TiesThreshold(be, xs, 0); err != nil || thr != inf32 {
			t.Fatalf("keep none: %v, %v", thr, err)
		}
		for _, f := range []float64{-0.1, 1.5, math.NaN()} {
			if _, err := TiesThreshold(be, xs, f); err == nil {
				t.Fatalf("keep fraction %v accepted", f)
			}
		}
	})
}

// tallRef is the header's definition in float32 (it is exact arithmetic on
// the same operations, so results must match bit for bit).
func tallRef(vals [][]float32, lambdas []float32, minAgree, n int) ([]float32, []byte) {
	dst, counts := make([]float32, n), make([]byte, n)
	for i := range n {
		var mtl float32
		for t := range vals {
			mtl += vals[t][i]
		}
		c := 0
		for t := range vals {
			x := vals[t][i]
			if abs32(x) > lambdas[t]*abs32(mtl-x) {
				c++
			}
		}
		counts[i] = byte(c)
		if c >= minAgree || mtl != mtl {
			dst[i] = mtl
		}
	}
	return dst, counts
}

func TestTallConsensus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
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
					dst, counts := newRegion(t, be, rng, F32, n), newRegion(t, be, rng, U8, n)
					d, c := dst.View, counts.View
					if mode == 1 {
						d = Vec{}
					}
					if mode == 2 {
						c = Vec{}
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
	})
}

func TestTallConsensusNoOutputs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		xs, _ := tiesInputs(t, be, newRNG(t), 2, 10, false)
		if err := be.TallConsensus(Vec{}, Vec{}, xs, []float32{0.3, 0.3}, 2); err != nil {
			t.Fatal(err)
		}
	})
}

// Bad arguments return an error and write nothing.
func TestTiesBadArgs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		xs, _ := tiesInputs(t, be, rng, 3, 20, false)
		dst := newRegion(t, be, rng, F32, 20)
		short := newRegion(t, be, rng, F32, 19)
		u8 := newRegion(t, be, rng, U8, 20)
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
		checkForeign(t, be, dst, foreign[0], xs)
		th3 := []float32{0.1, 0.1, 0.1}
		for name, call := range map[string]func() error{
			"trim length":        func() error { return be.TiesTrim(dst.View, short.View, 0.1) },
			"trim dtype":         func() error { return be.TiesTrim(dst.View, i32.View, 0.1) },
			"trim nil":           func() error { return be.TiesTrim(dst.View, Vec{}, 0.1) },
			"merge no inputs":    func() error { return be.TiesMerge(dst.View, nil, nil) },
			"merge thresholds":   func() error { return be.TiesMerge(dst.View, xs, th3[:2]) },
			"merge length":       func() error { return be.TiesMerge(dst.View, append(slices.Clone(xs), short.View), append(th3, 0)) },
			"merge dst dtype":    func() error { return be.TiesMerge(i32.View, xs, th3) },
			"merge input dtype":  func() error { return be.TiesMerge(dst.View, []Vec{i32.View}, th3[:1]) },
			"merge out of range": func() error { return be.TiesMerge(Vec{Buf: dst.buf, Off: dst.buf.Len() - 5, N: 20}, xs, th3) },
			"tall lambdas":       func() error { return be.TallConsensus(dst.View, u8.View, xs, th3[:1], 1) },
			"tall no inputs":     func() error { return be.TallConsensus(dst.View, u8.View, nil, nil, 1) },
			"tall 256 inputs": func() error {
				many := make([]Vec, 256)
				for i := range many {
					many[i] = xs[0]
				}
				return be.TallConsensus(dst.View, u8.View, many, make([]float32, 256), 1)
			},
			"tall counts dtype": func() error { return be.TallConsensus(dst.View, i32.View, xs, th3, 1) },
			"tall counts f32":   func() error { return be.TallConsensus(dst.View, short.View, xs, th3, 1) },
			"tall dst length":   func() error { return be.TallConsensus(short.View, u8.View, xs, th3, 1) },
			"tall dst dtype":    func() error { return be.TallConsensus(u8.View, Vec{}, xs, th3, 1) },
			"tall length":       func() error { return be.TallConsensus(dst.View, u8.View, []Vec{xs[0], short.View}, th3[:2], 1) },
		} {
			if err := call(); err == nil {
				t.Fatalf("%s: accepted", name)
			}
			poisoned(t, dst)
			if b := u8.bytes(t); slices.ContainsFunc(b, func(v byte) bool { return v != 0xAB }) {
				t.Fatalf("%s: counts written", name)
			}
		}
		hist := []uint64{1, 2, 3, 4}
		for name, call := range map[string]func() error{
			"bits 0":    func() error { return be.AbsHistogram(xs[0], 0, 0, 0, hist[:1]) },
			"bits 17":   func() error { return be.AbsHistogram(xs[0], 0, 17, 0, make([]uint64, 1<<17)) },
			"shift 32":  func() error { return be.AbsHistogram(xs[0], 32, 2, 0, hist) },
			"shift -1":  func() error { return be.AbsHistogram(xs[0], -1, 2, 0, hist) },
			"hist len":  func() error { return be.AbsHistogram(xs[0], 0, 3, 0, hist) },
			"hist nil":  func() error { return be.AbsHistogram(xs[0], 0, 2, 0, nil) },
			"x dtype":   func() error { return be.AbsHistogram(i32.View, 0, 2, 0, hist) },
			"x nil buf": func() error { return be.AbsHistogram(Vec{}, 0, 2, 0, hist) },
		} {
			if err := call(); err == nil {
				t.Fatalf("%s: accepted", name)
			}
			if !slices.Equal(hist, []uint64{1, 2, 3, 4}) {
				t.Fatalf("%s: hist written", name)
			}
		}
		if _, err := TopKAbsThreshold(be, []Vec{xs[0], i32.View}, 3); err == nil {
			t.Fatal("top-k over an I32 vec accepted")
		}
	})
}

// checkForeign: a buffer of another backend is refused by every op.
func checkForeign(t *testing.T, be Backend, dst *region, foreign Vec, xs []Vec) {
	t.Helper()
	if be.TiesTrim(dst.View, foreign, 0.1) == nil ||
		be.TiesMerge(dst.View, []Vec{xs[0], foreign}, []float32{0, 0}) == nil ||
		be.TallConsensus(dst.View, Vec{}, []Vec{foreign}, []float32{0.3}, 1) == nil ||
		be.AbsHistogram(foreign, 0, 2, 0, make([]uint64, 4)) == nil {
		t.Fatal("a buffer of another backend was accepted")
	}
	poisoned(t, dst)
}
