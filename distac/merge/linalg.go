package merge

import (
	"errors"

	"gonum.org/v1/gonum/mat"
)

// svdThin factorises a (m x n) = U diag(s) V^T with r = min(m, n): U is
// m x r, s descending, V is n x r (LAPACK dgesvd through gonum).
func svdThin(a *mat.Dense) (u *mat.Dense, s []float64, v *mat.Dense, err error) {
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		return nil, nil, nil, errors.New("SVD did not converge")
	}
	u, v = new(mat.Dense), new(mat.Dense)
	svd.UTo(u)
	svd.VTo(v)
	return u, svd.Values(nil), v, nil
}

// cols is a[:, j0:j1] (a view).
func cols(a *mat.Dense, j0, j1 int) *mat.Dense {
	r, _ := a.Dims()
	return a.Slice(0, r, j0, j1).(*mat.Dense)
}

// rowsOf is a[i0:i1, :] (a view).
func rowsOf(a *mat.Dense, i0, i1 int) *mat.Dense {
	_, c := a.Dims()
	return a.Slice(i0, i1, 0, c).(*mat.Dense)
}

// scaleCols multiplies column j of a by s[j] in place.
func scaleCols(a *mat.Dense, s []float64) {
	r, c := a.Dims()
	for i := 0; i < r; i++ {
		row := a.RawRowView(i)
		for j := 0; j < c; j++ {
			row[j] *= s[j]
		}
	}
}
