package merge

import (
	"context"
	"math"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// TestDiagnose compares norms, per-tensor norms and cosines with float64
// sums over the task vectors, on both backends.
func TestDiagnose(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(13, 3, safetensors.BF16)
	bp, tps := writeSet(t, dir, base, tasks)
	T := len(tasks)
	dots := make([][]float64, T)
	for i := range dots {
		dots[i] = make([]float64, T)
	}
	perTensor := map[string][]float64{}
	for _, bt := range base {
		if bt.vals == nil {
			continue
		}
		taus := make([][]float64, T)
		perTensor[bt.name] = make([]float64, T)
		for ti := range tasks {
			taus[ti] = refTau(tasks[ti].get(bt.name).vals, bt.vals)
			for _, x := range taus[ti] {
				perTensor[bt.name][ti] += x * x
			}
		}
		for i := range taus {
			for j := range taus {
				for k := range taus[i] {
					dots[i][j] += taus[i][k] * taus[j][k]
				}
			}
		}
	}
	for _, be := range backends(t) {
		st, err := Diagnose(context.Background(), bp, tps, DiagnoseOptions{Backend: be, Threads: 3})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < T; i++ {
			if want := math.Sqrt(dots[i][i]); math.Abs(st.Norms[i]-want) > 1e-12*want {
				t.Errorf("%s: norm %d = %v, want %v", be.Name(), i, st.Norms[i], want)
			}
			for j := 0; j < T; j++ {
				want := dots[i][j] / math.Sqrt(dots[i][i]*dots[j][j])
				if got := st.Cosine(i, j); math.Abs(got-want) > 1e-6 {
					t.Errorf("%s: cos(%d, %d) = %v, want %v", be.Name(), i, j, got, want)
				}
			}
		}
		if len(st.Tensors) != len(perTensor) {
			t.Fatalf("%s: %d per-tensor rows, want %d", be.Name(), len(st.Tensors), len(perTensor))
		}
		for _, tn := range st.Tensors {
			for ti, n := range tn.Norms {
				if want := math.Sqrt(perTensor[tn.Name][ti]); math.Abs(n-want) > 1e-12*want {
					t.Errorf("%s: %s task %d norm %v, want %v", be.Name(), tn.Name, ti, n, want)
				}
			}
		}
		// makeModels spreads scales 1..4x: the ratio must flag the mismatch.
		if r := st.NormRatio(); !(r > 2.5 && r < 5) {
			t.Errorf("%s: norm ratio %v, want about 3-4", be.Name(), r)
		}
	}
}
