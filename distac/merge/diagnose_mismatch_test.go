package merge

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Diagnose under the merge's mismatch policies, on TestMismatchPolicies'
// models: error stops as merge does; base leaves the mismatched tensors out
// of the norms; common measures the rows every model has. The notes are
// the merge's.
func TestDiagnoseMismatch(t *testing.T) {
	base := testModel{f32("emb", []uint64{3, 2}, 1, 2, 3, 4, 5, 6), f32("head", []uint64{2}, 1, 1), f32("w", []uint64{2}, 0, 0)}
	ta := testModel{f32("emb", []uint64{4, 2}, 2, 2, 3, 4, 6, 6, 9, 9), f32("w", []uint64{2}, 1, 0), f32("extra", []uint64{1}, 7)}
	tb := testModel{f32("emb", []uint64{2, 2}, 1, 3, 3, 5), f32("head", []uint64{2}, 2, 2), f32("w", []uint64{2}, 0, 1)}
	dir := t.TempDir()
	bp, tps := writeSet(t, dir, base, []testModel{ta, tb})
	for _, p := range []string{"", MismatchError} {
		_, err := Diagnose(context.Background(), bp, tps, DiagnoseOptions{Backend: best(t), Mismatch: p})
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), `tensor "emb" has shape [4 2]`) {
			t.Errorf("policy %q: err = %v", p, err)
		}
	}
	for _, tc := range []struct {
		policy  string
		sq      []float64 // |tau_t|^2
		tensors []string
		notes   []string
	}{
		// tau_a = w (1, 0); tau_b = w (0, 1): emb and head left out.
		{MismatchBase, []float64{1, 1}, []string{"w"},
			[]string{`"emb": taken from the base`, `"head": taken from the base`, `"extra": not in the base; left out`}},
		// Rows [0, 2) of emb: tau_a (1, 0, 0, 0), tau_b (0, 1, 0, 1); head
		// still from the base (task a lacks it).
		{MismatchCommon, []float64{2, 3}, []string{"emb", "w"},
			[]string{`"emb": rows [0, 2) merged, rows [2, 3) from the base`, `"head": taken from the base`, `"extra": not in the base; taken from task`}},
	} {
		st, err := Diagnose(context.Background(), bp, tps, DiagnoseOptions{Backend: best(t), Mismatch: tc.policy})
		if err != nil {
			t.Fatalf("%s: %v", tc.policy, err)
		}
		for i, want := range tc.sq {
			if math.Abs(st.Norms[i]-math.Sqrt(want)) > 1e-12 || st.Dots[0][1] != 0 {
				t.Errorf("%s: norms %v, dot %v; want sqrt of %v, 0", tc.policy, st.Norms, st.Dots[0][1], tc.sq)
			}
		}
		var names []string
		for _, tn := range st.Tensors {
			names = append(names, tn.Name)
		}
		if d := cmp.Diff(tc.tensors, names); d != "" {
			t.Errorf("%s: per-tensor norms of (-want +got):\n%s", tc.policy, d)
		}
		rep := st.Report(bp, 2, false)
		if len(rep.Mismatches) != len(tc.notes) {
			t.Fatalf("%s: notes %q", tc.policy, rep.Mismatches)
		}
		for i, n := range tc.notes {
			if !strings.Contains(rep.Mismatches[i], n) {
				t.Errorf("%s: note %q lacks %q", tc.policy, rep.Mismatches[i], n)
			}
		}
	}
	c, err := ParseDiagnoseConfig([]byte("base: b\ntasks: [a]\nmismatch: Common\n"), "")
	if err != nil || c.Mismatch != MismatchCommon {
		t.Errorf("config mismatch: %+v, %v", c, err)
	}
	if _, err := ParseDiagnoseConfig([]byte("mismatch: rows\n"), ""); err == nil || !strings.Contains(err.Error(), "mismatch") {
		t.Errorf("config mismatch rows: %v", err)
	}
}
