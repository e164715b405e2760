package merge

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/errmark"
)

// worker owns reusable backend buffers for one goroutine.
type worker struct {
	m    *merger
	be   ffi.Backend
	bufs map[bufKey]ffi.Buffer
	host []byte    // staging for backends whose memory is not host memory
	f32  []float32 // host copy of one f32 vector
	f64  []float64 // float64 copy of one task matrix (matrix methods)
	// counts are a pass's per-worker reductions on the backend (TIES: each
	// task's histogram or window), read once when the pass ends.
	counts []ffi.Buffer
}

// bufKey names a scratch buffer: its role, an index (task) and dtype.
type bufKey struct {
	role byte
	idx  int
	dt   ffi.DType
}

// Scratch roles.
const (
	roleBase  = 'b' // base chunk, in its dtype
	roleFT    = 'f' // a task's chunk, in its dtype
	roleTau   = 't' // tau_t, f32 (idx = task)
	roleDelta = 'd' // merged delta, f32
	roleTheta = 'h' // base in f32, then theta
	roleOut   = 'o' // theta in the output dtype
)

func newWorker(m *merger) *worker {
	return &worker{m: m, be: m.be, bufs: map[bufKey]ffi.Buffer{}}
}

// vec returns n elements of the scratch buffer for k, growing it as needed.
func (wk *worker) vec(k bufKey, n int) (ffi.Vec, error) {
	b, ok := wk.bufs[k]
	if !ok || b.Len() < n {
		if ok {
			wk.be.Free(b)
			delete(wk.bufs, k)
		}
		var err error
		if b, err = wk.be.Alloc(k.dt, max(n, wk.m.chunk)); err != nil {
			return ffi.Vec{}, err
		}
		wk.bufs[k] = b
	}
	return ffi.Vec{Buf: b, N: n}, nil
}

// shrink frees buffers grown past the chunk size by a whole-tensor job.
func (wk *worker) shrink() {
	if cap(wk.f64) > wk.m.chunk {
		wk.f64 = nil
	}
	if cap(wk.f32) > wk.m.chunk {
		wk.f32 = nil
	}
	for k, b := range wk.bufs {
		if b.Len() > wk.m.chunk {
			wk.be.Free(b)
			delete(wk.bufs, k)
		}
	}
}

func (wk *worker) free() {
	for k, b := range wk.bufs {
		wk.be.Free(b)
		delete(wk.bufs, k)
	}
	for _, b := range wk.counts {
		if b != nil {
			wk.be.Free(b)
		}
	}
	wk.counts = nil
}

// load returns elements [lo, hi) of t on the backend, a copy in the scratch
// buffer (role, idx). On a host backend the file is read straight into that
// buffer (Tensor.ReadTo: pread, one copy, no page faults and no pages to
// release afterwards); otherwise the copy is uploaded from the mapped file
// in Go, where a fault (the file shrank under us) becomes an error naming it
// (see checkpoint.Tensor.View). Either way the kernels, which could not
// recover from a fault, only ever read the copy.
func (wk *worker) load(role byte, idx int, t *checkpoint.Tensor, lo, hi int) (ffi.Vec, error) {
	v, err := wk.vec(bufKey{role, idx, checkpoint.ComputeType(t.DType)}, hi-lo)
	if err != nil {
		return v, err
	}
	if b, ok := ffi.HostBytes(v); ok {
		return v, t.ReadTo(lo, hi, b) // names the file and tensor
	}
	var upErr error
	if err := t.View(lo, hi, func(b []byte) error { upErr = wk.be.Upload(v, b); return nil }); err != nil {
		return v, err // names the file and tensor
	}
	if upErr != nil {
		return v, fmt.Errorf("%s: tensor %q: %w", t.Path(), t.Name, upErr)
	}
	return v, nil
}

// bytesOf returns the bytes of v: the buffer itself on a host backend, a
// downloaded copy otherwise.
func (wk *worker) bytesOf(v ffi.Vec) ([]byte, error) {
	if b, ok := ffi.HostBytes(v); ok {
		return b, nil
	}
	n := v.N * v.Buf.DType().Size()
	if cap(wk.host) < n {
		wk.host = make([]byte, n)
	}
	b := wk.host[:n]
	return b, wk.be.Download(b, v)
}

// hostFloats returns an f32 vector as []float32: a view of the buffer on a
// host backend (valid until the buffer is next written), else a copy.
func (wk *worker) hostFloats(v ffi.Vec) ([]float32, error) {
	if b, ok := ffi.HostBytes(v); ok {
		if len(b) == 0 {
			return nil, nil
		}
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), v.N), nil
	}
	return wk.floats(v)
}

