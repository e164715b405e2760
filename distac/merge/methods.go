package merge

import (
	"fmt"
	"math"

	"github.com/distac/distac/ffi"
	"gonum.org/v1/gonum/mat"
)

// The merge methods of the DisTaC paper's evaluation, each defined once.
// theta = theta_0 + alpha * delta, with delta from the task vectors
// tau_t = theta_t - theta_0 as each one's Doc says.

// Method names, for code that picks one.
const (
	MethodMean      = "mean"
	MethodTA        = "ta"
	MethodTIES      = "ties"
	MethodConsensus = "consensus"
	MethodTSVM      = "tsvm"
	MethodIsoC      = "isoc"
	MethodIsoCTS    = "isocts"
	MethodDARE      = "dare"
	MethodWUDI      = "wudi"
	MethodEMR       = "emr"
)

// Methods lists every merge method in the order the CLI shows them.
var Methods = []*Method{
	{Name: MethodMean, Doc: "sum_t tau_t / T", weights: meanWeights},
	{Name: MethodTA, Doc: "task arithmetic: sum_t tau_t", weights: func(_ Values, T int) []float32 { return uniform(1, T) }},
	{
		Name: MethodTIES, Doc: "keep the top k % of each task vector, elect signs, disjoint mean",
		Params: []Param{{Key: "k", Kind: Float, Default: "20",
			Usage: "percent of each task vector's entries kept (by magnitude, over the whole model)",
			valid: func(v any) error { return within(v.(float64), 0, false, 100, true, "a percentage") }}},
		prepare: tiesThresholds,
		chunk: func(c *chunk) error {
			return c.wk.be.TiesMerge(c.delta, c.taus, c.state.([]float32))
		},
	},
	{
		Name: MethodConsensus, Doc: "TALL masks |tau_t| > lambda_t |tau_MTL - tau_t|, agreement >= min_agree",
		Params: []Param{
			{Key: "lambda", Kind: FloatList, Default: "0.4",
				Usage: "TALL mask lambda, one value or one per task (comma-separated)",
				valid: func(v any) error {
					for _, l := range v.([]float64) {
						if !(l >= 0) || math.IsInf(l, 0) {
							return fmt.Errorf("%v, want a finite value >= 0", l)
						}
					}
					return nil
				}},
			{Key: "min_agree", Kind: Int, Default: "2", Usage: "minimum number of agreeing task masks",
				valid: func(v any) error {
					if v.(int) < 1 {
						return fmt.Errorf("%d, want >= 1", v.(int))
					}
					return nil
				}},
		},
		check: func(v Values, tasks int) error {
			if tasks > 255 {
				return fmt.Errorf("%d tasks, at most 255", tasks)
			}
			if l := len(v.Floats("lambda")); l != 1 && l != tasks {
				return fmt.Errorf("%d lambdas for %d tasks (give one, or one per task)", l, tasks)
			}
			return nil
		},
		prepare: func(m *merger) (any, error) { return consensusLambdas(m.values.Floats("lambda"), len(m.tasks)), nil },
		chunk: func(c *chunk) error {
			return c.wk.be.TallConsensus(c.delta, ffi.Vec{}, c.taus, c.state.([]float32), c.v.Int("min_agree"))
		},
	},
	{Name: MethodTSVM, Doc: "task singular vectors: top r/T triplets per task, orthogonalised",
		weights: meanWeights, matrix: tsvmMerge, svd: true},
	{Name: MethodIsoC, Doc: "isotropic: the sum's singular vectors with a flat spectrum",
		weights: meanWeights, matrix: isoCMerge, svd: true},
	{
		Name: MethodIsoCTS, Doc: "Iso-CTS: common + task-specific subspaces, flat spectrum",
		Params: []Param{{Key: "common_fraction", Kind: Float, Default: "0.8",
			Usage: "fraction of the rank given to the common subspace",
			valid: func(v any) error { return within(v.(float64), 0, true, 1, true, "a fraction") }}},
		weights: meanWeights, matrix: func(eng svdEngine, tau taskMatrices, T, m, n int, v Values) (*mat.Dense, error) {
			return isoCTSMerge(eng, tau, T, m, n, v.Float("common_fraction"))
		},
		reads: 2, svd: true,
	},
	{
		Name: MethodDARE, Doc: "drop a fraction p of each task vector (seeded), rescale 1/(1-p), sum",
		Params: []Param{
			{Key: "drop", Kind: Float, Default: "0.9", Usage: "drop rate p, 0 <= p < 1",
				valid: func(v any) error { return within(v.(float64), 0, true, 1, false, "a drop rate") }},
			{Key: "seed", Kind: Uint, Default: "0", Usage: "seed of the drop mask"},
		},
		chunk: dareChunk,
	},
	{
		Name: MethodWUDI, Doc: "WUDI: per matrix, Adam on sum_t ||(tau_m - tau_t) tau_t^T||^2 / ||tau_t||^2 from sum_t tau_t",
		Params: []Param{
			{Key: "steps", Kind: Int, Default: "300", Usage: "WUDI: Adam steps per matrix",
				valid: func(v any) error {
					if v.(int) < 0 {
						return fmt.Errorf("%d, want >= 0", v.(int))
					}
					return nil
				}},
			{Key: "lr", Kind: Float, Default: "1e-5", Usage: "WUDI: Adam learning rate",
				valid: func(v any) error {
					if x := v.(float64); !(x > 0) || math.IsInf(x, 0) {
						return fmt.Errorf("%v, want a finite rate > 0", x)
					}
					return nil
				}},
		},
		weights: meanWeights, matrix: wudiMerge,
	},
	{
		Name: MethodEMR, Doc: "EMR: tau_uni = sign(sum_t tau_t) max_t |agreeing tau_t|, per-task masks and scales in OUT.modulators.safetensors",
		prepare: emrPrepare, tensor: emrTensor,
	},
}

