package distac

import (
	"math"
	"sync"
	"sync/atomic"
)

// job is a unit of work: elements [lo, hi) of one item (the whole tensor
// for kindMatrix).
type job struct {
	it     *item
	lo, hi int
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

// jobBytes is what a job reads from the base and the tasks.
func (j job) bytes() int64 {
	return int64(j.hi-j.lo) * int64(j.it.base.elemSize()) * int64(1+len(j.it.tasks))
}

// run executes the plan: the TIES threshold passes if needed, then the
// merge pass, then commits the output. The output is removed on error.
func (m *merger) run() (rep *MergeReport, err error) {
	defer func() {
		if err != nil {
			m.w.Abort()
		}
	}()
	mergeJobs := m.jobs()
	var passBytes int64
	for _, j := range mergeJobs {
		passBytes += j.bytes()
	}
	m.progress = &progress{fn: m.opts.Progress}
	m.progress.total.Store(passBytes)
	if m.opts.Method == MethodTIES {
		th, err := m.tiesThresholds() // adds its passes to the progress total
		if err != nil {
			return nil, err
		}
		m.thresholds = th
	}
	err = m.parallel(mergeJobs, func(wk *worker, j job) error {
		switch j.it.kind {
		case kindCarry:
			return wk.carry(j)
		case kindMatrix:
			return wk.matrix(j)
		}
		return wk.elementwise(j)
	}, nil)
	if err != nil {
		return nil, err
	}
	if err := m.w.Commit(); err != nil {
		return nil, err
	}
	rep = &MergeReport{Outputs: m.w.Paths(), Tensors: len(m.items), Thresholds: m.thresholds,
		ThresholdPasses: m.tiesPasses, BytesIn: passBytes}
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
		case it.kind == kindMatrix:
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

// parallel runs fn over jobs on m.workers workers; the first error stops
// the rest. After all jobs, each worker's task-vector sums of squares are
// added to m.sumsq and done (if not nil) is called once per worker, serially.
func (m *merger) parallel(jobs []job, fn func(*worker, job) error, done func(*worker)) error {
	var (
		failed   atomic.Bool
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	m.pages = newPageTracker(jobs)
	defer m.pages.finish()
	ch := make(chan job)
	workers := make([]*worker, min(m.workers, max(len(jobs), 1)))
	for i := range workers {
		workers[i] = newWorker(m)
		wg.Add(1)
		go func(wk *worker) {
			defer wg.Done()
			for j := range ch {
				if failed.Load() {
					continue
				}
				if err := fn(wk, j); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
					continue
				}
				m.progress.add(j.bytes())
			}
		}(workers[i])
	}
	for _, j := range jobs {
		if failed.Load() {
			break
		}
		ch <- j
	}
	close(ch)
	wg.Wait()
	for _, wk := range workers {
		if firstErr == nil {
			for t, ss := range wk.sumsq {
				m.sumsq[t] += ss
			}
			if done != nil {
				done(wk)
			}
		}
		wk.free()
	}
	return firstErr
}
