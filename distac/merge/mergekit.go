package merge

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/distac/distac/ffi"
)

// mergekit's methods, computed as mergekit computes them: per tensor, with
// per-model weights w_t and densities d_t (mergekit's
// merge_methods/generalized_task_arithmetic.py, sparsify.py, linear.py).
//
//	sparsify  tau_t -> m_t ⊙ tau_t: magnitude (ties) keeps the int(d_t * n)
//	          largest |tau_t| of the tensor; random (dare_*) keeps each entry
//	          with probability d_t; rescale multiplies by
//	          sum|tau_t| / sum|m_t ⊙ tau_t| (the L1 norm, mergekit's rescale)
//	consensus (ties, dare_ties) gamma = sign(sum_t w_t tau_t) (0 -> +),
//	          c_t = [sign(w_t tau_t) = gamma]
//	mix       delta = sum_t c_t w_t tau_t, divided by sum_t c_t w_t (0 -> 1)
//	          when normalize (without consensus: sum_t w_t, |.| < 1e-8 -> 1)
//	scale     theta = theta_0 + alpha * delta (mergekit's lambda is alpha)
//
// linear is the weighted average of the models themselves: theta =
// (w_0 theta_0 + sum_t w_t theta_t) / W with W = w_0 + sum_t w_t (w_0:
// base_weight), that is theta_0 + sum_t w_t tau_t / W; without normalize
// theta = W theta_0 + sum_t w_t tau_t.

// sparsification is how a GTA method trims each task vector.
type sparsification uint8

const (
	sparsifyNone      sparsification = iota
	sparsifyMagnitude                // top int(d*n) by |tau| per tensor
	sparsifyRandom                   // Bernoulli(d) per entry, seeded
)

// gta is one of mergekit's generalized task arithmetic methods.
type gta struct {
	sparsify  sparsification
	consensus bool // sign election by the weighted sum
}

// mergekit parameters shared by its methods.
var (
	paramWeights = Param{Key: "weights", Kind: FloatList, Default: "1",
		Usage: "per-model weights w_t, one value or one per task (comma-separated)",
		valid: func(v any) error { return allFinite(v.([]float64)) }}
	paramDensity = Param{Key: "density", Kind: FloatList, Default: "1",
		Usage: "fraction of each tensor's entries kept per task, in (0, 1]: one value or one per task",
		valid: func(v any) error {
			for _, d := range v.([]float64) {
				if err := within(d, 0, false, 1, true, "a density"); err != nil {
					return err
				}
			}
			return nil
		}}
	paramRescale = Param{Key: "rescale", Kind: Bool, Default: "false",
		Usage: "rescale each trimmed tensor to its L1 norm before trimming (default true for dare_ties, dare_linear)"}
	paramSeed = Param{Key: "seed", Kind: Uint, Default: "0", Usage: "seed of the drop mask"}
)

// normalizeParam is mergekit's normalize, whose default differs by method.
func normalizeParam(def bool) Param {
	return Param{Key: "normalize", Kind: Bool, Default: fmt.Sprint(def),
		Usage: "divide by the sum of the weights (default true for linear and mergekit_ties, false otherwise)"}
}

func allFinite(xs []float64) error {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%v, want a finite value", x)
		}
	}
	return nil
}

// perTaskLen checks that each FloatList key has one value or one per task.
func perTaskLen(v Values, tasks int, keys ...string) error {
	for _, k := range keys {
		if l := len(v.Floats(k)); l != 1 && l != tasks {
			return fmt.Errorf("%d %s for %d tasks (give one, or one per task)", l, k, tasks)
		}
	}
	return nil
}

// gtaMethod defines one of mergekit's generalized task arithmetic methods.
func gtaMethod(name, mergekitName, doc string, g gta, normalize, rescale bool) *Method {
	params := []Param{paramWeights, normalizeParam(normalize)}
	if g.sparsify != sparsifyNone {
		r := paramRescale
		r.Default = fmt.Sprint(rescale)
		params = append(params, paramDensity, r)
	}
	keys := []string{"weights"}
	if g.sparsify != sparsifyNone {
		keys = append(keys, "density")
	}
	if g.sparsify == sparsifyRandom {
		params = append(params, paramSeed)
	}
	return &Method{Name: name, Mergekit: mergekitName, Doc: doc, Params: params,
		check:  func(v Values, tasks int) error { return perTaskLen(v, tasks, keys...) },
		tensor: func(w *wholeTensor) ([]float64, error) { return g.merge(w) },
	}
}

