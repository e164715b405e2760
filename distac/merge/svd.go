package merge

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// taskMatrix yields tau_t of the current tensor as a float64 matrix (a
// buffer the next call may reuse).
type taskMatrix func(t int) (*mat.Dense, error)

// taskMatrices is how a matrix method reads the task vectors of the current
// tensor: each as a matrix (at), or added into a float64 sum in the pass that
// converts it (addTo; nil: through at).
type taskMatrices struct {
	at    taskMatrix
	addTo func(t int, sum []float64) error
}

// matrix merges one 2-D weight with a matrix method. The task vectors are
// formed one at a time (Iso-CTS forms each twice) so that at most one tau_t,
// the kept factors and the SVD's workspace are alive at once.
func (wk *worker) matrix(p *pass, j job) error {
	defer wk.shrink()
	it := j.it
	m, n := int(it.base.Shape[0]), int(it.base.Shape[1])
	numel := m * n
	baseRaw, err := wk.load(roleBase, 0, it.base, 0, numel)
	if err != nil {
		return err
	}
	counted := make([]bool, len(it.tasks))
	// A method that reads every task twice (Iso-CTS) lets its pages go when
	// the tensor is done.
	rereads := wk.m.method.reads > 1
	if rereads {
		defer func() {
			for _, tt := range it.tasks {
				p.pages.Consumed(tt, 0, numel)
			}
		}()
	}
	// f32 is tau_t on the host, its use counted and stopped when asked.
	f32 := func(t int) ([]float32, error) {
		// An SVD takes long on a large matrix: stop between them when asked.
		if err := wk.m.ctx.Err(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCancelled, err)
		}
		v, err := wk.taskVector(p, j, 0, t, baseRaw, p.check && !counted[t], !rereads)
		if err != nil {
			return nil, err
		}
		counted[t] = true
		return wk.hostFloats(v)
	}
	// The matrix is on the host now: check it before an SVD of NaN (which
	// LAPACK may iterate on for a long time) rather than after, in the same
	// pass as the conversion (x * 0 is NaN for NaN and Inf, else 0).
	tau := taskMatrices{
		at: func(t int) (*mat.Dense, error) {
			xs, err := f32(t)
			if err != nil {
				return nil, err
			}
			// One float64 copy per worker, reused by every task: each use
			// of a tau_t ends before the next is formed.
			if cap(wk.f64) < numel {
				wk.f64 = make([]float64, numel)
			}
			d := wk.f64[:numel]
			var bad float64
			for i, x := range xs {
				f := float64(x)
				d[i] = f
				bad += f * 0
			}
			if bad != 0 { // NaN is != 0 too
				return nil, wk.nonFinite(j, t)
			}
			return mat.NewDense(m, n, d), nil
		},
		addTo: func(t int, sum []float64) error {
			xs, err := f32(t)
			if err != nil {
				return err
			}
			var bad float64
			sum = sum[:len(xs)]
			for i, x := range xs {
				f := float64(x)
				sum[i] += f
				bad += f * 0
			}
			if bad != 0 {
				return wk.nonFinite(j, t)
			}
			return nil
		},
	}
	delta, err := wk.m.method.matrix(svdEngineFor(wk.be), tau, len(it.tasks), m, n, wk.m.values)
	if err != nil {
		return fmt.Errorf("%s: tensor %q: %w", wk.m.method.Name, it.base.Name, err)
	}
	d32 := make([]float32, numel)
	for i := 0; i < m; i++ {
		for k, x := range delta.RawRowView(i) {
			d32[i*n+k] = float32(x)
		}
	}
	if r := delta.RawMatrix(); r.Stride == n { // delta is this function's now
		putF64(r.Data)
	}
	return wk.finishHost(p, j, baseRaw, d32)
}

// sumTasks is M = sum_t tau_t in float64.
// Its storage comes from getF64.
func sumTasks(tau taskMatrices, T, m, n int) (*mat.Dense, error) {
	d := getF64(m * n)
	clear(d)
	sum := mat.NewDense(m, n, d)
	for t := 0; t < T; t++ {
		if tau.addTo != nil {
			if err := tau.addTo(t, sum.RawMatrix().Data); err != nil {
				return nil, err
			}
			continue
		}
		a, err := tau.at(t)
		if err != nil {
			return nil, err
		}
		sum.Add(sum, a)
	}
	return sum, nil
}

