package conformance

// HostView: ops read caller memory in place with the same results as from
// uploaded buffers, and nothing writes through a view. The memory is an
// anonymous mapping made read-only, as a checkpoint's mapping is, so a
// stray write would fault.

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/half"
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

func testHostView(t *testing.T, be ffi.Backend) {
	if _, ok := be.(ffi.HostMemory); !ok {
		if _, ok := ffi.HostView(be, ffi.F32, make([]byte, 4)); ok {
			t.Fatal("HostView gave a view on a backend without host memory")
		}
		t.Skipf("backend %s does not compute on host memory", be.Name())
	}
	rng := newRNG(t)
	const n = 70001
	ft, base := randF32(rng, n, 1), randF32(rng, n, 1)
	baseH := make([]uint16, n)
	for i, v := range base {
		baseH[i] = half.F32ToBF16(v)
	}
	// Element 1 onwards of each mapping: aligned to the element size, not to 64 bytes.
	ftMap := readOnlyMapping(t, ffi.F32Bytes(append([]float32{0}, ft...)))[4:]
	baseMap := readOnlyMapping(t, ffi.U16Bytes(append([]uint16{0}, baseH...)))[2:]
	ftV, ok1 := ffi.HostView(be, ffi.F32, ftMap)
	baseV, ok2 := ffi.HostView(be, ffi.BF16, baseMap)
	if !ok1 || !ok2 || ftV.N != n || baseV.N != n || !ffi.IsHostView(ftV) {
		t.Fatalf("HostView: ok %v %v, lengths %d %d", ok1, ok2, ftV.N, baseV.N)
	}
	if _, ok := ffi.HostView(be, ffi.F32, ftMap[1:5]); ok {
		t.Fatal("HostView accepted memory not aligned to the element size")
	}

	// The same ops on uploaded copies are the reference.
	ftR, baseR := newRegion(t, be, rng, ffi.F32, n), newRegion(t, be, rng, ffi.BF16, n)
	ftR.setF32(t, ft)
	baseR.set(t, ffi.U16Bytes(baseH))
	got, want := newRegion(t, be, rng, ffi.F32, n), newRegion(t, be, rng, ffi.F32, n)
	for _, step := range []struct {
		name      string
		view, cpy func() error
	}{
		{"sub", func() error { return be.Sub(got.View, ftV, baseV) },
			func() error { return be.Sub(want.View, ftR.View, baseR.View) }},
		{"convert", func() error { return be.Convert(got.View, baseV) },
			func() error { return be.Convert(want.View, baseR.View) }},
		{"wsum", func() error { return be.WeightedSum(got.View, []ffi.Vec{ftV, ftR.View}, []float32{0.5, -2}) },
			func() error { return be.WeightedSum(want.View, []ffi.Vec{ftR.View, ftR.View}, []float32{0.5, -2}) }},
		{"ties merge", func() error { return be.TiesMerge(got.View, []ffi.Vec{ftV, ftR.View}, []float32{0.3, 0.6}) },
			func() error { return be.TiesMerge(want.View, []ffi.Vec{ftR.View, ftR.View}, []float32{0.3, 0.6}) }},
	} {
		if err1, err2 := step.view(), step.cpy(); err1 != nil || err2 != nil {
			t.Fatalf("%s: %v / %v", step.name, err1, err2)
		}
		g, w := got.F32(t), want.F32(t)
		if !slices.EqualFunc(g, w, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
			t.Fatalf("%s: a view gives other results than a copy", step.name)
		}
	}
	if s1, s2 := sumSq(t, be, rng, ftV), sumSq(t, be, rng, ftR.View); s1 != s2 {
		t.Fatalf("sumsq: %v vs %v", s1, s2)
	}
	h1, h2 := newU64(t, be, rng, make([]uint64, 1<<15)), newU64(t, be, rng, make([]uint64, 1<<15))
	if be.AbsHistogram(ftV, 16, 15, 0, h1.View) != nil || be.AbsHistogram(ftR.View, 16, 15, 0, h2.View) != nil ||
		!slices.Equal(h1.U64(t), h2.U64(t)) {
		t.Fatal("abs histogram: a view differs from a copy")
	}
	back := make([]byte, 4*n)
	if err := be.Download(back, ftV); err != nil || !slices.Equal(back, ffi.F32Bytes(ft)) {
		t.Fatalf("download of a view: %v", err)
	}

	// Writes through a view are refused before anything is written.
	for name, call := range map[string]func() error{
		"upload":      func() error { return be.Upload(ftV, ffi.F32Bytes(ft)) },
		"sub dst":     func() error { return be.Sub(ftV, ftR.View, baseR.View) },
		"convert dst": func() error { return be.Convert(ftV, ftR.View) },
		"scale":       func() error { return be.Scale(ftV, 2) },
		"zero":        func() error { return be.Zero(ftV) },
		"dare drop":   func() error { return be.DareDrop(ftV, 1, 0, 0.5) },
		"axpy y":      func() error { return be.Axpy(1, ftR.View, ftV) },
		"wsum dst":    func() error { return be.WeightedSum(ftV, []ffi.Vec{ftR.View}, []float32{1}) },
		"trim dst":    func() error { return be.TiesTrim(ftV, ftR.View, 0.5) },
		"merge dst":   func() error { return be.TiesMerge(ftV, []ffi.Vec{ftR.View}, []float32{0.5}) },
		"tall dst":    func() error { return be.TallConsensus(ftV, ffi.Vec{}, []ffi.Vec{ftR.View}, []float32{0.5}, 1) },
		"sgemm C": func() error {
			return be.Sgemm(false, false, 1, 1, 1, 1, ftR.Mat(1), ftR.Mat(1), 0, ffi.Mat{Buf: ftV.Buf, LD: 1})
		},
	} {
		err := call()
		if err == nil || !strings.Contains(err.Error(), "read-only host view") {
			t.Fatalf("%s through a view: err = %v", name, err)
		}
	}

	be.Free(ftV.Buf)
	if err := be.SumSq(ftV, newRegion(t, be, rng, ffi.F64, 1).View); err == nil {
		t.Fatal("a freed view was accepted")
	}
	if !slices.Equal(ftMap[:4*n], ffi.F32Bytes(ft)) {
		t.Fatal("Free of a view changed the caller's memory")
	}
}
