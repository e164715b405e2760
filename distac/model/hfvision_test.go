package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

// tinyVisionModel is a transformers CLIPVisionModel's config (no
// projection): its features are the pooled output, hidden_size wide.
const tinyVisionModel = `{"model_type": "clip_vision_model", "architectures": ["CLIPVisionModel"], "hidden_size": 8,
	"intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_channels": 2, "image_size": 8,
	"patch_size": 4, "hidden_act": "gelu", "layer_norm_eps": 1e-6}`

// A CLIPVisionModel folder (no visual_projection.weight) loads, from its
// architectures or, without them, from its tensors; its logits equal a
// float64 forward of transformers' CLIPVisionModel (pooler_output under
// the head, 1e-5), and a save writes it back without a projection.
func TestHFVisionModelNoProjection(t *testing.T) {
	e := engines(t)[0]
	c, err := ParseConfig([]byte(tinyVisionModel))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Vision.NoProj || c.EmbedDim != 8 {
		t.Fatalf("CLIPVisionModel config read as %s", c.JSON())
	}
	if _, ok := LayoutOf(c).Spec("proj"); ok {
		t.Fatal("the layout of a model without projection has proj")
	}
	p := randomParams(t, e, LayoutOf(c), 8)
	defer p.Free(e)
	dir := t.TempDir()
	folder := filepath.Join(dir, "clip-vision")
	if err := SaveParams(e, c, p, folder, SaveOptions{Naming: NamingHF}); err != nil {
		t.Fatal(err)
	}
	var saved struct{ Architectures []string }
	b, err := os.ReadFile(filepath.Join(folder, HFConfigName))
	if err == nil {
		err = json.Unmarshal(b, &saved)
	}
	if err != nil || !cmp.Equal(saved.Architectures, []string{"CLIPVisionModel"}) {
		t.Fatalf("config.json architectures %v (%v), want CLIPVisionModel", saved.Architectures, err)
	}
	// The same folder with a config.json that names no architecture, and no
	// distac metadata: the missing visual_projection.weight says it.
	bare := filepath.Join(dir, "bare")
	if err := os.Mkdir(bare, 0o755); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	json.Unmarshal([]byte(tinyVisionModel), &cfg)
	delete(cfg, "architectures")
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(bare, HFConfigName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SaveParams(e, c, p, filepath.Join(bare, "model.safetensors"), SaveOptions{Naming: NamingHF}); err != nil {
		t.Fatal(err)
	}
	stripMetadata(t, filepath.Join(bare, "model.safetensors"))

	want, _ := ffi.ReadF32(e, p.All())
	for _, path := range []string{folder, bare} {
		m, err := Open(e, path, OpenOptions{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !m.Naming.IsHF() || !m.Config.Vision.NoProj || m.Config.EmbedDim != 8 {
			t.Fatalf("%s: read as %v, %s", path, m.Naming, m.Config.JSON())
		}
		if _, ok := m.Checkpoint.Tensor("visual_projection.weight"); ok {
			t.Fatalf("%s has visual_projection.weight", path)
		}
		got, _ := ffi.ReadF32(e, m.Params.All())
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("%s: parameters differ from the saved ones:\n%s", path, d)
		}
		if rel := hfLogitsError(t, e, m, m.Checkpoint); !(rel < 1e-5) {
			t.Fatalf("%s: logits differ from transformers' CLIPVisionModel forward by %.3g relative", path, rel)
		}
		m.Params.Free(e)
		m.Close()
	}
	if _, err := ParseConfig([]byte(`{"embed_dim": 6, "vision_cfg": {"image_size": 8, "patch_size": 4, "width": 8, "layers": 1, "heads": 2, "no_proj": true}}`)); err == nil {
		t.Error("no_proj with an embed_dim other than the width: no error")
	}
}

// stripMetadata rewrites the safetensors file at path with its tensors and
// no __metadata__, as a file from elsewhere comes.
func stripMetadata(t *testing.T, path string) {
	t.Helper()
	outs, data := testutil.Tensors(t, path)
	testutil.WriteTensors(t, path, outs, data, true)
}
