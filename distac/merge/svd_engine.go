package merge

import (
	"sync"

	"github.com/distac/distac/ffi"
	"gonum.org/v1/gonum/mat"
)

// svdEngine computes what the SVD methods need of a float64 matrix: its
// leading singular triplets (TSV-M per task, Iso-CTS's common and
// task-specific subspaces), its orthogonal polar factor with the mean
// singular value (TSV-M's and Iso-CTS's stacked U and V, Iso-C's sum), and a
// projection (Iso-CTS). Each method may overwrite its input a.
type svdEngine interface {
	// top is the k leading triplets of a (m x n): u m x k, s descending,
	// vt k x n, a = u diag(s) vt + (the rest of the spectrum).
	top(a *mat.Dense, k int) (u *mat.Dense, s []float64, vt *mat.Dense, err error)
	// polar is a = P S Q^T -> P Q^T and mean(diag S) over min(m, n) values.
	polar(a *mat.Dense) (p *mat.Dense, meanS float64, err error)
	// project is a -= uc (uc^T a), uc m x kc with orthonormal columns.
	project(a, uc *mat.Dense) error
	// product is u diag(s) vt (u is not changed).
	product(u *mat.Dense, s []float64, vt *mat.Dense) (*mat.Dense, error)
	// String names the engine for the merge's report.
	String() string
}

// gonumSVD is the reference engine: gonum's float64 LAPACK (dgesvd, in
// Go), a full thin SVD for every top and polar.
type gonumSVD struct{ why string }

func (g gonumSVD) String() string {
	if g.why == "" {
		return "gonum float64 SVD"
	}
	return "gonum float64 SVD (" + g.why + ")"
}

func (gonumSVD) top(a *mat.Dense, k int) (*mat.Dense, []float64, *mat.Dense, error) {
	u, s, v, err := svdThin(a)
	if err != nil {
		return nil, nil, nil, err
	}
	return cols(u, 0, k), s[:k], mat.DenseCopyOf(cols(v, 0, k).T()), nil
}

func (gonumSVD) polar(a *mat.Dense) (*mat.Dense, float64, error) {
	u, s, v, err := svdThin(a)
	if err != nil {
		return nil, 0, err
	}
	var p mat.Dense
	p.Mul(u, v.T())
	return &p, mean(s), nil
}

func (gonumSVD) project(a, uc *mat.Dense) error {
	var c, pr mat.Dense
	c.Mul(uc.T(), a) // kc x n
	pr.Mul(uc, &c)   // m x n
	a.Sub(a, &pr)
	return nil
}

func (gonumSVD) product(u *mat.Dense, s []float64, vt *mat.Dense) (*mat.Dense, error) {
	us := mat.DenseCopyOf(u)
	scaleCols(us, s)
	var p mat.Dense
	p.Mul(us, vt)
	return &p, nil
}

// Which engine the SVD methods use: the reference backend takes gonum's, the
// others LAPACK's where one opens (see ffi.OpenLAPACK), else gonum's with
// the reason in its name.
var svdChoice struct {
	sync.Once
	fast svdEngine
}

// svdEngineFor is the engine for merges on backend be.
func svdEngineFor(be ffi.Backend) svdEngine {
	if be != nil && be.Name() == "ref" {
		return gonumSVD{why: "reference backend"}
	}
	svdChoice.Do(func() {
		l, err := ffi.OpenLAPACK()
		if err != nil {
			svdChoice.fast = gonumSVD{why: err.Error()}
			return
		}
		svdChoice.fast = gramSVD{l: l}
	})
	return svdChoice.fast
}

// SVDEngine says what the SVD methods (tsvm, isoc, isocts) compute with on
// backend be, and whether that is the fast path (LAPACK; not: gonum's
// float64 SVD, 10-50x slower, the reference).
func SVDEngine(be ffi.Backend) (desc string, fast bool) {
	e := svdEngineFor(be)
	_, fast = e.(gramSVD)
	return e.String(), fast
}
