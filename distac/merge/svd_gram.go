package merge

import (
	"fmt"
	"math"

	"github.com/distac/distac/ffi"
	"gonum.org/v1/gonum/mat"
)

// gramSVD is the fast engine: float64 LAPACK (OpenBLAS) opened at run time,
// working on the Gram matrix of the smaller side, which for the merges'
// 768 x 768 .. 3072 x 768 blocks is at most 768 x 768:
//
//	m >= n: G = A^T A = V diag(s^2) V^T, U = A V diag(1/s)
//	m <  n: G = A A^T = U diag(s^2) U^T, V^T = diag(1/s) U^T A
//	polar:  P = A (A^T A)^(-1/2) = A Y^T Y, Y = diag(s^(-1/2)) V^T (or (A A^T)^(-1/2) A)
//
// dsyrk forms G (m n^2 flops, half of a GEMM), dsyevr finds only the few
// eigenpairs asked for (TSV-M's top r/T) or dsyevd all of them, one GEMM recovers the other side.
// Squaring doubles the exponent of the condition number, so each result is
// checked against a bound that keeps float64 well below the 1e-5 the merges
// are tested to, and a matrix outside it takes LAPACK's dgesdd instead:
// top needs s_k >= 1e-4 s_1 (U's columns orthonormal to ~eps/1e-8), polar
// s_min >= 1e-5 s_max: its error grows like eps kappa^2 (G's rounding E
// reaches P as E_ij / (s_j (s_i + s_j))), measured 4e-10 at kappa 1e4, 3e-8
// at 1e5 and 2e-6 at 1e6 (TestGramPolarAtBound).
type gramSVD struct {
	l *ffi.LAPACK
	// fellBack, when set (tests), is called each time a matrix outside the
	// bounds takes dgesdd.
	fellBack func(op string)
}

func (g gramSVD) fallback(op string) {
	if g.fellBack != nil {
		g.fellBack(op)
	}
}

const (
	gramTopRatio   = 1e-8  // lambda_k / lambda_1 at least, for top
	gramPolarRatio = 1e-10 // lambda_min / lambda_max at least, for polar
)

func (g gramSVD) String() string { return "LAPACK float64 (" + g.l.Name() + "), Gram route" }

// raw is a's data and stride.
func raw(a *mat.Dense) ([]float64, int) {
	r := a.RawMatrix()
	return r.Data, r.Stride
}

// gram is G = A^T A (n x n) when m >= n, else A A^T (m x m), and its size.
func (g gramSVD) gram(a *mat.Dense) ([]float64, int, error) {
	m, n := a.Dims()
	d, ld := raw(a)
	p := min(m, n)
	gm := getF64(p * p)
	if err := g.l.Dsyrk(m >= n, p, max(m, n), d, ld, gm, p); err != nil {
		return nil, 0, err
	}
	return gm, p, nil
}

// eig is the k largest eigenpairs of the p x p gm (destroyed): w
// descending, the vectors in the rows of z (k x p).
// gm goes back to the pool.
func (g gramSVD) eig(gm []float64, p, k int) (w, z []float64, err error) {
	defer putF64(gm)
	w, z = make([]float64, p), make([]float64, k*p)
	if err := g.l.DsyevTop(p, gm, p, k, w, z, p); err != nil {
		return nil, nil, err
	}
	return w[:k], z, nil
}

// spread reports whether w (descending) is finite, w[0] > 0 and w[last] >=
// ratio * w[0]: the Gram route is accurate enough.
func spread(w []float64, ratio float64) bool {
	if len(w) == 0 {
		return true
	}
	for _, x := range w {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return w[0] > 0 && w[len(w)-1] >= ratio*w[0]
}

func (g gramSVD) top(a *mat.Dense, k int) (*mat.Dense, []float64, *mat.Dense, error) {
	m, n := a.Dims()
	if k == 0 {
		return mat.NewDense(m, 0, nil), nil, mat.NewDense(0, n, nil), nil
	}
	gm, p, err := g.gram(a)
	if err != nil {
		return nil, nil, nil, err
	}
	w, z, err := g.eig(gm, p, k)
	if err != nil {
		return nil, nil, nil, err
	}
	if !spread(w, gramTopRatio) {
		g.fallback("top")
		return g.topSVD(a, k)
	}
	s := make([]float64, k)
	for i, x := range w {
		s[i] = math.Sqrt(x)
	}
	d, ld := raw(a)
	if m >= n { // z = V^T (k x n); U = A V diag(1/s)
		u := make([]float64, m*k)
		if err := g.l.Dgemm(false, true, m, k, n, 1, d, ld, z, n, 0, u, k); err != nil {
			return nil, nil, nil, err
		}
		for i := 0; i < m; i++ {
			row := u[i*k : (i+1)*k]
			for j := range row {
				row[j] /= s[j]
			}
		}
		return mat.NewDense(m, k, u), s, mat.NewDense(k, n, z), nil
	}
	// z = U^T (k x m); V^T = diag(1/s) U^T A
	vt := make([]float64, k*n)
	if err := g.l.Dgemm(false, false, k, n, m, 1, z, m, d, ld, 0, vt, n); err != nil {
		return nil, nil, nil, err
	}
	for j := 0; j < k; j++ {
		row := vt[j*n : (j+1)*n]
		for i := range row {
			row[i] /= s[j]
		}
	}
	return mat.DenseCopyOf(mat.NewDense(k, m, z).T()), s, mat.NewDense(k, n, vt), nil
}

// topSVD is top through dgesdd (a is destroyed).
func (g gramSVD) topSVD(a *mat.Dense, k int) (*mat.Dense, []float64, *mat.Dense, error) {
	u, s, vt, err := g.svd(a)
	if err != nil {
		return nil, nil, nil, err
	}
	m, n := a.Dims()
	return u.Slice(0, m, 0, k).(*mat.Dense), s[:k], vt.Slice(0, k, 0, n).(*mat.Dense), nil
}

// svd is the thin SVD of a (destroyed) by dgesdd: u m x r, s, vt r x n.
func (g gramSVD) svd(a *mat.Dense) (*mat.Dense, []float64, *mat.Dense, error) {
	m, n := a.Dims()
	r := min(m, n)
	d, ld := raw(a)
	s, u, vt := make([]float64, r), make([]float64, m*r), make([]float64, r*n)
	if err := g.l.Dgesdd(m, n, d, ld, s, u, r, vt, n); err != nil {
		return nil, nil, nil, err
	}
	for _, x := range s {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, nil, nil, fmt.Errorf("SVD of a %dx%d matrix gave %v", m, n, x)
		}
	}
	return mat.NewDense(m, r, u), s, mat.NewDense(r, n, vt), nil
}