// tsvmMerge is TSV-M: per task the top k = floor(r/T) singular triplets go
// into disjoint column blocks of U, entries of sigma and row blocks of Vt;
// U and Vt are replaced by their polar factors; delta = U diag(sigma) Vt.
// Only the T*k filled columns/rows are orthogonalised: the polar factor of
// [B 0] restricted to B's columns is the polar factor of B, and the zero
// sigma of the empty columns drop the rest. k = 0 (r < T) gives delta = 0.
// Only those k triplets of each task are computed (FusionBench computes the
// full SVD and keeps them).
func tsvmMerge(eng svdEngine, tau taskMatrices, T, m, n int, _ Values) (*mat.Dense, error) {
	r := min(m, n)
	k := r / T
	if k == 0 {
		return mat.NewDense(m, n, nil), nil
	}
	p := newTriplets(m, n, T*k)
	for t := 0; t < T; t++ {
		a, err := tau.at(t)
		if err != nil {
			return nil, err
		}
		u, s, vt, err := eng.top(a, k)
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", t, err)
		}
		p.put(t*k, k, u, s, vt)
	}
	return spectralProduct(eng, p.U, p.sigma, p.V)
}

// triplets gathers singular triplets into the columns of U (m x used), the
// entries of sigma and the rows of V (used x n).
type triplets struct {
	U, V  *mat.Dense
	sigma []float64
}

func newTriplets(m, n, used int) *triplets {
	return &triplets{U: mat.NewDense(m, used, nil), V: mat.NewDense(used, n, nil), sigma: make([]float64, used)}
}

// put places the top k triplets of u diag(s) vt at position at.
func (p *triplets) put(at, k int, u *mat.Dense, s []float64, vt *mat.Dense) {
	cols(p.U, at, at+k).Copy(cols(u, 0, k))
	rowsOf(p.V, at, at+k).Copy(rowsOf(vt, 0, k))
	copy(p.sigma[at:], s[:k])
}

// spectralProduct is polar(U) diag(sigma) polar(V).
func spectralProduct(eng svdEngine, U *mat.Dense, sigma []float64, V *mat.Dense) (*mat.Dense, error) {
	pu, _, err := eng.polar(U)
	if err != nil {
		return nil, fmt.Errorf("polar factor of U: %w", err)
	}
	pv, _, err := eng.polar(V)
	if err != nil {
		return nil, fmt.Errorf("polar factor of V: %w", err)
	}
	return eng.product(pu, sigma, pv)
}

// isoCMerge is Iso-C: M = sum_t tau_t = U S Vt, delta = mean(S) U Vt.
// U Vt is the polar factor of M and mean(S) its nuclear norm / min(m, n).
func isoCMerge(eng svdEngine, tau taskMatrices, T, m, n int, _ Values) (*mat.Dense, error) {
	sum, err := sumTasks(tau, T, m, n)
	if err != nil {
		return nil, err
	}
	delta, mu, err := eng.polar(sum)
	putF64(sum.RawMatrix().Data)
	if err != nil {
		return nil, err
	}
	delta.Scale(mu, delta)
	return delta, nil
}

// isoCTSSplit returns Iso-CTS's common rank k_c and per-task rank s for
// rank r and T tasks: k_c = r - round((r - floor(f r)) / T) * T (round half
// to even, as Python's round), s = (r - k_c) / T.
func isoCTSSplit(r, T int, f float64) (kc, s int) {
	c0 := int(float64(r) * f)
	kc = r - int(math.RoundToEven(float64(r-c0)/float64(T)))*T
	kc = max(kc, 0)
	return kc, (r - kc) / T
}

// isoCTSMerge is Iso-CTS: the top k_c singular triplets of the sum span the
// common subspace; each task, with that subspace projected out
// (tau_t - U_c U_c^T tau_t), adds its top s triplets; U and Vt of the
// concatenation are replaced by their polar factors and every singular value
// by their mean.
func isoCTSMerge(eng svdEngine, tau taskMatrices, T, m, n int, frac float64) (*mat.Dense, error) {
	r := min(m, n)
	kc, sp := isoCTSSplit(r, T, frac)
	used := T*sp + kc
	if used == 0 {
		return mat.NewDense(m, n, nil), nil
	}
	var uc, vc *mat.Dense
	var sc []float64
	if kc > 0 {
		sum, err := sumTasks(tau, T, m, n)
		if err != nil {
			return nil, err
		}
		uc, sc, vc, err = eng.top(sum, kc) // fresh matrices, not views of sum
		putF64(sum.RawMatrix().Data)
		if err != nil {
			return nil, fmt.Errorf("sum of the tasks: %w", err)
		}
	}
	p := newTriplets(m, n, used)
	for t := 0; t < T && sp > 0; t++ {
		a, err := tau.at(t)
		if err != nil {
			return nil, err
		}
		if uc != nil {
			if err := eng.project(a, uc); err != nil {
				return nil, fmt.Errorf("task %d: %w", t, err)
			}
		}
		ut, st, vt, err := eng.top(a, sp)
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", t, err)
		}
		p.put(t*sp, sp, ut, st, vt)
	}
	if kc > 0 {
		p.put(T*sp, kc, uc, sc, vc)
	}
	mu := mean(p.sigma)
	for i := range p.sigma {
		p.sigma[i] = mu
	}
	return spectralProduct(eng, p.U, p.sigma, p.V)
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
