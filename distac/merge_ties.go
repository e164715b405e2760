package distac

import (
	"fmt"
	"math"
)

// tiesKeep is how many of n task-vector entries TIES keeps at k percent:
// ceil(k/100 * n), where a product within rounding error of an integer counts
// as that integer (so 7% of 100 keeps 7). This is ffi.TiesThreshold's count,
// so a streamed threshold equals the in-memory one.
func tiesKeep(n int64, k float64) int64 {
	x := k / 100 * float64(n)
	if r := math.Round(x); math.Abs(x-r) <= 4*0x1p-52*x {
		return int64(r)
	}
	return int64(math.Ceil(x))
}

// tiesThresholds finds, for every task, the magnitude of its keep-th
// largest |tau_t| entry over the whole task vector (all float tensors), so
// that TiesTrim's |x| >= threshold keeps the top k%. Task vectors are never
// held whole, and the threshold is exact. The bits of a non-negative float
// order it like its value, so the search runs over u = bits(|tau|):
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
// radix select.
func (m *merger) tiesThresholds() ([]float32, error) {
	var elem []job
	var n int64
	for _, j := range m.jobs() {
		if j.it.kind == kindElem && j.hi > j.lo {
			elem = append(elem, j)
			n += int64(j.hi - j.lo)
		}
	}
	T := len(m.tasks)
	keep := tiesKeep(n, m.opts.K)
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
	m.progress.total.Add(jobsBytes(sample) + jobsBytes(elem))
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
	m.tiesPasses = 1
	var missed []int
	for t, w := range wins {
		if u, ok := w.resolve(keep); ok {
			th[t] = math.Float32frombits(u)
		} else {
			missed = append(missed, t)
		}
	}
	if len(missed) > 0 {
		m.progress.total.Add(2 * jobsBytes(elem))
		if err := m.tiesRadix(elem, missed, keep, th); err != nil {
			return nil, err
		}
		m.tiesPasses += 2
	}
	return th, nil
}

func jobsBytes(jobs []job) int64 {
	var b int64
	for _, j := range jobs {
		b += j.bytes()
	}
	return b
}

// tiesWindowPass counts every task's |tau| against its window (wins give lo
// and span): the entries above it and the histogram of those inside, each
// worker into its own counts, added into wins at the end. The task vectors are checked and
// their squares summed on the way.
func (m *merger) tiesWindowPass(elem []job, wins []tiesWindow) error {
	return m.parallel(elem, func(wk *worker, j job) error {
		if wk.win == nil {
			wk.win = make([]tiesWindow, len(wins))
			for t, w := range wins {
				wk.win[t] = tiesWindow{lo: w.lo, hist: make([]uint64, w.span)}
			}
		}
		it := j.it
		baseRaw, err := wk.load(roleBase, 0, it.base, j.lo, j.hi)
		if err != nil {
			return err
		}
		for t := range it.tasks {
			tau, err := wk.taskVector(0, t, it, baseRaw, j.lo, j.hi, true, true)
			if err != nil {
				return err
			}
			w := &wk.win[t]
			up, err := wk.be.AbsWindow(tau, w.lo, w.hist)
			if err != nil {
				return fmt.Errorf("ties: tensor %q: %w", it.base.Name, err)
			}
			w.above += up
		}
		wk.m.pages.consumed(it.base, j.lo, j.hi)
		return nil
	}, func(wk *worker) {
		for t, w := range wk.win {
			if wins[t].hist == nil { // the first worker's counts become the total
				wins[t] = w
				continue
			}
			wins[t].above += w.above
			for b, c := range w.hist {
				wins[t].hist[b] += c
			}
		}
	})
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

// tiesHistogram runs one radix-histogram pass of the given tasks' |tau|
// over jobs and returns the per-task sums of the workers' histograms
// (1<<16 bins each, the first 1<<bits used; nil for other tasks).
func (m *merger) tiesHistogram(jobs []job, tasks []int, shift, bits int, prefix []uint32) ([][]uint64, error) {
	hist := make([][]uint64, len(m.tasks))
	for _, t := range tasks {
		hist[t] = make([]uint64, 1<<16)
	}
	err := m.parallel(jobs, func(wk *worker, j job) error {
		return wk.histogram(j, tasks, shift, bits, prefix)
	}, func(wk *worker) {
		if wk.hist == nil {
			return // this worker got no job
		}
		for _, t := range tasks {
			for b, c := range wk.hist[t] {
				hist[t][b] += c
			}
		}
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

// histogram adds the radix histogram of |tau_t| for elements [lo, hi) of
// j's tensor to the worker's per-task histograms, for the given tasks. These
// passes neither check the task vectors nor sum their squares: the window
// pass does.
func (wk *worker) histogram(j job, tasks []int, shift, bits int, prefix []uint32) error {
	if j.hi == j.lo {
		return nil
	}
	if wk.hist == nil {
		wk.hist = make([][]uint64, len(wk.m.tasks))
		for _, t := range tasks {
			wk.hist[t] = make([]uint64, 1<<16)
		}
	}
	it := j.it
	baseRaw, err := wk.load(roleBase, 0, it.base, j.lo, j.hi)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tau, err := wk.taskVector(0, t, it, baseRaw, j.lo, j.hi, false, true)
		if err != nil {
			return err
		}
		if err := wk.be.AbsHistogram(tau, shift, bits, prefix[t], wk.hist[t][:1<<bits]); err != nil {
			return fmt.Errorf("ties: tensor %q: %w", it.base.Name, err)
		}
	}
	wk.m.pages.consumed(it.base, j.lo, j.hi)
	return nil
}
