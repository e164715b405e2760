package merge

import "math"

// The sampled prediction behind tiesThresholds: which entries to sample, the
// window of u = bits(|tau|) each task counts exactly, and reading the
// threshold off those counts. The sample only places the windows; the
// threshold comes from complete counts, so a poor sample costs time (the
// radix fallback), never exactness.

// The sample is 1/64 of the entries (at least 2^18, at most 2^22): at 2^20
// sampled the window holds about 0.5% of the entries, which the window pass
// counts one by one (it slows down as that share grows: 1% halves its
// speed). Runs of up to 16384 entries (64 KiB of f32, what a page fault maps
// around the page it touches), 4 MiB apart in a large tensor, keep the
// sample from mapping and releasing much more than it reads: with runs of
// 4096 entries 1 MiB apart the sample pass took 6% of a TIES merge's CPU
// time (8 x 512 MiB), with these 2%.
const (
	tiesSampleRun = 16384
	tiesSampleDiv = 64
	tiesSampleMin = 1 << 18
	tiesSampleMax = 1 << 22
	tiesWindowZ   = 5       // window half-width, in standard errors of the sampled rank
	tiesMaxSpan   = 1 << 18 // most u values a window counts (a 2 MiB histogram per task)
)

// tiesWindow is the window [lo, lo+span) of u values one task counts
// exactly in the window pass: the histogram of the entries inside (span
// bins, once counted) and the count of those above.
type tiesWindow struct {
	lo, span uint32
	hist     []uint64
	above    uint64
}

// resolve returns the u of the keep-th largest entry if it lies in the window.
func (w tiesWindow) resolve(keep int64) (uint32, bool) {
	if w.above >= uint64(keep) {
		return 0, false // above the window
	}
	rank := uint64(keep) - w.above
	var seen uint64
	for i := len(w.hist) - 1; i >= 0; i-- {
		if seen += w.hist[i]; seen >= rank {
			return w.lo + uint32(i), true
		}
	}
	return 0, false // below it
}

// tiesSampleJobs returns the jobs of a sample of the n elements of elem (the
// float tensors in file order, cut into chunks), about target in all (<= 0:
// n/64 within [tiesSampleMin, tiesSampleMax]): every tensor gives its share,
// round(numel * target / n) elements, as runs of at most tiesSampleRun spread
// evenly over it. Stratified so, a small tensor whose entries are all large
// (a bias) counts as much in the sample as in the model; a plain systematic
// sample would take it whole or miss it. With no more than twice target
// elements the sample is everything, and its histogram exact. sampled is the
// sample's length.
func tiesSampleJobs(elem []job, n, target int64) (jobs []job, sampled int64) {
	if target <= 0 {
		target = min(max(n/tiesSampleDiv, tiesSampleMin), tiesSampleMax)
	}
	if n <= 2*target {
		return elem, n
	}
	for k, j := range elem {
		if k > 0 && elem[k-1].it == j.it {
			continue // one tensor at a time
		}
		numel := int64(j.it.base.Numel)
		share := int64(math.Round(float64(numel) * float64(target) / float64(n)))
		if share == 0 {
			continue
		}
		runs := (share + tiesSampleRun - 1) / tiesSampleRun
		size := share / runs
		for q := range runs {
			// run q sits in the middle of the q-th of `runs` equal cells
			lo := min(max((2*q+1)*numel/(2*runs)-size/2, 0), numel-size)
			jobs = append(jobs, job{it: j.it, lo: int(lo), hi: int(lo + size)})
			sampled += size
		}
	}
	return jobs, sampled
}

// tiesPredict places a task's window from top, the histogram of the top 15
// bits of u over its sample of sampled entries out of n, so that it holds
// the keep-th largest entry: the buckets (2^16 u values each) that hold the
// sample's ranks keep/n * sampled -+ tiesWindowZ standard errors (a binomial
// count: sqrt(sampled p (1-p))), and those between. Whole buckets, because
// inside one the sample says nothing about where the entries are: task
// vectors of bf16 models take few distinct values, and a window cut inside a
// bucket would miss them. A window wider than tiesMaxSpan is cut to that,
// around the bucket of the estimate. A sample of everything gives the exact
// bucket.
func tiesPredict(top []uint64, sampled, n, keep int64) tiesWindow {
	if sampled == n {
		b, _ := selectDesc(top, keep)
		return tiesWindow{lo: b << 16, span: 1 << 16}
	}
	p, s := float64(keep)/float64(n), float64(sampled)
	r := p * s
	m := tiesWindowZ*math.Sqrt(s*p*(1-p)) + 1
	hi := uint32(len(top)) // buckets [lo, hi)
	if r-m >= 1 {
		b, _ := selectDesc(top, int64(math.Floor(r-m)))
		hi = b + 1
	}
	var lo uint32
	if r+m <= s {
		lo, _ = selectDesc(top, int64(math.Ceil(r+m)))
	}
	if most := uint32(tiesMaxSpan >> 16); hi-lo > most {
		b, _ := selectDesc(top, max(int64(math.Round(r)), 1))
		lo = min(b-min(b, (most-1)/2), uint32(len(top))-most)
		hi = lo + most
	}
	return tiesWindow{lo: lo << 16, span: (hi - lo) << 16}
}