// floats returns a host []float32 copy of an f32 vector.
func (wk *worker) floats(v ffi.Vec) ([]float32, error) {
	if cap(wk.f32) < v.N {
		wk.f32 = make([]float32, v.N)
	}
	out := wk.f32[:v.N]
	return out, wk.be.Download(ffi.F32Bytes(out), v)
}

// taskVector computes tau = ft - base for job j's elements of task t into
// the tau scratch buffer idx. With check set it also writes tau's sum of
// squares into the job's slot t of the pass (which checks it when the tensor
// is done): the first pass over a task vector checks, later passes (TIES's,
// Iso-CTS's second read) need not. With consume set the task's pages are
// released once the pass is done with them.
func (wk *worker) taskVector(p *pass, j job, idx, t int, baseRaw ffi.Vec, check, consume bool) (ffi.Vec, error) {
	tt := j.it.tasks[t]
	tauKey := bufKey{roleTau, idx, ffi.F32}
	// An f32 task is read into the tau buffer itself and subtracted in place:
	// one buffer less in the cache per task.
	ftKey := bufKey{roleFT, 0, checkpoint.ComputeType(tt.DType)}
	if ftKey.dt == ffi.F32 {
		ftKey = tauKey
	}
	ft, err := wk.load(ftKey.role, ftKey.idx, tt, j.lo, j.hi)
	if err != nil {
		return ffi.Vec{}, err
	}
	tau, err := wk.vec(tauKey, j.hi-j.lo)
	if err != nil {
		return tau, err
	}
	if err := wk.subSumSq(tau, ft, baseRaw, check, p, j, t); err != nil {
		return tau, fmt.Errorf("task %s: tensor %q: %w", tt.Path(), tt.Name, err)
	}
	if consume {
		p.pages.Consumed(tt, j.lo, j.hi)
	}
	return tau, nil
}

// subSumSq is tau = ft - base and, with check, its sum of squares into job
// j's slot t of the pass: one pass (SubAccumulate) where the backend has it,
// else Sub and SumSq.
func (wk *worker) subSumSq(tau, ft, baseRaw ffi.Vec, check bool, p *pass, j job, t int) error {
	if !check {
		return wk.be.Sub(tau, ft, baseRaw)
	}
	if !wk.m.unfused.Load() {
		err := wk.be.SubAccumulate(tau, ffi.Vec{}, ft, baseRaw, 0, false, p.slot(j, t))
		if !errors.Is(err, ffi.ErrNotImplemented) {
			return err
		}
		wk.m.unfused.Store(true)
	}
	if err := wk.be.Sub(tau, ft, baseRaw); err != nil {
		return err
	}
	return wk.be.SumSq(tau, p.slot(j, t))
}

// nonFinite builds the error for job j's task vector of task t, whose sum
// of squares is NaN or Inf: it forms tau again and names the first bad
// element, and the base rather than the task when the base is what holds it.
func (wk *worker) nonFinite(j job, t int) error {
	return errmark.As(ErrNonFinite, wk.nonFiniteText(j, t))
}

// nonFiniteText is nonFinite's message.
func (wk *worker) nonFiniteText(j job, t int) error {
	it := j.it
	tt := it.tasks[t]
	fallback := fmt.Errorf("task %s: tensor %q: task vector has NaN or Inf in elements [%d, %d)", tt.Path(), tt.Name, j.lo, j.hi)
	base, err := wk.load(roleBase, 0, it.base, j.lo, j.hi)
	if err != nil {
		return fallback
	}
	if i, x, ok := wk.firstNonFinite(base, it.base.DType); ok {
		return fmt.Errorf("base %s: tensor %q is %v at element %d", it.base.Path(), it.base.Name, x, j.lo+i)
	}
	p := &pass{m: wk.m} // a scratch pass: no sums, no page release
	tau, err := wk.taskVector(p, j, 0, t, base, false, false)
	if err != nil {
		return fallback
	}
	if i, x, ok := wk.firstNonFinite(tau, checkpoint.DType(0)); ok {
		return fmt.Errorf("task %s: tensor %q: task vector is %v at element %d", tt.Path(), tt.Name, x, j.lo+i)
	}
	return fallback
}

// firstNonFinite finds the first NaN or Inf of a float Vec (of its own
// dtype; raw is the checkpoint dtype of a base chunk, or 0 for f32).
func (wk *worker) firstNonFinite(v ffi.Vec, raw checkpoint.DType) (int, float32, bool) {
	if v.Buf.DType() != ffi.F32 {
		b, err := wk.bytesOf(v)
		if err != nil {
			return 0, 0, false
		}
		xs, err := checkpoint.DecodeFloats(raw, b)
		if err != nil {
			return 0, 0, false
		}
		return firstBad(xs)
	}
	xs, err := wk.floats(v)
	if err != nil {
		return 0, 0, false
	}
	return firstBad(xs)
}

func firstBad(xs []float32) (int, float32, bool) {
	for i, x := range xs {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return i, x, true
		}
	}
	return 0, 0, false
}

