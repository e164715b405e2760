package distac

import (
	"fmt"

	"github.com/distac/distac/ffi"
)

// elementwise merges elements [lo, hi) of a float tensor:
//
//	mean, and non-matrix tensors of SVD methods: delta = sum_t tau_t / T
//	ta:        delta = sum_t tau_t
//	dare:      delta = sum_t m_t ⊙ tau_t / (1 - p), m_t ~ Bernoulli(1 - p)
//	ties:      delta = disjoint mean of the sign-elected trimmed tau_t
//	consensus: delta = [#{t : |tau_t| > lambda_t |tau_MTL - tau_t|} >= 2] ⊙ tau_MTL
func (wk *worker) elementwise(j job) error {
	it, lo, hi := j.it, j.lo, j.hi
	if hi == lo {
		return nil
	}
	baseRaw, err := wk.load(roleBase, 0, it.base, lo, hi)
	if err != nil {
		return err
	}
	opts := wk.m.opts
	T := len(it.tasks)
	taus := make([]ffi.Vec, T)
	for t := range it.tasks {
		// TIES's threshold passes have checked the task vectors already.
		check := opts.Method != MethodTIES
		if taus[t], err = wk.taskVector(t, t, it, baseRaw, lo, hi, check, true); err != nil {
			return err
		}
		if opts.Method == MethodDARE {
			if err := wk.dareDrop(taus[t], t, it.base.Name, lo); err != nil {
				return err
			}
		}
	}
	delta, err := wk.vec(bufKey{roleDelta, 0, ffi.F32}, hi-lo)
	if err != nil {
		return err
	}
	switch opts.Method {
	case MethodTA:
		err = wk.be.WeightedSum(delta, taus, fill(T, 1))
	case MethodDARE:
		err = wk.be.WeightedSum(delta, taus, fill(T, float32(1/(1-opts.Drop))))
	case MethodTIES:
		err = wk.be.TiesMerge(delta, taus, wk.m.thresholds)
	case MethodConsensus:
		err = wk.be.TallConsensus(delta, ffi.Vec{}, taus, wk.m.lambdas, opts.MinAgree)
	default: // mean, and every non-matrix tensor of TSV-M, Iso-C and Iso-CTS
		err = wk.be.WeightedSum(delta, taus, fill(T, float32(1/float64(T))))
	}
	if err != nil {
		return fmt.Errorf("%s: tensor %q: %w", opts.Method, it.base.Name, err)
	}
	if err := wk.finish(it, baseRaw, delta, lo, hi); err != nil {
		return err
	}
	wk.m.pages.consumed(it.base, lo, hi) // after finish: baseRaw may be a view of these pages
	return nil
}

func fill(n int, v float32) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = v
	}
	return w
}

// dareDrop zeroes the elements of tau (elements lo.. of tensor name, task
// t) that DARE drops. The mask depends only on (seed, t, name, element), so
// it is the same for any chunking, worker count or backend.
func (wk *worker) dareDrop(tau ffi.Vec, t int, name string, lo int) error {
	key := dareKey(wk.m.opts.Seed, t, name)
	p := wk.m.opts.Drop
	if _, ok := ffi.HostBytes(tau); ok {
		xs, _ := wk.hostFloats(tau)
		dareApply(xs, key, uint64(lo), p)
		return nil
	}
	xs, err := wk.floats(tau)
	if err != nil {
		return err
	}
	dareApply(xs, key, uint64(lo), p)
	return wk.be.Upload(tau, ffi.F32Bytes(xs))
}

func dareApply(xs []float32, key, first uint64, p float64) {
	for i := range xs {
		if !dareKeep(key, first+uint64(i), p) {
			xs[i] = 0
		}
	}
}
