package merge

import (
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/errmark"
)

// job is a unit of work: elements [lo, hi) of one item (the whole tensor
// for kindMatrix), the n-th job of its pass.
type job struct {
	it     *item
	lo, hi int
	n      int
}

// bytes is what a job reads from the base and the tasks.
func (j job) bytes() int64 {
	return int64(j.hi-j.lo) * int64(j.it.base.ElemSize()) * int64(1+len(j.it.tasks))
}

// work is a job's share of the progress total, in units that take about
// the same time: the bytes it reads, plus for a matrix merged whole an
// estimate of its SVDs' float64 flops (T+2 thin SVDs of an m x n matrix,
// about 4*m*n^2 + 8*n^3 each for m >= n; a flop is counted as a byte, both
// near 1 GB/s per worker). Without it an SVD merge's time-left estimate
// is off by the ratio of its SVDs to its reads (tens of times).
func (j job) work() int64 {
	w := j.bytes()
	if j.it.kind == kindMatrix && len(j.it.base.Shape) == 2 {
		r, c := j.it.base.Shape[0], j.it.base.Shape[1]
		lo, hi := int64(min(r, c)), int64(max(r, c))
		w += int64(len(j.it.tasks)+2) * (4*hi*lo*lo + 8*lo*lo*lo)
	}
	return w
}

// pass is one sweep of jobs over the inputs, run by the workers.
//
// Sums stay on the backend until a tensor is done: every job writes its
// reductions (with check, first each task's sum of squares of tau) into its
// own slots of one F64 buffer, and the worker that finishes the last job of
// a tensor reads that tensor's slots back at once, checks the task vectors
// for NaN and Inf, and adds the slots up in job order, so the sums do not
// depend on which worker ran which job.
type pass struct {
	m     *merger
	jobs  []job
	check bool       // the pass checks the task vectors and sums their squares
	slots int        // F64 sums per job: T when check, then the extra ones
	extra int        // the first extra slot (T when check, else 0)
	out   bool       // the first extra slot is the output's sum of squares, checked finite
	sums  ffi.Buffer // F64, len(jobs)*slots; nil without slots
	pages *checkpoint.Pages
	first []int          // per item: its first job in jobs (-1: none)
	count []int          // per item: its jobs in the pass (consecutive from first)
	left  []atomic.Int64 // per item: jobs not yet done
	done  [][]float64    // per item: its slots summed over its jobs, once done
}

// newPass numbers jobs and prepares their sums (with check, T per job for
// the task vectors; then extra more) and page release.
func (m *merger) newPass(jobs []job, check bool, extra int) (*pass, error) {
	slots := extra
	if check {
		slots += len(m.tasks)
	}
	p := &pass{m: m, jobs: jobs, check: check, slots: slots, extra: slots - extra, pages: checkpoint.NewPages(),
		first: make([]int, len(m.items)), count: make([]int, len(m.items)), left: make([]atomic.Int64, len(m.items)), done: make([][]float64, len(m.items))}
	for i := range p.first {
		p.first[i] = -1
	}
	for n := range jobs {
		j := &jobs[n]
		j.n = n
		if p.first[j.it.idx] < 0 {
			p.first[j.it.idx] = n
		}
		p.count[j.it.idx]++
		p.left[j.it.idx].Add(1)
		p.pages.Expect(j.it.base, j.lo, j.hi)
		for _, t := range j.it.tasks {
			p.pages.Expect(t, j.lo, j.hi)
		}
	}
	if slots > 0 && len(jobs) > 0 {
		var err error
		if p.sums, err = m.be.Alloc(ffi.F64, len(jobs)*slots); err != nil {
			return nil, fmt.Errorf("sums of %d chunks: %w", len(jobs), err)
		}
	}
	return p, nil
}

// slot is job j's s-th sum.
func (p *pass) slot(j job, s int) ffi.Vec {
	return ffi.Vec{Buf: p.sums, Off: j.n*p.slots + s, N: 1}
}

