package merge

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/ffi"
	"gonum.org/v1/gonum/mat"
)

// The fast SVD engine (Gram route on LAPACK, dgesdd outside its bounds)
// against the reference one (gonum's dgesvd) on random, ill-conditioned and
// rank-deficient matrices, tall, wide and square. Compared are what the
// merges use and what is unique: the rank-k part U_k diag(s_k) V_k^T (for a
// gap after s_k), the singular values, the orthonormality of U and V, the
// polar factor (full rank) or P A^T = U S U^T (rank-deficient: P itself is
// not unique there), the mean singular value and the projection.

func gramOrSkip(t *testing.T) (gramSVD, map[string]int) {
	t.Helper()
	l, err := ffi.OpenLAPACK()
	if err != nil {
		t.Skipf("no LAPACK: %v", err)
	}
	fell := map[string]int{}
	return gramSVD{l: l, fellBack: func(op string) { fell[op]++ }}, fell
}

// spectrumMatrix is Q1 diag(s) Q2^T with random orthonormal Q1 (m x r), Q2
// (n x r), r = len(s) <= min(m, n).
func spectrumMatrix(rng *rand.Rand, m, n int, s []float64) *mat.Dense {
	orth := func(rows, c int) *mat.Dense {
		g := mat.NewDense(rows, c, nil)
		for i := 0; i < rows; i++ {
			for j := 0; j < c; j++ {
				g.Set(i, j, rng.NormFloat64())
			}
		}
		var qr mat.QR
		qr.Factorize(g)
		var q mat.Dense
		qr.QTo(&q)
		return mat.DenseCopyOf(q.Slice(0, rows, 0, c))
	}
	r := len(s)
	u, v := orth(m, r), orth(n, r)
	scaleCols(u, s)
	var a mat.Dense
	a.Mul(u, v.T())
	return &a
}

func randomMatrix(rng *rand.Rand, m, n int) *mat.Dense {
	a := mat.NewDense(m, n, nil)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	return a
}

// relDiff is ||a - b||_F / ||b||_F (||a||_F when b is zero).
func relDiff(a, b mat.Matrix) float64 {
	var d mat.Dense
	d.Sub(a, b)
	nb := mat.Norm(b, 2)
	if nb == 0 {
		return mat.Norm(a, 2)
	}
	return mat.Norm(&d, 2) / nb
}

// orthoErr is ||X^T X - I||_F for X with orthonormal columns (rows when wide).
func orthoErr(x mat.Matrix) float64 {
	r, c := x.Dims()
	var g mat.Dense
	if r >= c {
		g.Mul(x.T(), x)
	} else {
		g.Mul(x, x.T())
	}
	p := min(r, c)
	for i := 0; i < p; i++ {
		g.Set(i, i, g.At(i, i)-1)
	}
	return mat.Norm(&g, 2)
}

func rankK(u *mat.Dense, s []float64, vt *mat.Dense) *mat.Dense {
	us := mat.DenseCopyOf(u)
	scaleCols(us, s)
	var p mat.Dense
	p.Mul(us, vt)
	return &p
}

type engineCase struct {
	name string
	a    *mat.Dense
	k    int  // top k (a gap after s_k)
	full bool // full rank: compare P itself
}

func engineCases(rng *rand.Rand) []engineCase {
	geo := func(r int, lo float64) []float64 { // 1 .. lo geometrically
		s := make([]float64, r)
		for i := range s {
			s[i] = math.Pow(lo, float64(i)/float64(max(r-1, 1)))
		}
		return s
	}
	// rank 12 of 40 x 30, a gap after the 5th value
	def := []float64{9, 8, 7, 6, 5, 2, 1.9, 1.5, 1.2, 1.1, 1, 0.9}
	return []engineCase{
		{"random tall 90x40", randomMatrix(rng, 90, 40), 8, true},
		{"random wide 30x70", randomMatrix(rng, 30, 70), 6, true},
		{"random square 48x48", randomMatrix(rng, 48, 48), 12, true}, // kappa ~ 1e2..1e3
		{"conditioned 1e-2 tall", spectrumMatrix(rng, 60, 25, geo(25, 1e-2)), 10, true},
		{"ill 1e-9 tall", spectrumMatrix(rng, 60, 25, geo(25, 1e-9)), 5, true},
		{"ill 1e-9 wide, top past 1e-4", spectrumMatrix(rng, 20, 50, geo(20, 1e-9)), 12, true},
		{"rank 12 of 40x30", spectrumMatrix(rng, 40, 30, def), 5, false},
		{"rank 12 of 30x40, top past the rank", spectrumMatrix(rng, 30, 40, def), 14, false},
		{"zero 7x5", mat.NewDense(7, 5, nil), 2, false},
	}
}

