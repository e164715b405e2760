package conformance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/ffi"
)

// gemmTol bounds ||C - C64|| / ||C64||. fp32 accumulation over k terms has a
// relative error of order sqrt(k) * 2^-24 (about 1.5e-6 at k = 600, the
// deepest case here), so 1e-5 leaves room without hiding a wrong element.
const gemmTol = 1e-5

// gemmCase is one GEMM: the shape, the transposes, alpha/beta, and pad extra
// elements per row in every leading dimension.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int
}

func (g gemmCase) String() string {
	tr := func(t bool) string {
		if t {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s_%dx%dx%d_a%g_b%g_pad%d", tr(g.transA), tr(g.transB), g.m, g.n, g.k, g.alpha, g.beta, g.pad)
}

// lds returns the leading dimensions of A, B and C.
func (g gemmCase) lds() (lda, ldb, ldc int) {
	_, ac, _, bc := ffi.GemmShapes(g.transA, g.transB, g.m, g.n, g.k)
	return max(ac, 1) + g.pad, max(bc, 1) + g.pad, max(g.n, 1) + g.pad
}

// gemmMatLen is the span of a rows x cols matrix with leading dimension ld.
func gemmMatLen(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// gemmHostMat is a rows x cols matrix of values from fill with guardNaN in the
// gaps between rows: a kernel that reads a gap gets NaN into C.
func gemmHostMat(rows, cols, ld int, fill func() float32) []float32 {
	x := make([]float32, gemmMatLen(rows, cols, ld))
	for i := range x {
		if i%ld < cols {
			x[i] = fill()
		} else {
			x[i] = math.Float32frombits(guardNaN)
		}
	}
	return x
}

func gemmUniform(rng *rand.Rand) func() float32 {
	return func() float32 { return 2*rng.Float32() - 1 }
}

func gemmPoison() float32 { return math.Float32frombits(guardNaN) }

// gemm64 is alpha*op(A)op(B) + beta*C0 in float64 as an m x n dense matrix
// (beta == 0 ignores C0, k == 0 or alpha == 0 ignores A and B).
func gemm64(g gemmCase, a, b, c0 []float32) []float64 {
	lda, ldb, ldc := g.lds()
	out := make([]float64, g.m*g.n)
	for i := range g.m {
		for j := range g.n {
			var s float64
			for p := 0; p < g.k && g.alpha != 0; p++ {
				var x, y float32
				if g.transA {
					x = a[p*lda+i]
				} else {
					x = a[i*lda+p]
				}
				if g.transB {
					y = b[j*ldb+p]
				} else {
					y = b[p*ldb+j]
				}
				s += float64(x) * float64(y)
			}
			v := float64(g.alpha) * s
			if g.beta != 0 {
				v += float64(g.beta) * float64(c0[i*ldc+j])
			}
			out[i*g.n+j] = v
		}
	}
	return out
}

// gemmDense extracts the m x n result from C and fails if a gap changed.
func gemmDense(t *testing.T, c []float32, m, n, ldc int) []float32 {
	t.Helper()
	out := make([]float32, 0, m*n)
	for i, v := range c {
		if i%ldc < n {
			out = append(out, v)
		} else if math.Float32bits(v) != guardNaN {
			t.Fatalf("C gap element %d (row %d, col %d) written", i, i/ldc, i%ldc)
		}
	}
	return out
}

// gemmOperands uploads A, B and C (batch entries at the given strides, stride
// 0 sharing one entry) into guarded regions at unaligned offsets. A and B are
// NaN-poisoned when the op must not read them; C when beta == 0.
type gemmOperands struct {
	a, b, c          []float32
	ra, rb, rc       *region
	sa, sb, sc       int
	lda, ldb, ldc    int
	lenA, lenB, lenC int
	bf16             bool // the reference rounds A and B to bf16 (SgemmBF16)
}

func newGemmOperands(t *testing.T, be ffi.Backend, rng *rand.Rand, g gemmCase, batch, sa, sb int) *gemmOperands {
	t.Helper()
	o := &gemmOperands{sa: sa, sb: sb}
	o.lda, o.ldb, o.ldc = g.lds()
	ar, ac, br, bc := ffi.GemmShapes(g.transA, g.transB, g.m, g.n, g.k)
	o.lenA, o.lenB, o.lenC = gemmMatLen(ar, ac, o.lda), gemmMatLen(br, bc, o.ldb), gemmMatLen(g.m, g.n, o.ldc)
	o.sc = o.lenC + 3 // a guard gap between C entries
	abFill := gemmUniform(rng)
	if g.k == 0 || g.alpha == 0 {
		abFill = gemmPoison
	}
	cFill := gemmUniform(rng)
	if g.beta == 0 {
		cFill = gemmPoison
	}
	o.a = gemmBatch(batch, sa, o.lenA, func() []float32 { return gemmHostMat(ar, ac, o.lda, abFill) })
	o.b = gemmBatch(batch, sb, o.lenB, func() []float32 { return gemmHostMat(br, bc, o.ldb, abFill) })
	o.c = gemmBatch(batch, o.sc, o.lenC, func() []float32 { return gemmHostMat(g.m, g.n, o.ldc, cFill) })
	o.ra = newRegion(t, be, rng, ffi.F32, len(o.a))
	o.rb = newRegion(t, be, rng, ffi.F32, len(o.b))
	o.rc = newRegion(t, be, rng, ffi.F32, len(o.c))
	o.ra.setF32(t, o.a)
	o.rb.setF32(t, o.b)
	o.rc.setF32(t, o.c)
	return o
}

// gemmBatch lays out batch entries of length n at stride s (guardNaN between).
func gemmBatch(batch, s, n int, entry func() []float32) []float32 {
	total := n
	if batch > 1 {
		total = (batch-1)*s + n
	}
	x := make([]float32, total)
	for i := range x {
		x[i] = math.Float32frombits(guardNaN)
	}
	for q := range batch {
		copy(x[q*s:], entry())
		if s == 0 {
			break
		}
	}
	return x
}

// check compares every batch entry of C with the float64 reference.
func (o *gemmOperands) check(t *testing.T, g gemmCase, batch int) {
	t.Helper()
	got := o.rc.F32(t) // also checks the guards around C
	if batch == 0 {
		for i, v := range got {
			if math.Float32bits(v) != guardNaN {
				t.Fatalf("batch 0 wrote C element %d", i)
			}
		}
	}
	for q := range batch {
		lo := q * o.sc
		for i := lo + o.lenC; q+1 < batch && i < lo+o.sc; i++ {
			if math.Float32bits(got[i]) != guardNaN {
				t.Fatalf("entry %d: gap after C written", q)
			}
		}
		a, b := o.a[q*o.sa:], o.b[q*o.sb:]
		if o.bf16 {
			a, b = roundBF16(a), roundBF16(b)
		}
		want := gemm64(g, a, b, o.c[lo:])
		dense := gemmDense(t, got[lo:lo+o.lenC], g.m, g.n, o.ldc)
		if e := relErr(dense, want); e > gemmTol {
			t.Fatalf("entry %d: relative error %.3g > %g", q, e, gemmTol)
		}
	}
}

// gemmCases is the case list: fixed shapes (tiny, odd, prime, one larger)
// plus random ones, every one under all four transpose pairs, cycling
// alpha/beta and leading-dimension padding.
func gemmCases(rng *rand.Rand) []gemmCase {
	shapes := [][3]int{
		{1, 1, 1}, {1, 1, 7}, {2, 3, 1}, {3, 1, 2}, {7, 17, 33}, {17, 7, 3}, {33, 67, 17},
		{67, 33, 129}, {129, 17, 67}, {1, 257, 33}, {257, 1, 17}, {129, 129, 129},
		{257, 67, 33}, {300, 200, 500}, {7, 2053, 600}, // the last two run threaded
	}
	sizes := []int{1, 2, 3, 7, 17, 33, 67, 129, 257}
	for len(shapes) < 23 {
		s := [3]int{sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))], sizes[rng.IntN(len(sizes))]}
		if s[0]*s[1]*s[2] <= 1<<20 {
			shapes = append(shapes, s)
		}
	}
	ab := [][2]float32{{1, 0}, {0.75, -0.5}, {-1.25, 1}, {1, 1}, {2, 0}}
	var cases []gemmCase
	for i, s := range shapes {
		for tr := range 4 {
			x := ab[(i+tr)%len(ab)]
			cases = append(cases, gemmCase{transA: tr&2 != 0, transB: tr&1 != 0, m: s[0], n: s[1], k: s[2],
				alpha: x[0], beta: x[1], pad: (i + tr) % 4})
		}
	}
	return cases
}

