package train

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
)

// With the default kappa rule the task with the shortest vector gets kappa
// 1; with equal temperatures its student would start as its teacher, and
// any step could only add rounding noise that Adam turns into full-size
// updates. It is kept as it is, bit for bit, and the result says why; the
// other task is distilled, and so is the first under the confidence fix.
func TestConditionKeepsTeacherAtKappaOne(t *testing.T) {
	cfg, err := model.ParseConfig([]byte(`{"embed_dim": 4, "mlp_cfg": {"in_features": 16, "hidden": [8]}}`))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	set := &data.Set{Name: "noise", C: 1, H: 4, W: 4, Images: make([]float32, 32*16)}
	for i := range set.Images {
		set.Images[i] = rng.Float32()
	}
	for _, e := range engines(t) {
		t.Run(e.Name(), func(t *testing.T) {
			enc := model.New(cfg)
			base, _ := model.Init(e, enc.Layout(), 1)
			defer base.Free(e)
			w := make([]float32, 3*4)
			for i := range w {
				w[i] = rng.Float32() - 0.5
			}
			head, _ := model.NewHead(e, w, 3, 4)
			defer head.Free(e)
			tasks := make([]Task, 2)
			for k, scale := range []float32{0.01, 0.05} { // task 0 is the shorter
				p, _ := base.Copy(e)
				noise := make([]float32, p.Layout.N)
				for i := range noise {
					noise[i] = scale * float32(rng.NormFloat64())
				}
				nb, _ := ffi.NewF32(e, noise)
				e.Axpy(1, ffi.All(nb), p.All())
				e.Free(nb)
				tasks[k] = Task{Name: string(rune('a' + k)), Params: p, Head: head, Inputs: set}
				defer p.Free(e)
			}
			o := DefaultConditionOptions()
			o.Steps, o.Batch, o.LR = 3, 8, 1e-3
			o.NewEngine = func(int) (model.Engine, error) { return e, nil }
			res, err := Condition(context.Background(), enc, base, tasks, o)
			if err != nil {
				t.Fatal(err)
			}
			if res[0].Kappa != 1 || res[0].Skipped == "" || len(res[0].Losses) != 0 {
				t.Fatalf("task a: kappa %v, skipped %q, %d steps", res[0].Kappa, res[0].Skipped, len(res[0].Losses))
			}
			teacher, _ := ffi.ReadF32(e, tasks[0].Params.All())
			got, _ := ffi.ReadF32(e, res[0].Params.All())
			if d := cmp.Diff(teacher, got); d != "" {
				t.Errorf("task a was changed (-teacher +kept):\n%s", d)
			}
			if res[1].Skipped != "" || len(res[1].Losses) != o.Steps {
				t.Errorf("task b: skipped %q, %d steps", res[1].Skipped, len(res[1].Losses))
			}
			o.TTcr, o.TStu = 1, 10 // the confidence fix distils even at kappa 1
			res2, err := Condition(context.Background(), enc, base, tasks, o)
			if err != nil {
				t.Fatal(err)
			}
			if res2[0].Skipped != "" || len(res2[0].Losses) != o.Steps {
				t.Errorf("confidence fix at kappa 1: skipped %q, %d steps", res2[0].Skipped, len(res2[0].Losses))
			}
			for _, r := range append(res, res2...) {
				r.Params.Free(e)
			}
		})
	}
}
