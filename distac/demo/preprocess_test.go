package demo

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/distac/distac/distac/model"
)

// The models the demo writes record the normalisation of their inputs, so
// distac eval and merge of its files normalise as the demo did.
func TestModelConfigRecordsPreprocessing(t *testing.T) {
	r := QuickRecipe()
	cfg, err := modelConfig(r)
	if err != nil {
		t.Fatal(err)
	}
	want := &model.PreprocessConfig{Mean: []float32{r.Mean}, Std: []float32{r.Std}}
	if d := cmp.Diff(want, cfg.Preprocess); d != "" {
		t.Fatalf("preprocess_cfg (-want +got):\n%s", d)
	}
	back, err := model.ParseConfig([]byte(cfg.JSON()))
	if err != nil || !cmp.Equal(back.Preprocess, want) {
		t.Fatalf("the saved config loses it: %s (%v)", cfg.JSON(), err)
	}
}
