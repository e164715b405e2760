package merge

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nlpodyssey/safetensors"
)

// refEMR restates EMR for one tensor from its paper (and FusionBench):
// gamma = sign(sum_t tau_t) with 0 as -1, masks M_t = tau_t gamma > 0,
// tau_uni = gamma max_t |M_t tau_t|; and the tensor's mean |tau_t| and mean
// |M_t tau_uni|, which summed over tensors give lambda_t.
func refEMR(ts [][]float64) (uni []float64, masks [][]bool, meanTau, meanUni []float64) {
	T, n := len(ts), len(ts[0])
	uni = make([]float64, n)
	masks = make([][]bool, T)
	meanTau, meanUni = make([]float64, T), make([]float64, T)
	for t := range masks {
		masks[t] = make([]bool, n)
	}
	for i := 0; i < n; i++ {
		var s float64
		for t := range ts {
			s += ts[t][i]
		}
		g := float64(map[bool]int{true: 1, false: -1}[s > 0])
		var mx float64
		for t := range ts {
			if ts[t][i]*g > 0 {
				masks[t][i] = true
				if a := math.Abs(ts[t][i]); a > mx {
					mx = a
				}
			}
		}
		uni[i] = g * mx
	}
	for t := range ts {
		for i := 0; i < n; i++ {
			meanTau[t] += math.Abs(ts[t][i]) / float64(n)
			if masks[t][i] {
				meanUni[t] += math.Abs(uni[i]) / float64(n)
			}
		}
	}
	return uni, masks, meanTau, meanUni
}

// TestEMRModulators merges with EMR, then checks the scales against the
// reference's, and every task's modulated model theta_0 + lambda_t M_t ⊙
// tau_uni (ApplyModulator) against the reference's formula.
func TestEMRModulators(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(11, 3, safetensors.BF16)
	bp, tps := writeSet(t, dir, base, tasks)
	for _, be := range backends(t) {
		out := filepath.Join(dir, "emr-"+be.Name()+".safetensors")
		o := mergeOpts(MethodEMR, bp, tps, out, be)
		rep, err := Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Modulators != ModulatorsPath(out) || len(rep.Scales) != 3 {
			t.Fatalf("report: modulators %q, scales %v", rep.Modulators, rep.Scales)
		}
		num, den := make([]float64, 3), make([]float64, 3)
		type refT struct {
			uni   []float64
			masks [][]bool
		}
		refs := map[string]refT{}
		for _, bt := range base {
			if bt.vals == nil {
				continue
			}
			ts := make([][]float64, len(tasks))
			for k, m := range tasks {
				ts[k] = refTau(m.get(bt.name).vals, bt.vals)
			}
			uni, masks, mt, mu := refEMR(ts)
			refs[bt.name] = refT{uni, masks}
			for k := range num {
				num[k] += mt[k]
				den[k] += mu[k]
			}
		}
		want := make([]float64, 3)
		for k := range want {
			want[k] = num[k] / den[k]
		}
		if d := cmp.Diff(want, rep.Scales, cmpopts.EquateApprox(1e-9, 0)); d != "" {
			t.Errorf("%s: scales (-ref +got):\n%s", be.Name(), d)
		}
		md, err := OpenModulators(rep.Modulators)
		if err != nil {
			t.Fatal(err)
		}
		for k := range tasks {
			task, err := md.Task(filepath.Base(tps[k]))
			if err != nil || task != k {
				t.Fatalf("task %d by name: %d, %v", k, task, err)
			}
			mp := filepath.Join(dir, "task.safetensors")
			if err := ApplyModulator(bp, md, k, mp, true); err != nil {
				t.Fatal(err)
			}
			got := readModel(t, mp)
			for _, bt := range base {
				if bt.vals == nil {
					if string(got.get(bt.name).raw) != string(bt.raw) {
						t.Errorf("%s not carried", bt.name)
					}
					continue
				}
				r := refs[bt.name]
				w := make([]float64, len(bt.vals))
				for i := range w {
					w[i] = bt.vals[i]
					if r.masks[k][i] {
						w[i] += want[k] * r.uni[i]
					}
				}
				if d := updateDiff(w, got.get(bt.name).vals, bt.vals, 1e-5); d != "" {
					t.Errorf("%s: task %d: %s (-ref +got):\n%s", be.Name(), k, bt.name, d)
				}
			}
		}
		md.Close()
		if _, err := OpenModulators(out); err == nil {
			t.Error("the merged model opened as a modulators file")
		}
	}
}

// refEMRDelta is EMR's delta for TestMergeMatchesReference: tau_uni.
func refEMRDelta(ts [][]float64) []float64 {
	uni, _, _, _ := refEMR(ts)
	return uni
}