func TestGramSVDAgainstGonum(t *testing.T) {
	g, fell := gramOrSkip(t)
	ref := gonumSVD{}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range engineCases(rng) {
		t.Run(c.name, func(t *testing.T) {
			clear(fell)
			m, n := c.a.Dims()
			wu, ws, wvt, err := ref.top(mat.DenseCopyOf(c.a), min(m, n))
			if err != nil {
				t.Fatal(err)
			}
			gu, gs, gvt, err := g.top(mat.DenseCopyOf(c.a), c.k)
			if err != nil {
				t.Fatal(err)
			}
			if r, cc := gu.Dims(); r != m || cc != c.k {
				t.Fatalf("U is %dx%d", r, cc)
			}
			if r, cc := gvt.Dims(); r != c.k || cc != n {
				t.Fatalf("VT is %dx%d", r, cc)
			}
			want := rankK(cols(wu, 0, c.k), ws[:c.k], rowsOf(wvt, 0, c.k))
			if d := relDiff(rankK(gu, gs, gvt), want); d > 1e-9 {
				t.Errorf("top %d: rank-k part off by %.3g relative", c.k, d)
			}
			for i := 0; i < c.k; i++ {
				if math.Abs(gs[i]-ws[i]) > 1e-10*ws[0] {
					t.Errorf("s[%d] = %v, want %v", i, gs[i], ws[i])
				}
			}
			if ws[c.k-1] > 1e-12*ws[0] { // vectors of nonzero values
				if e := orthoErr(gu); e > 1e-9 {
					t.Errorf("U^T U - I: %.3g", e)
				}
				if e := orthoErr(gvt); e > 1e-9 {
					t.Errorf("V^T V - I: %.3g", e)
				}
			}
			// The route each takes follows from the spectrum (s^2 ratios).
			r := min(m, n)
			gramT := ws[0] > 0 && ws[c.k-1]*ws[c.k-1] >= 1.01*gramTopRatio*ws[0]*ws[0]
			gramP := ws[0] > 0 && ws[r-1]*ws[r-1] >= 1.01*gramPolarRatio*ws[0]*ws[0]
			if got := fell["top"] == 0; got != gramT {
				t.Errorf("top took the Gram route: %v, want %v", got, gramT)
			}

			wp, wmu, err := ref.polar(mat.DenseCopyOf(c.a))
			if err != nil {
				t.Fatal(err)
			}
			gp, gmu, err := g.polar(mat.DenseCopyOf(c.a))
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(gmu-wmu) > 1e-10*math.Max(ws[0], 1e-300) {
				t.Errorf("mean singular value %v, want %v", gmu, wmu)
			}
			// Two backward-stable SVDs agree on P to about eps kappa.
			tol := math.Max(1e-9, 1e-14*ws[0]/ws[r-1])
			if c.full {
				if d := relDiff(gp, wp); d > tol {
					t.Errorf("polar factor off by %.3g relative", d)
				}
			}
			var gpa, wpa mat.Dense // P A^T = U S U^T, unique
			gpa.Mul(gp, c.a.T())
			wpa.Mul(wp, c.a.T())
			if d := relDiff(&gpa, &wpa); d > 1e-9 && mat.Norm(c.a, 2) > 0 {
				t.Errorf("P A^T off by %.3g relative", d)
			}
			if got := fell["polar"] == 0; got != gramP {
				t.Errorf("polar took the Gram route: %v, want %v", got, gramP)
			}

			// project: A - Uc Uc^T A with Uc the top k of A
			uc := cols(wu, 0, c.k)
			ga, ra := mat.DenseCopyOf(c.a), mat.DenseCopyOf(c.a)
			if err := g.project(ga, uc); err != nil {
				t.Fatal(err)
			}
			if err := ref.project(ra, uc); err != nil {
				t.Fatal(err)
			}
			var d mat.Dense
			d.Sub(ga, ra)
			if e := mat.Norm(&d, 2); e > 1e-12*mat.Norm(c.a, 2) {
				t.Errorf("projection off by %.3g of ||A||", e/mat.Norm(c.a, 2))
			}
		})
	}
}

// TestGramSVDWrongFails checks the comparison above can fail: a top-k whose
// k-th triplet is perturbed is caught.
func TestGramSVDWrongFails(t *testing.T) {
	g, _ := gramOrSkip(t)
	rng := rand.New(rand.NewPCG(13, 14))
	a := randomMatrix(rng, 50, 20)
	wu, ws, wvt, _ := gonumSVD{}.top(mat.DenseCopyOf(a), 20)
	gu, gs, gvt, err := g.top(mat.DenseCopyOf(a), 6)
	if err != nil {
		t.Fatal(err)
	}
	gs[5] *= 1 + 1e-6
	if d := relDiff(rankK(gu, gs, gvt), rankK(cols(wu, 0, 6), ws[:6], rowsOf(wvt, 0, 6))); d <= 1e-9 {
		t.Fatalf("a perturbed singular value passed (%.3g)", d)
	}
}

// TestGramPolarAtBound checks the Gram route's polar factor where the bound
// still lets it run (kappa just under 1e5) against dgesdd's: its error,
// about eps kappa^2, stays far below the merges' 1e-5.
func TestGramPolarAtBound(t *testing.T) {
	g, fell := gramOrSkip(t)
	rng := rand.New(rand.NewPCG(15, 16))
	const n = 200
	for _, shape := range [][2]int{{n, n}, {2 * n, n}, {n, 3 * n}} {
		s := make([]float64, n)
		for i := range s {
			s[i] = math.Pow(1.2e-5, float64(i)/float64(n-1))
		}
		a := spectrumMatrix(rng, shape[0], shape[1], s)
		clear(fell)
		gp, gmu, err := g.polar(mat.DenseCopyOf(a))
		if err != nil {
			t.Fatal(err)
		}
		if fell["polar"] != 0 {
			t.Fatalf("%v: kappa 8e4 took dgesdd", shape)
		}
		wp, wmu, err := g.svdPolar(mat.DenseCopyOf(a))
		if err != nil {
			t.Fatal(err)
		}
		if d := relDiff(gp, wp); d > 1e-7 {
			t.Errorf("%v: polar factor at kappa 8e4 off by %.3g", shape, d)
		}
		if math.Abs(gmu-wmu) > 1e-12 {
			t.Errorf("%v: mean singular value %v, want %v", shape, gmu, wmu)
		}
	}
}
