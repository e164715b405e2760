package merge

// Float64 references of every merge method, written from their definitions without
// the package's code paths: SVDs and polar factors come from symmetric eigen
// decompositions of Gram matrices (not dgesvd), thresholds from sorting.

import (
	"hash/fnv"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/gonum/mat"
)

type refParams struct {
	method  string
	alpha   float64
	k       float64   // ties, percent
	lambdas []float64 // consensus, per task
	drop    float64   // dare
	seed    uint64    // dare
	mk      refMergekitParams
}

// refTau is tau = f32(ft) - f32(base) rounded to f32, the kernels' definition.
func refTau(ft, base []float64) []float64 {
	out := make([]float64, len(ft))
	for i := range ft {
		out[i] = float64(float32(ft[i] - base[i]))
	}
	return out
}

func refIsMatrix(t *testTensor) bool {
	return len(t.shape) == 2 && !strings.Contains(strings.ToLower(t.name), "embed")
}

// refMerge returns theta = theta_0 + alpha * delta for every float tensor
// (integer tensors: the base's bytes).
func refMerge(base testModel, tasks []testModel, p refParams) map[string][]float64 {
	T := len(tasks)
	taus := make([]map[string][]float64, T)
	for t, m := range tasks {
		taus[t] = map[string][]float64{}
		for _, bt := range base {
			if bt.vals != nil {
				taus[t][bt.name] = refTau(m.get(bt.name).vals, bt.vals)
			}
		}
	}
	var thr []float64
	if p.method == MethodTIES {
		thr = refTiesThresholds(base, tasks, p.k)
	}
	out := map[string][]float64{}
	for _, bt := range base {
		if bt.vals == nil {
			continue
		}
		ts := make([][]float64, T)
		for t := range ts {
			ts[t] = taus[t][bt.name]
		}
		var delta []float64
		switch {
		case p.method == MethodTSVM && refIsMatrix(bt):
			delta = refTSVM(ts, int(bt.shape[0]), int(bt.shape[1]))
		case p.method == MethodIsoC && refIsMatrix(bt):
			delta = refIsoC(ts, int(bt.shape[0]), int(bt.shape[1]))
		case p.method == MethodIsoCTS && refIsMatrix(bt):
			delta = refIsoCTS(ts, int(bt.shape[0]), int(bt.shape[1]), 0.8)
		case p.method == MethodWUDI && refIsMatrix(bt):
			delta = refWUDI(ts, int(bt.shape[0]), int(bt.shape[1]), 300, 1e-5)
		case p.method == MethodEMR:
			delta = refEMRDelta(ts)
		case isRefMergekit(p.method):
			delta = refMergekit(p.method, ts, bt.name, p.mk)
		default:
			delta = refElementwise(ts, bt.name, p, thr)
		}
		s := 1.0
		if isRefMergekit(p.method) {
			s = refMergekitBaseScale(p.method, p.mk)
		}
		theta := make([]float64, len(delta))
		for i := range delta {
			theta[i] = s*bt.vals[i] + p.alpha*delta[i]
		}
		out[bt.name] = theta
	}
	return out
}

// refNorms is ||tau_t|| over every float tensor, for each task.
func refNorms(base testModel, tasks []testModel) []float64 {
	out := make([]float64, len(tasks))
	for t, m := range tasks {
		var ss float64
		for _, bt := range base {
			if bt.vals != nil {
				for _, x := range refTau(m.get(bt.name).vals, bt.vals) {
					ss += x * x
				}
			}
		}
		out[t] = math.Sqrt(ss)
	}
	return out
}

// refTiesThresholds is each task's keep-th largest |tau| over all float
// tensors, by sorting: keep = ceil(k% of n), a product within rounding of an
// integer being that integer.
func refTiesThresholds(base testModel, tasks []testModel, k float64) []float64 {
	thr := make([]float64, len(tasks))
	for t, m := range tasks {
		var all []float64
		for _, bt := range base {
			if bt.vals == nil {
				continue
			}
			for _, x := range refTau(m.get(bt.name).vals, bt.vals) {
				all = append(all, math.Abs(x))
			}
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(all)))
		x := k / 100 * float64(len(all))
		keep := int(math.Ceil(x))
		if math.Abs(x-math.Round(x)) < 1e-9 {
			keep = int(math.Round(x))
		}
		switch {
		case keep <= 0:
			thr[t] = math.Inf(1)
		case keep >= len(all):
			thr[t] = 0
		default:
			thr[t] = all[keep-1]
		}
	}
	return thr
}

