package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

// tensorsOf is every tensor of the checkpoint at path: name to dtype,
// shape and bytes.
func tensorsOf(t *testing.T, path string) map[string]string {
	t.Helper()
	ck := testutil.Open(t, path)
	out := map[string]string{}
	for _, tn := range ck.Tensors {
		out[tn.Name] = fmt.Sprintf("%s %v %x", tn.DType, tn.Shape, tn.Bytes(0, tn.Numel))
	}
	return out
}

// logitsOf is the model at path's logits for imgs under head w (classes x
// embed_dim).
func logitsOf(t *testing.T, e model.Engine, path string, imgs, w []float32, n, classes int) []float32 {
	t.Helper()
	m, err := model.Open(e, path, model.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	defer m.Params.Free(e)
	head, err := model.NewHead(e, w, classes, m.Config.EmbedDim)
	if err != nil {
		t.Fatal(err)
	}
	defer head.Free(e)
	got, err := train.Predict(e, m.Encoder, m.Params, head, imgs, n, n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// distac convert to transformers' names and back gives the tensors it
// started from, bit for bit (F32 and BF16, with and without projection),
// and every form gives the same logits.
func TestConvertRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	mustRun(t, runInit, "--model-config", writeFile(t, dir, "vit.json", tinyViT), "--seed", "4", "--out", p("oc.safetensors"))
	mustRun(t, runConvert, "--to", "open_clip", "--model", p("oc.safetensors"), "--dtype", "bf16", "--out-prefix", "visual.", "--out", p("oc16.safetensors"))
	// A CLIPVisionModel (no projection), made in transformers' names.
	vm := `{"model_type": "clip_vision_model", "architectures": ["CLIPVisionModel"], "hidden_size": 16, "intermediate_size": 64,
	 "num_hidden_layers": 1, "num_attention_heads": 2, "num_channels": 1, "image_size": 8, "patch_size": 4, "hidden_act": "gelu"}`
	mustRun(t, runInit, "--model-config", writeFile(t, dir, "config.json", vm), "--format", "hf", "--seed", "5", "--out", p("vm"))
	mustRun(t, runConvert, "--to", "open_clip", "--model", p("vm"), "--out", p("vm-oc.safetensors"))

	e, err := openEngine("auto", 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const n, classes = 4, 3
	imgs := make([]float32, n*64)
	for i := range imgs {
		imgs[i] = rng.Float32()
	}
	for _, c := range []struct{ start, prefix, there string }{
		{"oc.safetensors", "", "hf"}, {"oc16.safetensors", "visual.", "hf16"}, {"vm-oc.safetensors", "", "vm-hf"},
	} {
		there, back := p(c.there), p(c.there+"-back.safetensors")
		mustRun(t, runConvert, "--to", "hf", "--model", p(c.start), "--out", there)
		mustRun(t, runConvert, "--to", "open_clip", "--model", there, "--out-prefix", c.prefix, "--out", back)
		if d := cmp.Diff(tensorsOf(t, p(c.start)), tensorsOf(t, back)); d != "" {
			t.Errorf("%s -> hf -> open_clip changed the tensors:\n%.2000s", c.start, d)
		}
		hf := tensorsOf(t, there)
		if _, ok := hf["vision_model.encoder.layers.0.self_attn.q_proj.weight"]; !ok || len(listDir(t, there)) < 2 {
			t.Errorf("%s: not a transformers folder: %v", there, listDir(t, there))
		}
		m, err := model.Open(e, there, model.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dim := m.Config.EmbedDim
		m.Params.Free(e)
		m.Close()
		w := make([]float32, classes*dim)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		want := logitsOf(t, e, p(c.start), imgs, w, n, classes)
		for _, path := range []string{there, back} {
			if d := cmp.Diff(want, logitsOf(t, e, path, imgs, w, n, classes)); d != "" {
				t.Errorf("%s: logits differ from %s's:\n%s", path, c.start, d)
			}
		}
	}
	if _, ok := tensorsOf(t, p("vm-hf"))["visual_projection.weight"]; ok {
		t.Error("a CLIPVisionModel converted back has a projection")
	}
	if _, err := run(t, runConvert, "--to", "onnx", "--model", p("oc.safetensors"), "--out", p("x")); err == nil || !strings.Contains(err.Error(), "want hf or open_clip") {
		t.Errorf("--to onnx: %v", err)
	}
	mlp := p("mlp.safetensors")
	mustRun(t, runInit, "--model-config", writeFile(t, dir, "mlp.json", tinyMLP), "--out", mlp)
	if _, err := run(t, runConvert, "--to", "hf", "--model", mlp, "--out", p("mlp-hf")); err == nil || !strings.Contains(err.Error(), "not a ViT") {
		t.Errorf("an MLP to hf: %v", err)
	}
}

// The README's convert lines, run as written on a small model: the round
// trip gives the same tensors, and --out-prefix puts them under it.
func TestReadmeConvert(t *testing.T) {
	block := readmeBlock(t, "convert: commands")
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	mustRun(t, runInit, "--model-config", writeFile(t, dir, "vit.json", tinyViT), "--out", "mnist.safetensors")
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		line, _, _ = strings.Cut(line, "#")
		args := strings.Fields(line)
		if len(args) < 2 || args[0] != "distac" || args[1] != "convert" {
			t.Fatalf("README line %q: not a distac convert command", line)
		}
		mustRun(t, runConvert, args[2:]...)
	}
	if d := cmp.Diff(tensorsOf(t, "mnist.safetensors"), tensorsOf(t, "mnist-again.safetensors")); d != "" {
		t.Errorf("the README's round trip changed the tensors:\n%.2000s", d)
	}
	if _, ok := tensorsOf(t, "mnist-visual.safetensors")["visual.conv1.weight"]; !ok {
		t.Error("--out-prefix visual.: no visual.conv1.weight")
	}
}