// outputNonFinite builds the error for job j's merged values, of which the
// output holds a NaN or Inf: it reads them back from the output and names
// the first.
func (wk *worker) outputNonFinite(j job) error {
	return errmark.As(ErrNonFinite, wk.outputNonFiniteText(j))
}

// outputNonFiniteText is outputNonFinite's message.
func (wk *worker) outputNonFiniteText(j job) error {
	it := j.it
	why := fmt.Sprintf("(alpha %g; a smaller alpha, or a wider --dtype than %s, may fit)", wk.m.opts.Alpha, it.outDT)
	b := make([]byte, (j.hi-j.lo)*int(it.outDT.Size()))
	if err := wk.m.w.ReadAt(it.out, int64(j.lo)*int64(it.outDT.Size()), b); err == nil {
		if xs, err := checkpoint.DecodeFloats(it.outDT, b); err == nil {
			if i, x, ok := firstBad(xs); ok {
				return fmt.Errorf("tensor %q: the merged value at element %d is %v in %s %s", it.base.Name, j.lo+i, x, it.outDT, why)
			}
		}
	}
	return fmt.Errorf("tensor %q: merged values in elements [%d, %d) are not finite in %s %s", it.base.Name, j.lo, j.hi, it.outDT, why)
}

// carry copies elements [lo, hi) of an integer tensor from the base.
func (wk *worker) carry(p *pass, j job) error {
	bt := j.it.base
	err := bt.View(j.lo, j.hi, func(b []byte) error {
		return wk.m.w.WriteAt(j.it.out, int64(j.lo)*int64(bt.ElemSize()), b)
	})
	p.pages.Consumed(bt, j.lo, j.hi)
	return err
}

// finish writes theta = base + alpha * delta for job j's elements,
// converted to the output dtype, and the sum of squares of what it writes
// into the job's output slot of the pass (checked finite when the tensor is
// done: an alpha or values too large for the output dtype are an error, not
// a model of Infs). baseRaw holds the base elements in their own dtype and
// is overwritten unless it is a read-only view or not f32.
func (wk *worker) finish(p *pass, j job, baseRaw, delta ffi.Vec) error {
	it, lo, hi := j.it, j.lo, j.hi
	theta := baseRaw
	var err error
	// theta = s*base + alpha*delta; s is 1 but for linear without normalize.
	s := wk.m.scale
	switch {
	case baseRaw.Buf.DType() == ffi.F32 && ffi.IsHostView(baseRaw):
		// theta = 1*base + alpha*delta: the same float operations as Axpy on
		// a copy of the base (1*base is exact), without the copy.
		if theta, err = wk.vec(bufKey{roleTheta, 0, ffi.F32}, hi-lo); err == nil {
			err = wk.be.WeightedSum(theta, []ffi.Vec{baseRaw, delta}, []float32{s, wk.m.alpha})
		}
	case baseRaw.Buf.DType() != ffi.F32:
		if theta, err = wk.vec(bufKey{roleTheta, 0, ffi.F32}, hi-lo); err == nil {
			if err = wk.be.Convert(theta, baseRaw); err == nil {
				err = wk.scaleAxpy(s, theta, delta)
			}
		}
	default:
		err = wk.scaleAxpy(s, theta, delta)
	}
	if err != nil {
		return fmt.Errorf("tensor %q: %w", it.base.Name, err)
	}
	out := theta
	if odt := checkpoint.ComputeType(it.outDT); odt != ffi.F32 {
		var err error
		if out, err = wk.vec(bufKey{roleOut, 0, odt}, hi-lo); err != nil {
			return err
		}
		if err := wk.be.Convert(out, theta); err != nil {
			return fmt.Errorf("tensor %q: %w", it.base.Name, err)
		}
	}
	if p.out {
		written := theta
		if out != theta { // the values as stored: back from the output dtype
			if written, err = wk.vec(bufKey{roleTheta, 1, ffi.F32}, hi-lo); err == nil {
				err = wk.be.Convert(written, out)
			}
		}
		if err == nil {
			err = wk.be.SumSq(written, p.slot(j, p.extra))
		}
		if err != nil {
			return fmt.Errorf("tensor %q: %w", it.base.Name, err)
		}
	}
	b, err := wk.bytesOf(out)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", it.base.Name, err)
	}
	return wk.m.w.WriteAt(it.out, int64(lo)*int64(it.outDT.Size()), b)
}

// scaleAxpy is theta = s*theta + alpha*delta (no scaling when s is 1).
func (wk *worker) scaleAxpy(s float32, theta, delta ffi.Vec) error {
	if s != 1 {
		if err := wk.be.Scale(theta, s); err != nil {
			return err
		}
	}
	return wk.be.Axpy(wk.m.alpha, delta, theta)
}