func (g gramSVD) polar(a *mat.Dense) (*mat.Dense, float64, error) {
	m, n := a.Dims()
	if m == 0 || n == 0 {
		return mat.NewDense(m, n, nil), 0, nil
	}
	gm, p, err := g.gram(a)
	if err != nil {
		return nil, 0, err
	}
	w, z, err := g.eig(gm, p, p)
	if err != nil {
		return nil, 0, err
	}
	if !spread(w, gramPolarRatio) {
		g.fallback("polar")
		return g.svdPolar(a)
	}
	return g.polarFrom(a, w, z, p)
}

// gramPolar is polar by the Gram route whatever the spectrum (tests).
func (g gramSVD) gramPolar(a *mat.Dense) (*mat.Dense, float64, error) {
	gm, p, err := g.gram(a)
	if err != nil {
		return nil, 0, err
	}
	w, z, err := g.eig(gm, p, p)
	if err != nil {
		return nil, 0, err
	}
	return g.polarFrom(a, w, z, p)
}

// svdPolar is polar through dgesdd (a is destroyed).
func (g gramSVD) svdPolar(a *mat.Dense) (*mat.Dense, float64, error) {
	u, s, vt, err := g.svd(a)
	if err != nil {
		return nil, 0, err
	}
	var pf mat.Dense
	pf.Mul(u, vt)
	return &pf, mean(s), nil
}

// polarFrom is P = A G^(-1/2) (or G^(-1/2) A) from G's eigenpairs w, z
// (rows), p = min(m, n); z is overwritten.
func (g gramSVD) polarFrom(a *mat.Dense, w, z []float64, p int) (*mat.Dense, float64, error) {
	m, n := a.Dims()
	// Y = diag(s^(-1/2)) Z (rows are eigenvectors), W = Y^T Y = G^(-1/2).
	var sum float64
	for i, x := range w {
		sum += math.Sqrt(x)
		f := 1 / math.Sqrt(math.Sqrt(x))
		row := z[i*p : (i+1)*p]
		for j := range row {
			row[j] *= f
		}
	}
	wm := getF64(p * p)
	defer putF64(wm)
	if err := g.l.Dsyrk(true, p, p, z, p, wm, p); err != nil {
		return nil, 0, err
	}
	d, ld := raw(a)
	out := getF64(m * n) // the caller may putF64 it
	var err error
	if m >= n { // P = A W
		err = g.l.Dgemm(false, false, m, n, n, 1, d, ld, wm, n, 0, out, n)
	} else { // P = W A
		err = g.l.Dgemm(false, false, m, n, m, 1, wm, m, d, ld, 0, out, n)
	}
	if err != nil {
		return nil, 0, err
	}
	return mat.NewDense(m, n, out), sum / float64(p), nil
}

func (g gramSVD) product(u *mat.Dense, s []float64, vt *mat.Dense) (*mat.Dense, error) {
	m, k := u.Dims()
	_, n := vt.Dims()
	us := mat.DenseCopyOf(u)
	scaleCols(us, s)
	ud, uld := raw(us)
	vd, vld := raw(vt)
	out := getF64(m * n) // the caller may putF64 it
	if err := g.l.Dgemm(false, false, m, n, k, 1, ud, uld, vd, vld, 0, out, n); err != nil {
		return nil, err
	}
	return mat.NewDense(m, n, out), nil
}

func (g gramSVD) project(a, uc *mat.Dense) error {
	m, n := a.Dims()
	_, kc := uc.Dims()
	if kc == 0 {
		return nil
	}
	d, ld := raw(a)
	ud, uld := raw(uc)
	c := make([]float64, kc*n)
	if err := g.l.Dgemm(true, false, kc, n, m, 1, ud, uld, d, ld, 0, c, n); err != nil { // C = Uc^T A
		return err
	}
	return g.l.Dgemm(false, false, m, n, kc, -1, ud, uld, c, n, 1, d, ld) // A -= Uc C
}
