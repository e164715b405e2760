package merge

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/nlpodyssey/safetensors"
)

// windowModels is a base and two tasks whose tensors have task vectors of
// very different scales (so a sample that missed a tensor would misplace
// the windows), with runs of repeated values (ties at the threshold).
func windowModels(dt checkpoint.DType) (base testModel, tasks []testModel) {
	rng := rand.New(rand.NewPCG(5, 17))
	layout := []struct {
		name  string
		n     int
		scale float64
	}{{"big.weight", 300000, 1e-3}, {"mid.weight", 120000, 4e-3}, {"small.bias", 7001, 3e-2}, {"tiny", 5, 1}}
	for _, l := range layout {
		v := make([]float64, l.n)
		for i := range v {
			v[i] = roundTo(dt, 0.5*rng.NormFloat64())
		}
		base = append(base, &testTensor{name: l.name, dtype: dt, shape: []uint64{uint64(l.n)}, vals: v})
	}
	for t := range 2 {
		var m testModel
		for k, bt := range base {
			v := make([]float64, len(bt.vals))
			for i, b := range bt.vals {
				d := layout[k].scale * (1 + float64(t)) * rng.NormFloat64()
				if i%7 == 0 {
					d = layout[k].scale * float64(i%3) // a few repeated magnitudes
				}
				v[i] = roundTo(dt, b+d)
			}
			m = append(m, &testTensor{name: bt.name, dtype: dt, shape: bt.shape, vals: v})
		}
		tasks = append(tasks, m)
	}
	return base, tasks
}

// TestTiesThresholdSampled: with a sample of a quarter, with a sample of
// everything and with windows forced to miss, the streamed thresholds equal
// the thresholds found by sorting, and the pass count says which path ran. At
// extreme k the window (capped at tiesMaxSpan) may miss with this small a
// sample: there only the threshold itself is checked.
func TestTiesThresholdSampled(t *testing.T) {
	for _, dt := range []checkpoint.DType{safetensors.F32, safetensors.BF16} {
		base, tasks := windowModels(dt)
		dir := t.TempDir()
		bp, tps := writeSet(t, dir, base, tasks)
		for _, be := range backends(t) {
			for _, k := range []float64{0.1, 7, 20, 50, 99.9} {
				want := refTiesThresholds(base, tasks, k)
				for _, c := range []struct {
					name   string
					sample int64
					miss   bool
					passes int
				}{
					{"sampled", 100000, false, 1},
					{"everything", 1 << 20, false, 1},
					{"forced miss", 100000, true, 3},
				} {
					o := mergeOpts(MethodTIES, bp, tps, filepath.Join(dir, fmt.Sprintf("%s-%v-%s.safetensors", be.Name(), k, c.name)), be)
					o.Params, o.tiesSample, o.tiesMiss = map[string]string{"k": fmtFloat(k)}, c.sample, c.miss
					o.ChunkElems = 40009
					rep, err := Run(context.Background(), o)
					if err != nil {
						t.Fatal(err)
					}
					for ti := range tasks {
						if rep.Thresholds[ti] != float32(want[ti]) {
							t.Errorf("%s %s k=%v %s: task %d threshold %v, in memory %v", dt, be.Name(), k, c.name, ti, rep.Thresholds[ti], want[ti])
						}
					}
					extreme := c.name == "sampled" && (k < 1 || k > 99)
					if rep.ThresholdPasses != c.passes && !extreme {
						t.Errorf("%s %s k=%v %s: %d threshold passes, want %d", dt, be.Name(), k, c.name, rep.ThresholdPasses, c.passes)
					}
				}
			}
		}
	}
}

func TestTiesSampleJobs(t *testing.T) {
	it1 := &item{base: &checkpoint.Tensor{Numel: 400000}}
	it2 := &item{base: &checkpoint.Tensor{Numel: 7000}}
	it3 := &item{base: &checkpoint.Tensor{Numel: 10}}
	var elem []job
	for _, it := range []*item{it1, it2, it3} {
		for lo := 0; lo < it.base.Numel; lo += 2100 {
			elem = append(elem, job{it: it, lo: lo, hi: min(lo+2100, it.base.Numel)})
		}
	}
	const n = 407010
	if jobs, s := tiesSampleJobs(elem, n, n/2); s != n || len(jobs) != len(elem) {
		t.Fatalf("a sample of half: %d elements in %d jobs, want everything", s, len(jobs))
	}
	// A tenth, with runs of at most tiesSampleRun = 16384: it1 gives 40000
	// elements as 3 runs of 13333, one in the middle of each third; it2 700
	// in one run in its middle; it3 one element.
	jobs, sampled := tiesSampleJobs(elem, n, n/10)
	want := []job{{it: it1, lo: 60000, hi: 73333}, {it: it1, lo: 193334, hi: 206667},
		{it: it1, lo: 326667, hi: 340000}, {it: it2, lo: 3150, hi: 3850}, {it: it3, lo: 5, hi: 6}}
	if tiesSampleRun != 16384 || fmt.Sprint(jobs) != fmt.Sprint(want) || sampled != 3*13333+700+1 {
		t.Fatalf("sample %v (%d elements), want %v", jobs, sampled, want)
	}
}

func TestTiesWindowResolve(t *testing.T) {
	w := tiesWindow{lo: 100, span: 4, hist: []uint64{2, 0, 3, 1}, above: 5} // u 100..103
	for _, c := range []struct {
		keep int64
		u    uint32
		ok   bool
	}{{5, 0, false}, {6, 103, true}, {7, 102, true}, {9, 102, true}, {10, 100, true}, {11, 100, true}, {12, 0, false}} {
		if u, ok := w.resolve(c.keep); u != c.u || ok != c.ok {
			t.Errorf("keep %d: %d %v, want %d %v", c.keep, u, ok, c.u, c.ok)
		}
	}
}

// TestTiesPredict: a window placed from a sample of normal magnitudes holds
// the population's quantile in a few whole buckets.
func TestTiesPredict(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, s = 1 << 24, 1 << 20
	top := make([]uint64, 1<<15)
	for range s {
		u := math.Float32bits(float32(math.Abs(rng.NormFloat64()))) &^ (1 << 31)
		top[u>>16]++
	}
	keep := int64(n / 5)                          // the top 20%: |x| >= 1.2816
	q := math.Float32bits(1.2815516) &^ (1 << 31) // the exact quantile
	w := tiesPredict(top, s, n, keep)
	if q < w.lo || q >= w.lo+uint32(int(w.span)) {
		t.Fatalf("window [%#x, +%d) misses the quantile %#x", w.lo, int(w.span), q)
	}
	if w.lo&0xffff != 0 || int(w.span)%(1<<16) != 0 || int(w.span) > 3<<16 {
		t.Fatalf("window [%#x, +%d) is not 1 to 3 whole buckets", w.lo, int(w.span))
	}
	// A sample of everything (here: the sample is the population) gives the
	// bucket that holds the keep-th largest.
	all := tiesPredict(top, s, s, s/5)
	b := all.lo >> 16
	var above uint64
	for _, c := range top[b+1:] {
		above += c
	}
	if int(all.span) != 1<<16 || all.lo&0xffff != 0 || above >= s/5 || above+top[b] < s/5 {
		t.Fatalf("a complete sample gives window [%#x, +%d): %d above, %d inside, keep %d", all.lo, int(all.span), above, top[b], s/5)
	}
}