func refElementwise(ts [][]float64, name string, p refParams, thr []float64) []float64 {
	T, n := len(ts), len(ts[0])
	delta := make([]float64, n)
	for i := 0; i < n; i++ {
		var sum float64
		for t := range ts {
			sum += ts[t][i]
		}
		switch p.method {
		case MethodTA:
			delta[i] = sum
		case MethodTIES:
			var elect float64
			v := make([]float64, T)
			for t := range ts {
				if math.Abs(ts[t][i]) >= thr[t] {
					v[t] = ts[t][i]
				}
				elect += v[t]
			}
			var agree, cnt float64
			for _, x := range v {
				if x != 0 && (x > 0) == (elect >= 0) {
					agree += x
					cnt++
				}
			}
			if cnt > 0 {
				delta[i] = agree / cnt
			}
		case MethodConsensus:
			c := 0
			for t := range ts {
				if math.Abs(ts[t][i]) > p.lambdas[t]*math.Abs(sum-ts[t][i]) {
					c++
				}
			}
			if c >= 2 {
				delta[i] = sum
			}
		case MethodDARE:
			for t := range ts {
				if refDareKeep(p.seed, t, name, uint64(i), p.drop) {
					delta[i] += ts[t][i] / (1 - p.drop)
				}
			}
		default: // mean, and the non-matrix tensors of SVD methods
			delta[i] = sum / float64(T)
		}
	}
	return delta
}

// refDareKeep restates the DARE mask: the i-th SplitMix64 output of the key
// FNV-1a(name) mixed with the task and seed, kept when its 53-bit fraction
// is >= p.
func refDareKeep(seed uint64, task int, name string, i uint64, p float64) bool {
	const g = 0x9E3779B97F4A7C15
	mix := func(z uint64) uint64 {
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		return z ^ z>>31
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	key := mix(seed + g*mix(h.Sum64()+g*uint64(task+1)))
	return float64(mix(key+g*(i+1))>>11)/(1<<53) >= p
}

// refSVD is a thin SVD from the eigen decomposition of the smaller Gram
// matrix (accurate for the well-conditioned random matrices of the tests).
func refSVD(a *mat.Dense) (*mat.Dense, []float64, *mat.Dense) {
	m, n := a.Dims()
	if m < n {
		u, s, vt := refSVD(mat.DenseCopyOf(a.T()))
		return mat.DenseCopyOf(vt.T()), s, mat.DenseCopyOf(u.T())
	}
	var g mat.SymDense
	g.SymOuterK(1, a.T()) // a^T a, n x n
	var eig mat.EigenSym
	if !eig.Factorize(&g, true) {
		panic("eigen decomposition failed")
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	s := make([]float64, n)
	v := mat.NewDense(n, n, nil)
	for k := 0; k < n; k++ { // eigenvalues ascend: reverse
		j := n - 1 - k
		s[k] = math.Sqrt(math.Max(vals[j], 0))
		for i := 0; i < n; i++ {
			v.Set(i, k, vecs.At(i, j))
		}
	}
	u := mat.NewDense(m, n, nil)
	u.Mul(a, v)
	for k := 0; k < n; k++ {
		for i := 0; i < m; i++ {
			u.Set(i, k, u.At(i, k)/s[k])
		}
	}
	return u, s, mat.DenseCopyOf(v.T())
}

// refPolar is a (a^T a)^(-1/2) (tall) or (a a^T)^(-1/2) a (wide).
func refPolar(a *mat.Dense) *mat.Dense {
	m, n := a.Dims()
	if m < n {
		return mat.DenseCopyOf(refPolar(mat.DenseCopyOf(a.T())).T())
	}
	var g mat.SymDense
	g.SymOuterK(1, a.T())
	var eig mat.EigenSym
	eig.Factorize(&g, true)
	vals := eig.Values(nil)
	var q mat.Dense
	eig.VectorsTo(&q)
	d := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			var x float64
			for k := 0; k < n; k++ {
				x += q.At(i, k) * q.At(j, k) / math.Sqrt(vals[k])
			}
			d.Set(i, j, x)
		}
	}
	var p mat.Dense
	p.Mul(a, d)
	return &p
}

