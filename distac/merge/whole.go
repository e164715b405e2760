package merge

import (
	"fmt"

	"github.com/distac/distac/ffi"
)

// wholeTensor is what a tensor method (Method.tensor) works on: every task
// vector of one float tensor, whole, on the host.
type wholeTensor struct {
	name  string
	idx   int         // the tensor's position in the plan (merger.items)
	shape []uint64    // the tensor's shape
	taus  [][]float32 // tau_t, one per task
	v     Values
	state any // what the method's prepare returned
}

// whole merges one float tensor with a tensor method: each tau_t formed on
// the backend and copied to the host, delta computed there in float64,
// theta written.
func (wk *worker) whole(p *pass, j job) error {
	defer wk.shrink()
	it := j.it
	numel := j.hi - j.lo
	if numel == 0 {
		return nil
	}
	baseRaw, err := wk.load(roleBase, 0, it.base, 0, numel)
	if err != nil {
		return err
	}
	w := &wholeTensor{name: it.base.Name, idx: it.idx, shape: it.base.Shape, v: wk.m.values, state: wk.m.state,
		taus: make([][]float32, len(it.tasks))}
	for t := range it.tasks {
		v, err := wk.taskVector(p, j, 0, t, baseRaw, p.check, true)
		if err != nil {
			return err
		}
		xs, err := wk.hostFloats(v)
		if err != nil {
			return err
		}
		if _, _, bad := firstBad(xs); bad {
			return wk.nonFinite(j, t)
		}
		w.taus[t] = append([]float32(nil), xs...) // the scratch buffer is reused by the next task
	}
	delta, err := wk.m.method.tensor(w)
	if err != nil {
		return fmt.Errorf("%s: tensor %q: %w", wk.m.method.Name, it.base.Name, err)
	}
	d32 := make([]float32, numel)
	for i, x := range delta {
		d32[i] = float32(x)
	}
	return wk.finishHost(p, j, baseRaw, d32)
}

// finishHost uploads delta, computed on the host for the whole tensor of
// job j, and finishes the job with it (theta = theta_0 + alpha delta, the
// output written); the base's pages are released after.
func (wk *worker) finishHost(p *pass, j job, baseRaw ffi.Vec, d32 []float32) error {
	numel := len(d32)
	dv, err := wk.vec(bufKey{roleDelta, 0, ffi.F32}, numel)
	if err != nil {
		return err
	}
	if err := wk.be.Upload(dv, ffi.F32Bytes(d32)); err != nil {
		return err
	}
	if err := wk.finish(p, j, baseRaw, dv); err != nil {
		return err
	}
	p.pages.Consumed(j.it.base, 0, numel) // after finish: baseRaw may be a view of these pages
	return nil
}
