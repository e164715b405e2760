package merge

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nlpodyssey/safetensors"
)

func f32(name string, shape []uint64, vals ...float64) *testTensor {
	return &testTensor{name: name, dtype: safetensors.F32, shape: shape, vals: vals}
}

// A vocabulary grown by a row in one task and cut in another, a head one
// task lacks and a tensor only a task has, under each mismatch policy:
// error stops; base takes the base's tensors and leaves the task's own
// out; common merges the rows all share (task arithmetic here: base + sum
// of the task vectors), takes the others from the base, and the task's
// own tensor from it. The output is written in bf16 to check the copies
// convert.
func TestMismatchPolicies(t *testing.T) {
	base := testModel{f32("emb", []uint64{3, 2}, 1, 2, 3, 4, 5, 6), f32("head", []uint64{2}, 1, 1), f32("w", []uint64{2}, 0, 0)}
	ta := testModel{f32("emb", []uint64{4, 2}, 2, 2, 3, 4, 6, 6, 9, 9), f32("w", []uint64{2}, 1, 0), f32("extra", []uint64{1}, 7)}
	tb := testModel{f32("emb", []uint64{2, 2}, 1, 3, 3, 5), f32("head", []uint64{2}, 2, 2), f32("w", []uint64{2}, 0, 1)}
	for _, tc := range []struct {
		policy string
		want   map[string][]float64
		notes  []string
	}{
		{policy: MismatchBase, want: map[string][]float64{"emb": {1, 2, 3, 4, 5, 6}, "head": {1, 1}, "w": {1, 1}},
			notes: []string{`"emb": taken from the base`, `"head": taken from the base`, `"extra": not in the base; left out`}},
		{policy: MismatchCommon, want: map[string][]float64{"emb": {2, 3, 3, 5, 5, 6}, "head": {1, 1}, "w": {1, 1}, "extra": {7}},
			notes: []string{`"emb": rows [0, 2) merged, rows [2, 3) from the base`, `"head": taken from the base`, `"extra": not in the base; taken from task`}},
	} {
		dir := t.TempDir()
		bp, tps := writeSet(t, dir, base, []testModel{ta, tb})
		out := filepath.Join(dir, "out.safetensors")
		opts := Options{Method: MethodTA, Alpha: 1, Base: bp, Tasks: tps, Out: out, Backend: best(t), Mismatch: tc.policy}
		rep, err := Run(context.Background(), opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.policy, err)
		}
		if len(rep.Mismatches) != len(tc.notes) {
			t.Fatalf("%s: notes %q", tc.policy, rep.Mismatches)
		}
		for i, n := range tc.notes {
			if !strings.Contains(rep.Mismatches[i], n) {
				t.Errorf("%s: note %q lacks %q", tc.policy, rep.Mismatches[i], n)
			}
		}
		got := map[string][]float64{}
		for _, tt := range readModel(t, out) {
			got[tt.name] = tt.vals
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s: merged (-want +got):\n%s", tc.policy, d)
		}
		if rep.Tensors != len(tc.want) {
			t.Errorf("%s: report says %d tensors, the output has %d", tc.policy, rep.Tensors, len(tc.want))
		}
		opts.Out, opts.OutDType = filepath.Join(dir, "bf16.safetensors"), "bf16"
		if _, err := Run(context.Background(), opts); err != nil {
			t.Fatalf("%s, bf16: %v", tc.policy, err)
		}
		for _, tt := range readModel(t, opts.Out) {
			if tt.dtype != safetensors.BF16 || !cmp.Equal(tt.vals, tc.want[tt.name]) {
				t.Errorf("%s, bf16: %s is %s %v, want %v", tc.policy, tt.name, tt.dtype, tt.vals, tc.want[tt.name])
			}
		}
	}
	dir := t.TempDir()
	bp, tps := writeSet(t, dir, base, []testModel{ta, tb})
	// Every method merges the shared rows (views of the tensors) and keeps
	// the base's tail.
	for _, m := range Methods {
		out := filepath.Join(dir, m.Name+".safetensors")
		if _, err := Run(context.Background(), Options{Method: m.Name, Alpha: 1, Base: bp, Tasks: tps, Out: out, Backend: best(t), Mismatch: MismatchCommon}); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if emb := readModel(t, out).get("emb"); !cmp.Equal(emb.vals[4:], []float64{5, 6}) || !cmp.Equal(emb.shape, []uint64{3, 2}) {
			t.Errorf("%s: emb %v %v", m.Name, emb.shape, emb.vals)
		}
	}
	for _, p := range []string{"", MismatchError} {
		_, err := Run(context.Background(), Options{Method: MethodTIES, Alpha: 1, Base: bp, Tasks: tps, Out: filepath.Join(dir, "o.safetensors"), Backend: best(t), Mismatch: p})
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), `tensor "emb" has shape [4 2]`) {
			t.Fatalf("policy %q: err = %v", p, err)
		}
	}
	if _, err := Run(context.Background(), Options{Method: MethodTA, Alpha: 1, Base: bp, Tasks: tps, Out: filepath.Join(dir, "o.safetensors"), Backend: best(t), Mismatch: "rows"}); err == nil || !strings.Contains(err.Error(), "mismatch policy") {
		t.Fatalf("unknown policy: err = %v", err)
	}
}
