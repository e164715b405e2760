package ffi

// HostView: ops read caller memory in place with the same results as from
// uploaded buffers, and nothing writes through a view. The memory is an
// anonymous mapping made read-only, as a checkpoint's mapping is, so a
// stray write would fault.

import (
	"math"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// readOnlyMapping maps b's length, copies b in and makes it read-only.
func readOnlyMapping(t *testing.T, b []byte) []byte {
	t.Helper()
	size := (len(b) + 4095) &^ 4095
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	copy(m, b)
	if err := unix.Mprotect(m, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	return m[:len(b)]
}

func TestHostView(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be Backend) {
		rng := newRNG(t)
		const n = 70001
		ft, base := randF32(rng, n, 1), randF32(rng, n, 1)
		baseH := make([]uint16, n)
		for i, v := range base {
			baseH[i] = F32ToBF16(v)
		}
		// Element 1 onwards of each mapping: aligned to the element size, not to 64 bytes.
		ftMap := readOnlyMapping(t, F32Bytes(append([]float32{0}, ft...)))[4:]
		baseMap := readOnlyMapping(t, U16Bytes(append([]uint16{0}, baseH...)))[2:]
		ftV, ok1 := HostView(be, F32, ftMap)
		baseV, ok2 := HostView(be, BF16, baseMap)
		if !ok1 || !ok2 || ftV.N != n || baseV.N != n || !IsHostView(ftV) {
			t.Fatalf("HostView: ok %v %v, lengths %d %d", ok1, ok2, ftV.N, baseV.N)
		}
		if _, ok := HostView(be, F32, ftMap[1:5]); ok {
			t.Fatal("HostView accepted memory not aligned to the element size")
		}

		// The same ops on uploaded copies are the reference.
		ftR, baseR := newRegion(t, be, rng, F32, n), newRegion(t, be, rng, BF16, n)
		ftR.setF32(t, ft)
		baseR.set(t, U16Bytes(baseH))
		got, want := newRegion(t, be, rng, F32, n), newRegion(t, be, rng, F32, n)
		for _, step := range []struct {
			name      string
			view, cpy func() error
		}{
			{"sub", func() error { return be.Sub(got.View, ftV, baseV) },
				func() error { return be.Sub(want.View, ftR.View, baseR.View) }},
			{"convert", func() error { return be.Convert(got.View, baseV) },
				func() error { return be.Convert(want.View, baseR.View) }},
			{"wsum", func() error { return be.WeightedSum(got.View, []Vec{ftV, ftR.View}, []float32{0.5, -2}) },
				func() error { return be.WeightedSum(want.View, []Vec{ftR.View, ftR.View}, []float32{0.5, -2}) }},
			{"ties merge", func() error { return be.TiesMerge(got.View, []Vec{ftV, ftR.View}, []float32{0.3, 0.6}) },
				func() error { return be.TiesMerge(want.View, []Vec{ftR.View, ftR.View}, []float32{0.3, 0.6}) }},
		} {
			if err1, err2 := step.view(), step.cpy(); err1 != nil || err2 != nil {
				t.Fatalf("%s: %v / %v", step.name, err1, err2)
			}
			g, w := got.F32(t), want.F32(t)
			if !slices.EqualFunc(g, w, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
				t.Fatalf("%s: a view gives other results than a copy", step.name)
			}
		}
		s1, err1 := be.SumSq(ftV)
		s2, err2 := be.SumSq(ftR.View)
		if err1 != nil || err2 != nil || s1 != s2 {
			t.Fatalf("sumsq: %v (%v) vs %v (%v)", s1, err1, s2, err2)
		}
		h1, h2 := make([]uint64, 1<<15), make([]uint64, 1<<15)
		if be.AbsHistogram(ftV, 16, 15, 0, h1) != nil || be.AbsHistogram(ftR.View, 16, 15, 0, h2) != nil || !slices.Equal(h1, h2) {
			t.Fatal("abs histogram: a view differs from a copy")
		}
		back := make([]byte, 4*n)
		if err := be.Download(back, ftV); err != nil || !slices.Equal(back, F32Bytes(ft)) {
			t.Fatalf("download of a view: %v", err)
		}

		// Writes through a view are refused before anything is written.
		for name, call := range map[string]func() error{
			"upload":      func() error { return be.Upload(ftV, F32Bytes(ft)) },
			"sub dst":     func() error { return be.Sub(ftV, ftR.View, baseR.View) },
			"convert dst": func() error { return be.Convert(ftV, ftR.View) },
			"scale":       func() error { return be.Scale(ftV, 2) },
			"axpy y":      func() error { return be.Axpy(1, ftR.View, ftV) },
			"wsum dst":    func() error { return be.WeightedSum(ftV, []Vec{ftR.View}, []float32{1}) },
			"trim dst":    func() error { return be.TiesTrim(ftV, ftR.View, 0.5) },
			"merge dst":   func() error { return be.TiesMerge(ftV, []Vec{ftR.View}, []float32{0.5}) },
			"tall dst":    func() error { return be.TallConsensus(ftV, Vec{}, []Vec{ftR.View}, []float32{0.5}, 1) },
			"sgemm C": func() error {
				return be.Sgemm(false, false, 1, 1, 1, 1, ftR.Mat(1), ftR.Mat(1), 0, Mat{Buf: ftV.Buf, LD: 1})
			},
		} {
			err := call()
			if err == nil || !strings.Contains(err.Error(), "read-only host view") {
				t.Fatalf("%s through a view: err = %v", name, err)
			}
		}

		be.Free(ftV.Buf)
		if _, err := be.SumSq(ftV); err == nil {
			t.Fatal("a freed view was accepted")
		}
		if !slices.Equal(ftMap[:4*n], F32Bytes(ft)) {
			t.Fatal("Free of a view changed the caller's memory")
		}
	})
}
