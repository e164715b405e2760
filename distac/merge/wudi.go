package merge

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// WUDI merging (Cheng et al. 2025, "Whoever Started the Interference Should
// End It", data-free), as FusionBench's fusion_bench/method/wudi computes it:
// for each 2-D weight, the merged task vector minimises
//
//	L(tau_m) = sum_t ||(tau_m - tau_t) tau_t^T||_F^2 / ||tau_t||_F^2
//
// by Adam (beta 0.9, 0.999, eps 1e-8, no weight decay) from tau_m = sum_t
// tau_t, with lr and steps as given (FusionBench: 1e-5, 300). Its gradient
// is 2 sum_t (tau_m - tau_t) tau_t^T tau_t / ||tau_t||^2 = 2 (tau_m S - C)
// with S = sum_t tau_t^T tau_t / ||tau_t||^2 and C = sum_t tau_t tau_t^T
// tau_t / ||tau_t||^2, formed once. Other tensors take the mean, as in
// FusionBench. A task whose tau_t is zero on a matrix adds nothing to L
// there (FusionBench would divide 0 by 0).

// wudiMerge is WUDI's matrix function.
func wudiMerge(_ svdEngine, tau taskMatrices, T, m, n int, v Values) (*mat.Dense, error) {
	x := mat.NewDense(m, n, nil)
	S := mat.NewDense(n, n, nil)
	C := mat.NewDense(m, n, nil)
	var gram, tg mat.Dense
	for t := 0; t < T; t++ {
		a, err := tau.at(t)
		if err != nil {
			return nil, err
		}
		x.Add(x, a)
		nrm := mat.Norm(a, 2) // Frobenius
		if nrm == 0 {
			continue
		}
		gram.Mul(a.T(), a) // tau_t^T tau_t, n x n
		gram.Scale(1/(nrm*nrm), &gram)
		S.Add(S, &gram)
		tg.Mul(a, &gram)
		C.Add(C, &tg)
	}
	return wudiAdam(x, S, C, v.Int("steps"), v.Float("lr"))
}

// wudiAdam runs steps of Adam on L from x (overwritten and returned), as
// torch.optim.Adam steps: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
// x -= lr/(1-b1^k) * m / (sqrt(v)/sqrt(1-b2^k) + eps).
func wudiAdam(x, S, C *mat.Dense, steps int, lr float64) (*mat.Dense, error) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	r, c := x.Dims()
	mom, vel := make([]float64, r*c), make([]float64, r*c)
	g := mat.NewDense(r, c, nil)
	xs, gs := x.RawMatrix().Data, g.RawMatrix().Data
	for k := 1; k <= steps; k++ {
		g.Mul(x, S)
		g.Sub(g, C)
		bc1, bc2 := 1-math.Pow(b1, float64(k)), 1-math.Pow(b2, float64(k))
		for i, gi := range gs {
			gi *= 2
			mom[i] = b1*mom[i] + (1-b1)*gi
			vel[i] = b2*vel[i] + (1-b2)*gi*gi
			xs[i] -= lr / bc1 * mom[i] / (math.Sqrt(vel[i])/math.Sqrt(bc2) + eps)
		}
	}
	for _, xi := range xs {
		if math.IsNaN(xi) || math.IsInf(xi, 0) {
			return nil, fmt.Errorf("WUDI's Adam diverged (lr %g): a smaller --lr", lr)
		}
	}
	return x, nil
}