func testGemm(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	runGemm(t, be, rng, gemmCases(rng), be.Sgemm, false)
}

// gemmOp is Sgemm's signature (Sgemm, SgemmBF16).
type gemmOp func(transA, transB bool, m, n, k int, alpha float32, a, b ffi.Mat, beta float32, c ffi.Mat) error

// runGemm runs every case of op as a subtest on guarded, poisoned
// operands, against the float64 product of bf16-rounded ones when bf16.
func runGemm(t *testing.T, be ffi.Backend, rng *rand.Rand, cases []gemmCase, op gemmOp, bf16 bool) {
	for _, g := range cases {
		t.Run(g.String(), func(t *testing.T) {
			o := newGemmOperands(t, be, rng, g, 1, 0, 0)
			o.bf16 = bf16
			if err := op(g.transA, g.transB, g.m, g.n, g.k, g.alpha,
				o.ra.Mat(o.lda), o.rb.Mat(o.ldb), g.beta, o.rc.Mat(o.ldc)); err != nil {
				t.Fatal(err)
			}
			o.check(t, g, 1)
		})
	}
}

// k == 0 and alpha == 0 give C = beta*C without reading A and B (poisoned
// with NaN here); beta == 0 over NaN-poisoned C gives zeros; empty C is a no-op.
func testGemmDegenerate(t *testing.T, be ffi.Backend) {
	cases := []gemmCase{
		{m: 5, n: 9, k: 0, alpha: 1, beta: 0, pad: 2},
		{m: 5, n: 9, k: 0, alpha: 1, beta: 3, pad: 0, transA: true},
		{m: 19, n: 40, k: 8, alpha: 0, beta: -0.5, pad: 1, transB: true},
		{m: 19, n: 40, k: 8, alpha: 0, beta: 0, pad: 1},
		{m: 0, n: 7, k: 3, alpha: 1, beta: 1},
		{m: 7, n: 0, k: 3, alpha: 1, beta: 1, transA: true, transB: true},
	}
	runGemm(t, be, newRNG(t), cases, be.Sgemm, false)
}

