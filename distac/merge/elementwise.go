package merge

import (
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
