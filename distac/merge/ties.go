package merge

import (
	"fmt"
	"math"

	"github.com/distac/distac/ffi"
)

// tiesKeep is how many of n task-vector entries TIES keeps at k percent:
// ceil(k/100 * n), where a product within rounding error of an integer counts
// as that integer (so 7% of 100 keeps 7).
func tiesKeep(n int64, k float64) int64 {
	x := k / 100 * float64(n)
	if r := math.Round(x); math.Abs(x-r) <= 4*0x1p-52*x {
		return int64(r)
	}
	return int64(math.Ceil(x))
}

// tiesThresholds is TIES's prepare: for every task, the magnitude of its
// keep-th largest |tau_t| entry over the whole task vector (all float
// tensors), so that TiesTrim's |x| >= threshold keeps the top k%. Task vectors
// are never held whole, and the threshold is exact. The bits of a non-negative
// float order it like its value, so the search runs over u = bits(|tau|):
//
//  1. A systematic sample of the entries (tiesSampleJobs) gives each task's
//     histogram of the top 15 bits of u, and from it a window of u values
//     that holds the threshold with near certainty (tiesPredict).
//  2. One pass over every entry counts, per task, those above the window
//     and the exact histogram of those inside it (ffi AbsWindow). It is also
//     the pass that checks the task vectors and sums their squares.
//  3. If a task's threshold fell outside its window after all, the exact
//     two-pass radix select runs for that task (tiesRadix): right, only
//     slower.
//
// So the threshold costs a little over one pass of reading, not the two
// full passes (and two of the radix histogram's slow scatters) of a plain
// radix select. It returns the thresholds, one per task ([]float32).
func tiesThresholds(m *merger) (any, error) {
	var elem []job
	var n int64
	for _, j := range m.jobs() {
		if j.it.kind == kindElem && j.hi > j.lo {
			elem = append(elem, j)
			n += int64(j.hi - j.lo)
		}
	}
	T := len(m.tasks)
	keep := tiesKeep(n, m.values.Float("k"))
	th := make([]float32, T)
	if keep <= 0 || keep >= n {
		// Nothing kept: +Inf trims every finite entry; all kept: 0 trims none.
		v := float32(0)
		if keep <= 0 {
			v = float32(math.Inf(1))
		}
		for t := range th {
			th[t] = v
		}
		return th, nil
	}
	all := make([]int, T)
	for t := range all {
		all[t] = t
	}
	sample, sampled := tiesSampleJobs(elem, n, m.opts.tiesSample)
	m.progress.total.Add(jobsWork(sample) + jobsWork(elem))
	top, err := m.tiesHistogram(sample, all, 16, 15, make([]uint32, T))
	if err != nil {
		return nil, err
	}
	wins := make([]tiesWindow, T)
	for t := range wins {
		wins[t] = tiesPredict(top[t][:1<<15], sampled, n, keep)
		if m.opts.tiesMiss {
			wins[t] = tiesWindow{lo: 1<<31 - 1, span: 1}
		}
	}
	if err := m.tiesWindowPass(elem, wins); err != nil {
		return nil, err
	}
	m.checked, m.passes = true, 1
	var missed []int
	for t, w := range wins {
		if u, ok := w.resolve(keep); ok {
			th[t] = math.Float32frombits(u)
		} else {
			missed = append(missed, t)
		}
	}
	if len(missed) > 0 {
		m.progress.total.Add(2 * jobsWork(elem))
		if err := m.tiesRadix(elem, missed, keep, th); err != nil {
			return nil, err
		}
		m.passes += 2
	}
	return th, nil
}

// jobsWork is the progress units of jobs (see job.work).
func jobsWork(jobs []job) int64 {
	var w int64
	for _, j := range jobs {
		w += j.work()
	}
	return w
}