func testGemmStridedBatched(t *testing.T, be ffi.Backend) {
	type batchCase struct {
		g              gemmCase
		batch          int
		shareA, shareB bool
	}
	cases := []batchCase{
		{gemmCase{m: 7, n: 17, k: 33, alpha: 1, beta: 0, pad: 1}, 5, false, false},
		{gemmCase{m: 33, n: 7, k: 3, alpha: 0.5, beta: -1, transA: true}, 4, true, false},
		{gemmCase{m: 17, n: 67, k: 17, alpha: -1, beta: 1, transB: true, pad: 2}, 3, false, true},
		{gemmCase{m: 67, n: 129, k: 65, alpha: 1, beta: 0.5, transA: true, transB: true, pad: 3}, 6, false, false},
		{gemmCase{m: 257, n: 129, k: 300, alpha: 1, beta: 0}, 2, true, false}, // entries threaded one by one
		{gemmCase{m: 9, n: 9, k: 0, alpha: 1, beta: 2}, 3, false, false},
		{gemmCase{m: 4, n: 4, k: 4, alpha: 1, beta: 0}, 0, false, false},
	}
	rng := newRNG(t)
	for _, bc := range cases {
		g := bc.g
		t.Run(fmt.Sprintf("%v_batch%d_shareA%v_shareB%v", g, bc.batch, bc.shareA, bc.shareB), func(t *testing.T) {
			lda, ldb, _ := g.lds()
			ar, ac, br, bcols := ffi.GemmShapes(g.transA, g.transB, g.m, g.n, g.k)
			sa, sb := gemmMatLen(ar, ac, lda)+1, gemmMatLen(br, bcols, ldb)+2
			if bc.shareA {
				sa = 0
			}
			if bc.shareB {
				sb = 0
			}
			o := newGemmOperands(t, be, rng, g, bc.batch, sa, sb)
			if err := be.SgemmStridedBatched(g.transA, g.transB, g.m, g.n, g.k, bc.batch, g.alpha,
				o.ra.Mat(o.lda), sa, o.rb.Mat(o.ldb), sb, g.beta, o.rc.Mat(o.ldc), o.sc); err != nil {
				t.Fatal(err)
			}
			o.check(t, g, bc.batch)
		})
	}
}