// linearMethod is mergekit's linear: the weighted average of the models.
var linearMethod = &Method{
	Name: "linear", Doc: "mergekit linear: (w_0 theta_0 + sum_t w_t theta_t) / W, W = w_0 + sum_t w_t",
	Params: []Param{paramWeights, normalizeParam(true),
		{Key: "base_weight", Kind: Float, Default: "0", Usage: "linear: the base model's own weight w_0 in the average",
			valid: func(v any) error { return allFinite([]float64{v.(float64)}) }}},
	check: func(v Values, tasks int) error {
		if err := perTaskLen(v, tasks, "weights"); err != nil {
			return err
		}
		if linearTotal(v, tasks) == 0 {
			return errors.New("the weights sum to 0")
		}
		return nil
	},
	tensor: func(w *wholeTensor) ([]float64, error) {
		W := linearTotal(w.v, len(w.taus))
		if !w.v.Bool("normalize") {
			W = 1 // theta = W theta_0 + sum_t w_t tau_t: baseScale
		}
		delta := make([]float64, len(w.taus[0]))
		for t, tau := range w.taus {
			wt := w.v.perTask("weights", t)
			for i, x := range tau {
				delta[i] += wt * float64(x)
			}
		}
		for i := range delta {
			delta[i] /= W
		}
		return delta, nil
	},
	baseScale: func(v Values, tasks int) float64 {
		if v.Bool("normalize") {
			return 1
		}
		return linearTotal(v, tasks)
	},
}

// linearTotal is W = w_0 + sum_t w_t.
func linearTotal(v Values, tasks int) float64 {
	W := v.Float("base_weight")
	for t := 0; t < tasks; t++ {
		W += v.perTask("weights", t)
	}
	return W
}

// merge computes delta for one tensor as mergekit's GTATask does.
func (g gta) merge(w *wholeTensor) ([]float64, error) {
	T, n := len(w.taus), len(w.taus[0])
	deltas := make([][]float64, T)
	for t, tau := range w.taus {
		d := make([]float64, n)
		for i, x := range tau {
			d[i] = float64(x)
		}
		var err error
		if d, err = g.sparsifyTask(d, w, t); err != nil {
			return nil, err
		}
		deltas[t] = d
	}
	normalize := w.v.Bool("normalize")
	out := make([]float64, n)
	for i := range out {
		var elect float64
		for t := range deltas {
			elect += w.v.perTask("weights", t) * deltas[t][i]
		}
		var mixed, divisor float64
		for t := range deltas {
			wt := w.v.perTask("weights", t)
			x := wt * deltas[t][i]
			if g.consensus && !sameSign(x, elect) {
				continue
			}
			mixed += x
			divisor += wt
		}
		switch {
		case g.consensus && divisor == 0:
			divisor = 1
		case !g.consensus && math.Abs(divisor) < 1e-8:
			divisor = 1
		}
		if normalize {
			mixed /= divisor
		}
		out[i] = mixed
	}
	return out, nil
}

// sameSign is mergekit's consensus test: sign(x) equals the elected sign,
// + when elect >= 0; a zero x agrees with neither.
func sameSign(x, elect float64) bool {
	if elect >= 0 {
		return x > 0
	}
	return x < 0
}

// sparsifyTask trims task t's tensor d in place to its density, rescaled
// to the L1 norm it had when rescale is set.
func (g gta) sparsifyTask(d []float64, w *wholeTensor, t int) ([]float64, error) {
	if g.sparsify == sparsifyNone {
		return d, nil
	}
	density := w.v.perTask("density", t)
	if density >= 1 {
		return d, nil
	}
	var before float64
	for _, x := range d {
		before += math.Abs(x)
	}
	switch g.sparsify {
	case sparsifyMagnitude:
		k := int(density * float64(len(d)))
		if k <= 0 {
			return nil, fmt.Errorf("density %g keeps none of the %d entries (mergekit refuses this too)", density, len(d))
		}
		idx := make([]int, len(d))
		for i := range idx {
			idx[i] = i
		}
		// Largest |x| first; equal magnitudes by position, so the result
		// does not depend on the sort.
		slices.SortFunc(idx, func(a, b int) int {
			if c := cmp.Compare(math.Abs(d[b]), math.Abs(d[a])); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		for _, i := range idx[k:] {
			d[i] = 0
		}
	case sparsifyRandom:
		key := dareKey(w.v.Uint("seed"), t, w.name)
		for i := range d {
			if !ffi.DareKeep(key, uint64(i), 1-density) {
				d[i] = 0
			}
		}
	}
	if w.v.Bool("rescale") {
		var after float64
		for _, x := range d {
			after += math.Abs(x)
		}
		if before >= 1e-7 && after >= 1e-7 { // mergekit's eps
			for i := range d {
				d[i] *= before / after
			}
		}
	}
	return d, nil
}

// The mergekit methods, in the order the CLI lists them.
var mergekitMethods = []*Method{
	linearMethod,
	gtaMethod("task_arithmetic", "", "mergekit task_arithmetic: sum_t w_t tau_t (/ sum_t w_t with normalize)",
		gta{}, false, false),
	gtaMethod("mergekit_ties", "ties", "mergekit ties: per-tensor top density, sign of sum_t w_t tau_t, weighted disjoint mean",
		gta{sparsify: sparsifyMagnitude, consensus: true}, true, false),
	gtaMethod("dare_ties", "", "mergekit dare_ties: keep entries with probability density (seeded), L1 rescale, TIES consensus",
		gta{sparsify: sparsifyRandom, consensus: true}, false, true),
	gtaMethod("dare_linear", "", "mergekit dare_linear: keep entries with probability density (seeded), L1 rescale, sum_t w_t tau_t",
		gta{sparsify: sparsifyRandom}, false, true),
}