func init() {
	Methods = append(Methods, mergekitMethods...)
	for _, m := range Methods {
		if m.weights != nil && m.chunk == nil {
			m.chunk = weightsChunk(m.weights)
		}
	}
}

// weightsChunk is the chunk function of a method given by its weights:
// delta = sum_t w_t tau_t from task vectors already formed (the route of a
// backend without SubAccumulate; the sums are the same bits either way).
func weightsChunk(weights func(v Values, tasks int) []float32) func(c *chunk) error {
	return func(c *chunk) error {
		return c.wk.be.WeightedSum(c.delta, c.taus, weights(c.v, len(c.taus)))
	}
}

// within checks lo < x < hi, the ends included as asked; NaN is never within.
func within(x, lo float64, loIn bool, hi float64, hiIn bool, what string) error {
	ok := (x > lo || loIn && x == lo) && (x < hi || hiIn && x == hi)
	if !ok {
		l, r := "(", ")"
		if loIn {
			l = "["
		}
		if hiIn {
			r = "]"
		}
		return fmt.Errorf("%v, want %s in %s%v, %v%s", x, what, l, lo, hi, r)
	}
	return nil
}

// weightedSum writes delta = w * sum_t tau_t.
func (c *chunk) weightedSum(w float32) error {
	return c.wk.be.WeightedSum(c.delta, c.taus, uniform(w, len(c.taus)))
}

// uniform is T weights of w.
func uniform(w float32, T int) []float32 {
	ws := make([]float32, T)
	for i := range ws {
		ws[i] = w
	}
	return ws
}

// meanWeights are the weights 1/T of delta = sum_t tau_t / T: the mean
// method, and the tensors of the matrix methods that are not matrices
// (biases, norms, embeddings, conv kernels).
func meanWeights(_ Values, T int) []float32 { return uniform(float32(1/float64(T)), T) }

// consensusLambdas expands the lambdas to one per task, in float32.
func consensusLambdas(lambdas []float64, tasks int) []float32 {
	ls := make([]float32, tasks)
	for t := range ls {
		if len(lambdas) == 1 {
			ls[t] = float32(lambdas[0])
		} else {
			ls[t] = float32(lambdas[t])
		}
	}
	return ls
}

// dareChunk is DARE: delta = sum_t m_t ⊙ tau_t / (1 - p), m_t ~
// Bernoulli(1 - p) from a stream keyed by (seed, t, tensor), so the mask is
// the same for any chunking, worker count or backend.
func dareChunk(c *chunk) error {
	p, seed := c.v.Float("drop"), c.v.Uint("seed")
	for t, tau := range c.taus {
		if err := c.wk.be.DareDrop(tau, dareKey(seed, t, c.tensor), uint64(c.lo), p); err != nil {
			return err
		}
	}
	return c.weightedSum(float32(1 / (1 - p)))
}