// Bad arguments return an error and leave C exactly as it was.
func testGemmErrors(t *testing.T, be ffi.Backend) {
	rng := newRNG(t)
	g := gemmCase{m: 6, n: 5, k: 4, alpha: 1, beta: 1, pad: 1}
	o := newGemmOperands(t, be, rng, g, 2, 0, 0)
	a, b, c := o.ra.Mat(o.lda), o.rb.Mat(o.ldb), o.rc.Mat(o.ldc)
	overrun := func(m ffi.Mat) ffi.Mat { m.Off = m.Buf.Len() - 3; return m }
	withLD := func(m ffi.Mat, ld int) ffi.Mat { m.LD = ld; return m }
	before := o.rc.F32(t)
	cases := []struct {
		name string
		call func() error
	}{
		{"negative m", func() error { return be.Sgemm(false, false, -1, 5, 4, 1, a, b, 1, c) }},
		{"negative k", func() error { return be.Sgemm(false, false, 6, 5, -4, 1, a, b, 1, c) }},
		{"short lda", func() error { return be.Sgemm(false, false, 6, 5, 4, 1, withLD(a, 3), b, 1, c) }},
		{"short ldb", func() error { return be.Sgemm(false, false, 6, 5, 4, 1, a, withLD(b, 4), 1, c) }},
		{"short ldc", func() error { return be.Sgemm(false, false, 6, 5, 4, 1, a, b, 1, withLD(c, 4)) }},
		{"A overrun", func() error { return be.Sgemm(false, false, 6, 5, 4, 1, overrun(a), b, 1, c) }},
		{"C overrun", func() error { return be.Sgemm(false, false, 6, 5, 4, 1, a, b, 1, overrun(c)) }},
		{"transposed A too small", func() error { return be.Sgemm(true, false, 6, 5, 4, 1, a, b, 1, c) }},
		{"nil C", func() error { return be.Sgemm(false, false, 6, 5, 4, 1, a, b, 1, ffi.Mat{LD: 6}) }},
		{"negative batch", func() error {
			return be.SgemmStridedBatched(false, false, 6, 5, 4, -1, 1, a, 0, b, 0, 1, c, o.sc)
		}},
		{"negative stride", func() error {
			return be.SgemmStridedBatched(false, false, 6, 5, 4, 2, 1, a, -1, b, 0, 1, c, o.sc)
		}},
		{"overlapping C", func() error {
			return be.SgemmStridedBatched(false, false, 6, 5, 4, 2, 1, a, 0, b, 0, 1, c, o.lenC-1)
		}},
		{"batch overruns C", func() error {
			return be.SgemmStridedBatched(false, false, 6, 5, 4, 4, 1, a, 0, b, 0, 1, c, o.sc)
		}},
	}
	for _, tc := range cases {
		if err := tc.call(); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	after := o.rc.F32(t)
	for i := range before {
		if math.Float32bits(before[i]) != math.Float32bits(after[i]) {
			t.Fatalf("C element %d changed by a failed call", i)
		}
	}
}