func (p *pass) free() {
	p.pages.Finish()
	if p.sums != nil {
		p.m.be.Free(p.sums)
	}
}

// jobDone counts j as done; the worker that finishes a tensor's last job
// reads its sums.
func (p *pass) jobDone(wk *worker, j job) error {
	if p.sums == nil || j.it.kind == kindCarry || j.it.kind == kindBase || p.left[j.it.idx].Add(-1) != 0 {
		return nil
	}
	first, count := p.first[j.it.idx], p.count[j.it.idx]
	vals, err := ffi.ReadF64(p.m.be, ffi.Vec{Buf: p.sums, Off: first * p.slots, N: count * p.slots})
	if err != nil {
		return fmt.Errorf("tensor %q: %w", j.it.base.Name, err)
	}
	sum := make([]float64, p.slots)
	for k := range count {
		for s, v := range vals[k*p.slots : (k+1)*p.slots] {
			bad := math.IsNaN(v) || math.IsInf(v, 0)
			switch {
			case bad && p.check && s < p.extra:
				return wk.nonFinite(p.jobs[first+k], s)
			case bad && p.out && s == p.extra:
				return wk.outputNonFinite(p.jobs[first+k])
			}
			sum[s] += v
		}
	}
	p.done[j.it.idx] = sum
	return nil
}

// inputsChanged is an error naming the first input file truncated or
// rewritten in place since it was opened.
func (m *merger) inputsChanged() error {
	for _, c := range append([]*checkpoint.Checkpoint{m.base}, m.tasks...) {
		if err := c.Changed(); err != nil {
			return err
		}
	}
	return nil
}

// taskSums adds the per-task sums of squares of every item in item order.
func (p *pass) taskSums() []float64 {
	ss := make([]float64, p.extra)
	for _, d := range p.done {
		for t := range ss {
			if d != nil {
				ss[t] += d[t]
			}
		}
	}
	return ss
}

// sidecar is a method's state that writes a file of its own beside the
// merged model (EMR's modulators): committed after the merge pass, before
// the model, and removed when the merge fails.
type sidecar interface {
	commit() error
	abort()
}

// progress counts processed bytes for the caller's callback.
type progress struct {
	done, total atomic.Int64
	fn          func(done, total int64)
}

func (p *progress) add(n int64) {
	if p == nil || p.fn == nil {
		return
	}
	p.fn(p.done.Add(n), p.total.Load())
}

// run executes the plan: the method's preparing passes (TIES: thresholds),
// then the merge pass, then commits the output. The output is removed on
// error.
func (m *merger) run() (rep *Report, err error) {
	defer func() {
		if err != nil {
			m.w.Abort()
			if sc, ok := m.state.(sidecar); ok {
				sc.abort()
			}
		}
	}()
	mergeJobs := m.jobs()
	var passBytes int64
	for _, j := range mergeJobs {
		passBytes += j.bytes()
	}
	m.progress = &progress{fn: m.opts.Progress}
	m.progress.total.Store(jobsWork(mergeJobs))
	if m.method.prepare != nil {
		if m.state, err = m.method.prepare(m); err != nil { // adds its passes to the progress total
			return nil, err
		}
	}
	p, err := m.newPass(mergeJobs, !m.checked, 1)
	if err != nil {
		return nil, err
	}
	p.out = true // every merged tensor is checked finite in its output dtype
	if err := m.inputsChanged(); err != nil {
		return nil, err
	}
	err = m.parallel(p, func(wk *worker, j job) error {
		switch j.it.kind {
		case kindCarry:
			return wk.carry(p, j)
		case kindBase:
			return wk.copyTensor(p, j)
		case kindMatrix:
			return wk.matrix(p, j)
		case kindWhole:
			return wk.whole(p, j)
		}
		return wk.elementwise(p, j)
	}, nil)
	if err != nil {
		return nil, err
	}
	if p.check {
		m.sumsq = p.taskSums()
	}
	// An input rewritten in place while it was read gives an output that is
	// neither version's: refuse to commit it.
	if err := m.inputsChanged(); err != nil {
		return nil, err
	}
	if sc, ok := m.state.(sidecar); ok {
		if err := sc.commit(); err != nil {
			return nil, err
		}
	}
	if err := m.w.Commit(); err != nil {
		return nil, err
	}
	rep = &Report{Outputs: m.w.Paths(), Tensors: m.nouts, ThresholdPasses: m.passes, BytesIn: passBytes,
		Params: m.values, Mismatches: m.notes}
	if th, ok := m.state.([]float32); ok && m.method.Name == MethodTIES {
		rep.Thresholds = th
	}
	if s, ok := m.state.(*emrState); ok {
		rep.Scales, rep.Modulators = s.scales, s.outPath
	}
	for _, it := range m.items {
		if it.kind == kindCarry {
			rep.Carried++
		}
	}
	for _, s := range m.sumsq {
		rep.TaskNorms = append(rep.TaskNorms, math.Sqrt(s))
	}
	return rep, nil
}

