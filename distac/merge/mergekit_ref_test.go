package merge

import (
	"math"
	"sort"
)

// Float64 references of mergekit's methods, restated from mergekit's
// generalized_task_arithmetic.py, sparsify.py and linear.py (per tensor):
// sparsify each task vector, weight it, elect signs by the weighted sum,
// mix, normalise by the kept weights.

// refMergekitParams are the settings of one mergekit method.
type refMergekitParams struct {
	weights, density []float64 // per task
	normalize        bool
	rescale          bool
	baseWeight       float64 // linear
	seed             uint64  // dare_*
}

// refMergekit returns delta for one tensor (theta = s*theta_0 +
// alpha*delta; refMergekitBaseScale is s).
func refMergekit(method string, ts [][]float64, name string, p refMergekitParams) []float64 {
	T, n := len(ts), len(ts[0])
	if method == "linear" {
		W := p.baseWeight
		for _, w := range p.weights {
			W += w
		}
		out := make([]float64, n)
		for i := range out {
			for t := range ts {
				out[i] += p.weights[t] * ts[t][i]
			}
			if p.normalize {
				out[i] /= W
			}
		}
		return out
	}
	sparse := make([][]float64, T)
	for t := range ts {
		d := append([]float64(nil), ts[t]...)
		switch {
		case p.density[t] >= 1 || method == "task_arithmetic":
		case method == "mergekit_ties":
			// torch.argsort(|x|, descending)[:k]: keep every |x| above the
			// k-th largest magnitude th, and of those equal to th the first
			// ones by position (distac's tie order) until k are kept.
			k := int(p.density[t] * float64(n))
			mags := make([]float64, n)
			for i, x := range d {
				mags[i] = math.Abs(x)
			}
			sort.Sort(sort.Reverse(sort.Float64Slice(mags)))
			th := mags[k-1]
			above := 0
			for _, m := range mags {
				if m > th {
					above++
				}
			}
			equal := k - above
			for i, x := range d {
				switch a := math.Abs(x); {
				case a > th:
				case a == th && equal > 0:
					equal--
				default:
					d[i] = 0
				}
			}
		default: // dare_*: the seeded Bernoulli(density) mask
			for i := range d {
				if !refDareKeep(p.seed, t, name, uint64(i), 1-p.density[t]) {
					d[i] = 0
				}
			}
		}
		if p.rescale && method != "task_arithmetic" && p.density[t] < 1 {
			var l1, l1m float64
			for i := range d {
				l1 += math.Abs(ts[t][i])
				l1m += math.Abs(d[i])
			}
			if l1 >= 1e-7 && l1m >= 1e-7 {
				for i := range d {
					d[i] *= l1 / l1m
				}
			}
		}
		sparse[t] = d
	}
	consensus := method == "mergekit_ties" || method == "dare_ties"
	out := make([]float64, n)
	for i := range out {
		var sum float64
		for t := range sparse {
			sum += p.weights[t] * sparse[t][i]
		}
		major := -1.0
		if sum >= 0 {
			major = 1
		}
		var mixed, div float64
		for t := range sparse {
			x := p.weights[t] * sparse[t][i]
			sign := 0.0
			if x > 0 {
				sign = 1
			} else if x < 0 {
				sign = -1
			}
			if consensus && sign != major {
				continue
			}
			mixed += x
			div += p.weights[t]
		}
		if consensus && div == 0 || !consensus && math.Abs(div) < 1e-8 {
			div = 1
		}
		if p.normalize {
			mixed /= div
		}
		out[i] = mixed
	}
	return out
}

// refMergekitBaseScale is s in theta = s*theta_0 + alpha*delta: linear
// without normalize keeps sum_i w_i theta_i, so theta_0 is counted W times.
func refMergekitBaseScale(method string, p refMergekitParams) float64 {
	if method != "linear" || p.normalize {
		return 1
	}
	W := p.baseWeight
	for _, w := range p.weights {
		W += w
	}
	return W
}

func isRefMergekit(method string) bool {
	switch method {
	case "linear", "task_arithmetic", "mergekit_ties", "dare_ties", "dare_linear":
		return true
	}
	return false
}