// tiesWindowPass counts every task's |tau| against its window (wins give lo
// and span): the entries above it and the histogram of those inside, each
// worker into its own counts on the backend, read back and added into wins
// when the pass ends. The task vectors are checked and their squares
// summed on the way.
func (m *merger) tiesWindowPass(elem []job, wins []tiesWindow) error {
	T := len(wins)
	p, err := m.newPass(elem, true, 0)
	if err != nil {
		return err
	}
	for t := range wins {
		wins[t].hist = make([]uint64, wins[t].span)
	}
	err = m.parallel(p, func(wk *worker, j job) error {
		if wk.counts == nil { // per task: the window's histogram and, last, the count above it
			for _, w := range wins {
				b, err := wk.be.Alloc(ffi.U64, int(w.span)+1)
				if err != nil {
					return fmt.Errorf("ties: window counts: %w", err)
				}
				wk.counts = append(wk.counts, b)
			}
		}
		it := j.it
		baseRaw, err := wk.load(roleBase, 0, it.base, j.lo, j.hi)
		if err != nil {
			return err
		}
		for t := range it.tasks {
			tau, err := wk.taskVector(p, j, 0, t, baseRaw, true, true)
			if err != nil {
				return err
			}
			span := int(wins[t].span)
			c := wk.counts[t]
			if err := wk.be.AbsWindow(tau, wins[t].lo, ffi.Vec{Buf: c, N: span}, ffi.Vec{Buf: c, Off: span, N: 1}); err != nil {
				return fmt.Errorf("ties: tensor %q: %w", it.base.Name, err)
			}
		}
		p.pages.Consumed(it.base, j.lo, j.hi)
		return nil
	}, func(wk *worker) error {
		for t, c := range wk.counts {
			counts, err := ffi.ReadU64(wk.be, ffi.All(c))
			if err != nil {
				return fmt.Errorf("ties: window counts: %w", err)
			}
			w := &wins[t]
			for b, x := range counts[:w.span] {
				w.hist[b] += x
			}
			w.above += counts[w.span]
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.sumsq = p.taskSums()[:T]
	return nil
}

// tiesRadix is the exact radix select for the given tasks, two passes over
// their task vectors: the top 15 bits of u (bit 31, the sign, is cleared),
// then the low 16 bits of the entries in the chosen top bucket.
func (m *merger) tiesRadix(elem []job, tasks []int, keep int64, th []float32) error {
	T := len(m.tasks)
	hist, err := m.tiesHistogram(elem, tasks, 16, 15, make([]uint32, T))
	if err != nil {
		return err
	}
	hi := make([]uint32, T)
	rank := make([]int64, T) // rank of the wanted entry inside its bucket
	for _, t := range tasks {
		hi[t], rank[t] = selectDesc(hist[t][:1<<15], keep)
	}
	if hist, err = m.tiesHistogram(elem, tasks, 0, 16, hi); err != nil {
		return err
	}
	for _, t := range tasks {
		lo, _ := selectDesc(hist[t], rank[t])
		th[t] = math.Float32frombits(hi[t]<<16 | lo)
	}
	return nil
}

// tiesHistogram runs one radix-histogram pass of the given tasks' |tau| over
// jobs, each worker into its own histograms on the backend (1<<bits bins per
// task), and returns the per-task sums read back when the pass ends (1<<16
// bins each, the first 1<<bits used; nil for other tasks). These passes
// neither check the task vectors nor sum their squares: the window pass does.
func (m *merger) tiesHistogram(jobs []job, tasks []int, shift, bits int, prefix []uint32) ([][]uint64, error) {
	hist := make([][]uint64, len(m.tasks))
	for _, t := range tasks {
		hist[t] = make([]uint64, 1<<16)
	}
	p, err := m.newPass(jobs, false, 0)
	if err != nil {
		return nil, err
	}
	err = m.parallel(p, func(wk *worker, j job) error {
		if j.hi == j.lo {
			return nil
		}
		if wk.counts == nil {
			wk.counts = make([]ffi.Buffer, len(m.tasks))
			for _, t := range tasks {
				b, err := wk.be.Alloc(ffi.U64, 1<<bits)
				if err != nil {
					return fmt.Errorf("ties: histogram: %w", err)
				}
				wk.counts[t] = b
			}
		}
		it := j.it
		baseRaw, err := wk.load(roleBase, 0, it.base, j.lo, j.hi)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tau, err := wk.taskVector(p, j, 0, t, baseRaw, false, true)
			if err != nil {
				return err
			}
			if err := wk.be.AbsHistogram(tau, shift, bits, prefix[t], ffi.All(wk.counts[t])); err != nil {
				return fmt.Errorf("ties: tensor %q: %w", it.base.Name, err)
			}
		}
		p.pages.Consumed(it.base, j.lo, j.hi)
		return nil
	}, func(wk *worker) error {
		for _, t := range tasks {
			if wk.counts == nil || wk.counts[t] == nil {
				return nil // this worker got no job
			}
			counts, err := ffi.ReadU64(wk.be, ffi.All(wk.counts[t]))
			if err != nil {
				return fmt.Errorf("ties: histogram: %w", err)
			}
			for b, c := range counts {
				hist[t][b] += c
			}
		}
		return nil
	})
	return hist, err
}

// selectDesc walks hist from the largest bucket down to the one holding the
// rank-th largest entry (1-based) and returns it with the entry's rank
// inside that bucket.
func selectDesc(hist []uint64, rank int64) (uint32, int64) {
	var seen int64
	for b := len(hist) - 1; b >= 0; b-- {
		c := int64(hist[b])
		if seen+c >= rank {
			return uint32(b), rank - seen
		}
		seen += c
	}
	return 0, rank - seen // unreachable when rank <= the total count
}