// jobs cuts the plan into jobs, in file order: a whole tensor for each
// matrix, chunks of m.chunk elements for everything else (one empty job for
// an empty tensor). File order keeps few page blocks partly consumed (a
// block shared by two tensors is released when both are done).
func (m *merger) jobs() []job {
	var jobs []job
	for _, it := range m.items {
		n := it.base.Numel
		switch {
		case it.kind == kindMatrix || it.kind == kindWhole:
			jobs = append(jobs, job{it: it, lo: 0, hi: n})
		case n == 0:
			jobs = append(jobs, job{it: it})
		default:
			for lo := 0; lo < n; lo += m.chunk {
				jobs = append(jobs, job{it: it, lo: lo, hi: min(lo+m.chunk, n)})
			}
		}
	}
	return jobs
}

// parallel runs fn over the pass's jobs on m.workers workers; the first
// error (or the context's end) stops the rest. After all jobs it syncs the
// backend and calls done (if not nil) once per worker, serially, for the
// worker's own reductions; then it frees the pass.
func (m *merger) parallel(p *pass, fn func(*worker, job) error, done func(*worker) error) error {
	defer p.free()
	var (
		failed   atomic.Bool
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		once.Do(func() { firstErr = err })
		failed.Store(true)
	}
	ch := make(chan job)
	workers := make([]*worker, min(m.workers, max(len(p.jobs), 1)))
	for i := range workers {
		workers[i] = newWorker(m)
		wg.Add(1)
		go func(wk *worker) {
			defer wg.Done()
			for j := range ch {
				if failed.Load() {
					continue
				}
				err := safely(fn, wk, j)
				if err == nil {
					err = p.jobDone(wk, j)
				}
				if err != nil {
					fail(err)
					continue
				}
				m.progress.add(j.work())
			}
		}(workers[i])
	}
	for _, j := range p.jobs {
		if failed.Load() {
			break
		}
		if err := m.ctx.Err(); err != nil {
			fail(fmt.Errorf("%w: %w", ErrCancelled, err))
			break
		}
		ch <- j
	}
	close(ch)
	wg.Wait()
	if firstErr == nil {
		if err := m.be.Sync(); err != nil {
			firstErr = err
		}
	}
	for _, wk := range workers {
		if firstErr == nil && done != nil {
			firstErr = done(wk)
		}
		wk.free()
	}
	return firstErr
}

// safely is fn(wk, j), with a panic (a bug) recovered into an error: the
// merge fails, the process (a host of the C API) goes on.
func safely(fn func(*worker, job) error, wk *worker, j job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errmark.Recovered(fmt.Sprintf("on tensor %q", j.it.base.Name), r, debug.Stack())
		}
	}()
	return fn(wk, j)
}
