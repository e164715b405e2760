package merge

import (
	"errors"
	"fmt"

	"github.com/distac/distac/ffi"
)

// elementwise merges elements [lo, hi) of a float tensor with the method's
// chunk function (a matrix method's mean for its other tensors): the task
// vectors on the backend in, delta out, theta written.
func (wk *worker) elementwise(p *pass, j job) error {
	it, lo, hi := j.it, j.lo, j.hi
	if hi == lo {
		return nil
	}
	baseRaw, err := wk.load(roleBase, 0, it.base, lo, hi)
	if err != nil {
		return err
	}
	if ws := wk.m.method.weights; ws != nil && !wk.m.unfused.Load() {
		delta, ok, err := wk.accumulate(p, j, baseRaw, ws(wk.m.values, len(it.tasks)))
		if err != nil {
			return err
		}
		if ok {
			if err := wk.finish(p, j, baseRaw, delta); err != nil {
				return err
			}
			p.pages.Consumed(it.base, lo, hi)
			return nil
		}
	}
	T := len(it.tasks)
	taus := make([]ffi.Vec, T)
	for t := range it.tasks {
		if taus[t], err = wk.taskVector(p, j, t, t, baseRaw, p.check, true); err != nil {
			return err
		}
	}
	delta, err := wk.vec(bufKey{roleDelta, 0, ffi.F32}, hi-lo)
	if err != nil {
		return err
	}
	c := &chunk{wk: wk, tensor: it.base.Name, lo: lo, taus: taus, delta: delta, v: wk.m.values, state: wk.m.state}
	if err := wk.m.method.chunk(c); err != nil {
		return fmt.Errorf("%s: tensor %q: %w", wk.m.method.Name, it.base.Name, err)
	}
	if err := wk.finish(p, j, baseRaw, delta); err != nil {
		return err
	}
	p.pages.Consumed(it.base, lo, hi) // after finish: baseRaw may be a view of these pages
	return nil
}

// accumulate writes job j's delta = sum_t w_t tau_t, reading each task's
// chunk once: SubAccumulate forms tau_t, adds w_t tau_t into delta and, when
// the pass checks, sums tau_t's squares into the task's slot, with the bits
// of Sub, WeightedSum and SumSq. ok is false, with nothing written, when the
// backend lacks the op; the merge then forms the task vectors first, in
// this job and the later ones.
func (wk *worker) accumulate(p *pass, j job, baseRaw ffi.Vec, w []float32) (delta ffi.Vec, ok bool, err error) {
	if delta, err = wk.vec(bufKey{roleDelta, 0, ffi.F32}, j.hi-j.lo); err != nil {
		return delta, false, err
	}
	for t, tt := range j.it.tasks {
		ft, err := wk.load(roleFT, 0, tt, j.lo, j.hi)
		if err != nil {
			return delta, false, err
		}
		var ss ffi.Vec
		if p.check {
			ss = p.slot(j, t)
		}
		err = wk.be.SubAccumulate(ffi.Vec{}, delta, ft, baseRaw, w[t], t == 0, ss)
		if t == 0 && errors.Is(err, ffi.ErrNotImplemented) {
			wk.m.unfused.Store(true)
			return delta, false, nil
		}
		if err != nil {
			return delta, false, fmt.Errorf("task %s: tensor %q: %w", tt.Path(), tt.Name, err)
		}
		p.pages.Consumed(tt, j.lo, j.hi)
	}
	return delta, true, nil
}
