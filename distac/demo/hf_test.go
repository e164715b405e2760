package demo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/testutil"
)

// tinyHFVision is a transformers CLIPVisionConfig at the demo's image size,
// small enough for a test.
const tinyHFVision = `{"model_type": "clip_vision_model", "architectures": ["CLIPVisionModelWithProjection"],
  "hidden_size": 32, "intermediate_size": 64, "projection_dim": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
  "num_channels": 1, "image_size": 28, "patch_size": 7, "hidden_act": "gelu"}`

// A recipe whose model is a transformers folder's config.json (named by its
// folder) runs the whole pipeline, records the config itself, and writes
// every checkpoint in transformers' names, which distac reads back as such.
func TestQuickHFRecipe(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "clip-vision")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(folder, model.HFConfigName), []byte(tinyHFVision), 0o644); err != nil {
		t.Fatal(err)
	}
	r := QuickRecipe()
	r.Model = folder
	r.Splits = splitSizes{Train: 200, Val: 40, Test: 60}
	r.Pretrain.PoolPerTask, r.Pretrain.Steps, r.Pretrain.Batch = 60, 4, 16
	r.Head.Examples = 60
	r.Finetune.Steps, r.Finetune.Batch = 4, 16
	r.DisTaC.Steps, r.DisTaC.Batch = 2, 16
	work := filepath.Join(dir, "work")
	start := time.Now()
	res, err := Run(Options{Workdir: work, Seed: 1, Tasks: []string{"opencv-digits", "sklearn-digits"}, Recipe: r})
	if errors.Is(err, data.ErrNotInstalled) {
		t.Skipf("data sets missing: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ran in %v", time.Since(start))
	if res.Recipe.Model != strings.TrimSpace(tinyHFVision) {
		t.Errorf("results record the model %q, want the config's text", res.Recipe.Model)
	}
	if len(res.Columns) != 5 || len(res.Columns[0].Methods) != len(demoMethods) {
		t.Fatalf("%d columns, %d methods", len(res.Columns), len(res.Columns[0].Methods))
	}
	files, _ := filepath.Glob(filepath.Join(work, "*.safetensors"))
	e, err := model.OpenEngine("auto", 1)
	if err != nil {
		t.Fatal(err)
	}
	models := 0
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "head-") {
			continue
		}
		models++
		ck := testutil.Open(t, f)
		_, hf := ck.Tensor("vision_model.encoder.layers.0.self_attn.v_proj.weight")
		_, proj := ck.Tensor("visual_projection.weight")
		_, oc := ck.Tensor("conv1.weight")
		if !hf || !proj || oc || ck.Files[0].Metadata["format"] != "pt" {
			t.Errorf("%s: not in transformers' names", filepath.Base(f))
		}
		m, err := model.Open(e, f, model.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !m.Naming.IsHF() || m.Config.EmbedDim != 16 {
			t.Errorf("%s read back as %v, embed_dim %d", filepath.Base(f), m.Naming, m.Config.EmbedDim)
		}
		w, _ := ffi.ReadF32(e, m.Params.All())
		if len(w) == 0 {
			t.Errorf("%s: no parameters", f)
		}
		m.Params.Free(e)
		m.Close()
	}
	// The base, 2 x 2 ideal and low-confidence models, 1 boosted, 4 conditioned.
	if models != 1+5+4 {
		t.Errorf("%d checkpoints in the work directory, want 10", models)
	}
}
