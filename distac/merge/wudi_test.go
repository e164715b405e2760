package merge

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/internal/testutil"
	"gonum.org/v1/gonum/mat"
)

// refWUDI restates WUDI from its loss: tau_m from sum_t tau_t, each step the
// gradient 2 sum_t ((tau_m - tau_t) tau_t^T) tau_t / ||tau_t||^2 by explicit
// loops, then Adam with bias-corrected moments mhat / (sqrt(vhat) + eps).
func refWUDI(ts [][]float64, m, n, steps int, lr float64) []float64 {
	x := make([]float64, m*n)
	norms := make([]float64, len(ts))
	for t, tau := range ts {
		for i, v := range tau {
			x[i] += v
			norms[t] += v * v
		}
	}
	mo, ve := make([]float64, m*n), make([]float64, m*n)
	for k := 1; k <= steps; k++ {
		g := make([]float64, m*n)
		for t, tau := range ts {
			if norms[t] == 0 {
				continue
			}
			p := make([]float64, m*m) // (x - tau) tau^T
			for i := 0; i < m; i++ {
				for j := 0; j < m; j++ {
					for l := 0; l < n; l++ {
						p[i*m+j] += (x[i*n+l] - tau[i*n+l]) * tau[j*n+l]
					}
				}
			}
			for i := 0; i < m; i++ {
				for l := 0; l < n; l++ {
					var s float64
					for j := 0; j < m; j++ {
						s += p[i*m+j] * tau[j*n+l]
					}
					g[i*n+l] += 2 * s / norms[t]
				}
			}
		}
		for i := range x {
			mo[i] = 0.9*mo[i] + 0.1*g[i]
			ve[i] = 0.999*ve[i] + 0.001*g[i]*g[i]
			mhat := mo[i] / (1 - math.Pow(0.9, float64(k)))
			vhat := ve[i] / (1 - math.Pow(0.999, float64(k)))
			x[i] -= lr * mhat / (math.Sqrt(vhat) + 1e-8)
		}
	}
	return x
}

func randTaus(seed uint64, T, m, n int) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	ts := make([][]float64, T)
	for t := range ts {
		ts[t] = make([]float64, m*n)
		for i := range ts[t] {
			ts[t][i] = (1 + float64(t)) * rng.NormFloat64()
		}
	}
	return ts
}

func taskMatrixOf(ts [][]float64, m, n int) taskMatrices {
	return taskMatrices{at: func(t int) (*mat.Dense, error) {
		return mat.NewDense(m, n, append([]float64(nil), ts[t]...)), nil
	}}
}

func wudiValues(steps int, lr float64) Values { return Values{"steps": steps, "lr": lr} }

// TestWUDIOneStep checks the first Adam step by hand: from x0 = sum_t tau_t,
// mhat = g and vhat = g^2, so x1 = x0 - lr g / (|g| + eps).
func TestWUDIOneStep(t *testing.T) {
	const m, n, T, lr = 5, 3, 3, 0.01
	ts := randTaus(1, T, m, n)
	got, err := wudiMerge(nil, taskMatrixOf(ts, m, n), T, m, n, wudiValues(1, lr))
	if err != nil {
		t.Fatal(err)
	}
	// g = 2 sum_t (x0 - tau_t) tau_t^T tau_t / ||tau_t||^2, by gonum products.
	x0 := mat.NewDense(m, n, nil)
	for _, tau := range ts {
		x0.Add(x0, mat.NewDense(m, n, tau))
	}
	g := mat.NewDense(m, n, nil)
	for _, tau := range ts {
		a := mat.NewDense(m, n, tau)
		var d, p, q mat.Dense
		d.Sub(x0, a)
		p.Mul(&d, a.T())
		q.Mul(&p, a)
		nrm := mat.Norm(a, 2)
		q.Scale(2/(nrm*nrm), &q)
		g.Add(g, &q)
	}
	want := make([]float64, m*n)
	for i := range want {
		gi := g.RawMatrix().Data[i]
		want[i] = x0.RawMatrix().Data[i] - lr*gi/(math.Abs(gi)+1e-8)
	}
	if d := testutil.ApproxDiff(want, got.RawMatrix().Data, 1e-12); d != "" {
		t.Errorf("one Adam step (-hand +wudi):\n%s", d)
	}
	if d := testutil.ApproxDiff(refWUDI(ts, m, n, 7, lr), mustWUDI(t, ts, m, n, 7, lr), 1e-12); d != "" {
		t.Errorf("7 steps (-ref +wudi):\n%s", d)
	}
}

func mustWUDI(t *testing.T, ts [][]float64, m, n, steps int, lr float64) []float64 {
	t.Helper()
	x, err := wudiMerge(nil, taskMatrixOf(ts, m, n), len(ts), m, n, wudiValues(steps, lr))
	if err != nil {
		t.Fatal(err)
	}
	return x.RawMatrix().Data
}

// TestWUDIReachesMinimum checks that the descent reaches the loss's exact
// minimiser: L is quadratic, so tau_m = C S^+ with S = sum_t tau_t^T tau_t /
// ||tau_t||^2 and C = sum_t tau_t tau_t^T tau_t / ||tau_t||^2 (the normal
// equations), solved here by an eigendecomposition of S.
func TestWUDIReachesMinimum(t *testing.T) {
	const m, n, T = 6, 4, 3
	ts := randTaus(2, T, m, n)
	S := mat.NewSymDense(n, nil)
	C := mat.NewDense(m, n, nil)
	for _, tau := range ts {
		a := mat.NewDense(m, n, tau)
		nrm := mat.Norm(a, 2)
		var g mat.SymDense
		g.SymOuterK(1/(nrm*nrm), a.T())
		S.AddSym(S, &g)
		var c mat.Dense
		c.Mul(a, &g)
		C.Add(C, &c)
	}
	var eig mat.EigenSym
	if !eig.Factorize(S, true) {
		t.Fatal("eigendecomposition failed")
	}
	var q mat.Dense
	eig.VectorsTo(&q)
	lam := eig.Values(nil)
	pinv := mat.NewDense(n, n, nil)
	for k, l := range lam {
		if l > 1e-12*lam[len(lam)-1] {
			col := mat.Col(nil, k, &q)
			v := mat.NewVecDense(n, col)
			var o mat.Dense
			o.Outer(1/l, v, v)
			pinv.Add(pinv, &o)
		}
	}
	var want mat.Dense
	want.Mul(C, pinv)
	got := mustWUDI(t, ts, m, n, 20000, 1e-3)
	if d := testutil.ApproxDiff(want.RawMatrix().Data, got, 1e-3); d != "" {
		t.Errorf("WUDI after 20000 steps vs the normal equations' minimiser (-exact +wudi):\n%s", d)
	}
}
