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
// held whole: two streaming passes build radix histograms of the f32 bits of
// |tau| (the bits of a non-negative float order it like the value), the
// first over the top 16 bits, the second over the low 16 bits of the entries
// in the chosen top bucket.
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
	hist := make([][]uint64, T)
	for t := range hist {
		hist[t] = make([]uint64, 1<<16)
	}
	pass := func(shift, bits int, prefix []uint32) error {
		for t := range hist {
			clear(hist[t])
		}
		return m.parallel(elem, func(wk *worker, j job) error {
			return wk.histogram(j, shift, bits, prefix)
		}, func(wk *worker) {
			if wk.hist == nil {
				return // this worker got no job
			}
			for t := range hist {
				for b, c := range wk.hist[t] {
					hist[t][b] += c
				}
			}
		})
	}
	// Pass 1: bits 16..30 of every entry (bit 31, the sign, is cleared, so
	// the prefix test u >> 31 == 0 always passes).
	if err := pass(16, 15, make([]uint32, T)); err != nil {
		return nil, err
	}
	hi := make([]uint32, T)
	rank := make([]int64, T) // rank of the wanted entry inside its bucket
	for t := range hist {
		hi[t], rank[t] = selectDesc(hist[t][:1<<15], keep)
	}
	// Pass 2: low 16 bits of the entries whose top bits are hi[t].
	if err := pass(0, 16, hi); err != nil {
		return nil, err
	}
	for t := range hist {
		lo, _ := selectDesc(hist[t], rank[t])
		th[t] = math.Float32frombits(hi[t]<<16 | lo)
	}
	return th, nil
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
// j's tensor to the worker's per-task histograms.
func (wk *worker) histogram(j job, shift, bits int, prefix []uint32) error {
	if j.hi == j.lo {
		return nil
	}
	if wk.hist == nil {
		wk.hist = make([][]uint64, len(wk.m.tasks))
		for t := range wk.hist {
			wk.hist[t] = make([]uint64, 1<<16)
		}
	}
	it := j.it
	baseRaw, err := wk.load(roleBase, 0, it.base, j.lo, j.hi)
	if err != nil {
		return err
	}
	for t := range it.tasks {
		// The first pass checks the task vectors and sums their squares.
		tau, err := wk.taskVector(0, t, it, baseRaw, j.lo, j.hi, shift != 0, true)
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
