package distac

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/distac/distac/ffi"
)

// worker owns reusable backend buffers for one goroutine.
type worker struct {
	m     *merger
	be    ffi.Backend
	bufs  map[bufKey]ffi.Buffer
	host  []byte       // staging for backends whose memory is not host memory
	hist  [][]uint64   // TIES: per-task radix histograms
	win   []tiesWindow // TIES: per-task window counts
	sumsq []float64    // per-task sum of squares of the task vector
	f32   []float32    // host copy of one f32 vector
	f64   []float64    // float64 copy of one task matrix (SVD methods)
	diag  diagAcc      // Diagnose's sums
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
	return &worker{m: m, be: m.be, bufs: map[bufKey]ffi.Buffer{}, sumsq: make([]float64, len(m.tasks))}
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
}

// load returns elements [lo, hi) of t on the backend: on a host backend a
// read-only view of the mapped file itself (no copy: the kernels read the
// page cache directly, which one pass of a merge is mostly made of), else a
// copy in the scratch buffer (role, idx). A view stays valid while the
// checkpoint is open, but its pages may be released once the pass has
// consumed them, so read it before calling pages.consumed.
func (wk *worker) load(role byte, idx int, t *Tensor, lo, hi int) (ffi.Vec, error) {
	if v, ok := ffi.HostView(wk.be, toFFI(t.DType), t.Bytes(lo, hi)); ok {
		return v, nil
	}
	v, err := wk.vec(bufKey{role, idx, toFFI(t.DType)}, hi-lo)
	if err != nil {
		return v, err
	}
	if err := wk.be.Upload(v, t.Bytes(lo, hi)); err != nil {
		return v, fmt.Errorf("%s: tensor %q: %w", t.Path(), t.Name, err)
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

// taskVector computes tau = ft - base for elements [lo, hi) of task t into
// the tau scratch buffer idx. With check set it also checks that tau is
// finite and adds its sum of squares to wk.sumsq[t]: the first pass over a
// task vector checks, later passes (TIES's, Iso-CTS's second read) need not.
// With consume set the task's pages are released once the pass is done with
// them.
func (wk *worker) taskVector(idx, t int, it *item, baseRaw ffi.Vec, lo, hi int, check, consume bool) (ffi.Vec, error) {
	tt := it.tasks[t]
	ft, err := wk.load(roleFT, 0, tt, lo, hi)
	if err != nil {
		return ffi.Vec{}, err
	}
	tau, err := wk.vec(bufKey{roleTau, idx, ffi.F32}, hi-lo)
	if err != nil {
		return tau, err
	}
	if err := wk.be.Sub(tau, ft, baseRaw); err != nil {
		return tau, fmt.Errorf("task %s: tensor %q: %w", tt.Path(), tt.Name, err)
	}
	if consume {
		wk.m.pages.consumed(tt, lo, hi)
	}
	if !check {
		return tau, nil
	}
	ss, err := wk.be.SumSq(tau)
	if err != nil {
		return tau, fmt.Errorf("task %s: tensor %q: %w", tt.Path(), tt.Name, err)
	}
	if math.IsNaN(ss) || math.IsInf(ss, 0) {
		return tau, wk.nonFinite(tt, tau, lo)
	}
	wk.sumsq[t] += ss
	return tau, nil
}

// nonFinite builds the error for a task vector holding NaN or Inf, naming
// the first bad element.
func (wk *worker) nonFinite(tt *Tensor, tau ffi.Vec, lo int) error {
	xs, err := wk.floats(tau)
	if err == nil {
		for i, x := range xs {
			if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("task %s: tensor %q: task vector is %v at element %d", tt.Path(), tt.Name, x, lo+i)
			}
		}
	}
	return fmt.Errorf("task %s: tensor %q: task vector has NaN or Inf in elements [%d, %d)", tt.Path(), tt.Name, lo, lo+tau.N)
}

// carry copies elements [lo, hi) of an integer tensor from the base.
func (wk *worker) carry(j job) error {
	bt := j.it.base
	err := wk.m.w.WriteAt(j.it.out, int64(j.lo)*int64(bt.elemSize()), bt.Bytes(j.lo, j.hi))
	wk.m.pages.consumed(bt, j.lo, j.hi)
	return err
}

// finish writes theta = base + alpha * delta for elements [lo, hi) of the
// item, converted to the output dtype. baseRaw holds the base elements in
// their own dtype and is overwritten unless it is a read-only view or not f32.
func (wk *worker) finish(it *item, baseRaw, delta ffi.Vec, lo, hi int) error {
	theta := baseRaw
	var err error
	switch {
	case baseRaw.Buf.DType() == ffi.F32 && ffi.IsHostView(baseRaw):
		// theta = 1*base + alpha*delta: the same float operations as Axpy on
		// a copy of the base (1*base is exact), without the copy.
		if theta, err = wk.vec(bufKey{roleTheta, 0, ffi.F32}, hi-lo); err == nil {
			err = wk.be.WeightedSum(theta, []ffi.Vec{baseRaw, delta}, []float32{1, wk.m.alpha})
		}
	case baseRaw.Buf.DType() != ffi.F32:
		if theta, err = wk.vec(bufKey{roleTheta, 0, ffi.F32}, hi-lo); err == nil {
			if err = wk.be.Convert(theta, baseRaw); err == nil {
				err = wk.be.Axpy(wk.m.alpha, delta, theta)
			}
		}
	default:
		err = wk.be.Axpy(wk.m.alpha, delta, theta)
	}
	if err != nil {
		return fmt.Errorf("tensor %q: %w", it.base.Name, err)
	}
	out := theta
	if odt := toFFI(it.outDT); odt != ffi.F32 {
		var err error
		if out, err = wk.vec(bufKey{roleOut, 0, odt}, hi-lo); err != nil {
			return err
		}
		if err := wk.be.Convert(out, theta); err != nil {
			return fmt.Errorf("tensor %q: %w", it.base.Name, err)
		}
	}
	b, err := wk.bytesOf(out)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", it.base.Name, err)
	}
	return wk.m.w.WriteAt(it.out, int64(lo)*int64(it.outDT.Size()), b)
}