func refDense(x []float64, m, n int) *mat.Dense {
	return mat.NewDense(m, n, append([]float64(nil), x...))
}

func refFlat(a mat.Matrix) []float64 {
	m, n := a.Dims()
	out := make([]float64, 0, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			out = append(out, a.At(i, j))
		}
	}
	return out
}

// refTSVM: top floor(r/T) triplets per task in disjoint blocks, polar
// factors of the stacked U and Vt, delta = U diag(sigma) Vt.
func refTSVM(ts [][]float64, m, n int) []float64 {
	T, r := len(ts), min(m, n)
	k := r / T
	if k == 0 {
		return make([]float64, m*n)
	}
	U, V := mat.NewDense(m, T*k, nil), mat.NewDense(T*k, n, nil)
	sig := make([]float64, T*k)
	for t := range ts {
		u, s, vt := refSVD(refDense(ts[t], m, n))
		refPlace(U, sig, V, t*k, u, s, vt, k)
	}
	return refProduct(refPolar(U), sig, refPolar(V))
}

// refPlace copies the top k singular triplets (u, s, vt) into columns
// at..at+k-1 of U, entries at.. of sig and rows at.. of V.
func refPlace(U *mat.Dense, sig []float64, V *mat.Dense, at int, u *mat.Dense, s []float64, vt *mat.Dense, k int) {
	m, _ := U.Dims()
	_, n := V.Dims()
	for c := 0; c < k; c++ {
		sig[at+c] = s[c]
		for i := 0; i < m; i++ {
			U.Set(i, at+c, u.At(i, c))
		}
		for j := 0; j < n; j++ {
			V.Set(at+c, j, vt.At(c, j))
		}
	}
}

func refProduct(u *mat.Dense, s []float64, vt *mat.Dense) []float64 {
	var us mat.Dense
	us.Mul(u, mat.NewDiagDense(len(s), s))
	var d mat.Dense
	d.Mul(&us, vt)
	return refFlat(&d)
}

func refSum(ts [][]float64, m, n int) *mat.Dense {
	sum := mat.NewDense(m, n, nil)
	for _, t := range ts {
		sum.Add(sum, refDense(t, m, n))
	}
	return sum
}

// refIsoC: mean singular value of the sum times its polar factor.
func refIsoC(ts [][]float64, m, n int) []float64 {
	sum := refSum(ts, m, n)
	_, s, _ := refSVD(sum)
	var mu float64
	for _, x := range s {
		mu += x / float64(len(s))
	}
	p := refPolar(sum)
	p.Scale(mu, p)
	return refFlat(p)
}

// refIsoCTS: common subspace of the sum plus each task's top directions
// outside it, orthogonalised, with a flat spectrum.
func refIsoCTS(ts [][]float64, m, n int, frac float64) []float64 {
	T, r := len(ts), min(m, n)
	kc := r - int(math.RoundToEven(float64(r-int(float64(r)*frac))/float64(T)))*T
	sp := (r - kc) / T
	sum := refSum(ts, m, n)
	u, s, vt := refSVD(sum)
	uc := mat.DenseCopyOf(u.Slice(0, m, 0, kc))
	U, V := mat.NewDense(m, r, nil), mat.NewDense(r, n, nil)
	sig := make([]float64, r)
	for t := range ts {
		a := refDense(ts[t], m, n)
		var c, p mat.Dense
		c.Mul(uc.T(), a)
		p.Mul(uc, &c)
		a.Sub(a, &p)
		ut, st, vtt := refSVD(a)
		refPlace(U, sig, V, t*sp, ut, st, vtt, sp)
	}
	refPlace(U, sig, V, T*sp, u, s, vt, kc)
	var mu float64
	for _, x := range sig {
		mu += x / float64(r)
	}
	for i := range sig {
		sig[i] = mu
	}
	return refProduct(refPolar(U), sig, refPolar(V))
}
