package train

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/distac/distac/distac/model"
)

// At the largest float32 learning rate the only step's update overflows
// (weight decay scales the weights by 1 - lr*wd, Adam moves each by about
// lr), leaving non-finite weights that no loss sees: Finetune must fail,
// naming the step.
func TestFinetuneNonFiniteWeights(t *testing.T) {
	cfg := mlpConfig(t, `{"embed_dim": 4, "mlp_cfg": {"in_features": 16, "hidden": [8]}}`)
	rng := rand.New(rand.NewPCG(1, 2))
	set := noiseImages(rng, 12, 4)
	set.Classes, set.Labels = 3, make([]int32, 12)
	for i := range set.Labels {
		set.Labels[i] = int32(i % 3)
	}
	w := headWeights(rng, 3, 4)
	for _, e := range engines(t) {
		t.Run(e.Name(), func(t *testing.T) {
			enc := model.New(cfg)
			p, err := model.Init(e, enc.Layout(), 1)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Free(e)
			head, err := model.NewHead(e, w, 3, 4)
			if err != nil {
				t.Fatal(err)
			}
			defer head.Free(e)
			o := DefaultFinetuneOptions()
			o.Steps, o.Batch, o.Warmup = 1, 4, 0
			if _, _, err := Finetune(context.Background(), e, enc, p, head, set, o); err != nil {
				t.Fatalf("lr %g: %v", o.LR, err)
			}
			o.LR = math.MaxFloat32
			_, _, err = Finetune(context.Background(), e, enc, p, head, set, o)
			if err == nil || !strings.Contains(err.Error(), "step 1") || !strings.Contains(err.Error(), "not finite") {
				t.Fatalf("lr %g: err = %v, want the weights after step 1 reported non-finite", o.LR, err)
			}
			o.LR = 1e39 // not a float32
			if _, _, err := Finetune(context.Background(), e, enc, p, head, set, o); err == nil || !strings.Contains(err.Error(), "learning rate") {
				t.Fatalf("lr 1e39: err = %v", err)
			}
		})
	}
}
