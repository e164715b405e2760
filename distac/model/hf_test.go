package model

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

// hfTensor reads a tensor of ck as float64.
func hfTensor(t *testing.T, ck *checkpoint.Checkpoint, name string) []float64 {
	t.Helper()
	tn, ok := ck.Tensor(name)
	if !ok {
		t.Fatalf("no tensor %s", name)
	}
	var xs []float32
	if err := tn.View(0, tn.Numel, func(b []byte) (err error) { xs, err = checkpoint.DecodeFloats(tn.DType, b); return err }); err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

// hfReference is transformers' CLIPVisionModelWithProjection forward in
// float64, written from modeling_clip.py over the file's own tensors
// (q_proj, k_proj, v_proj apart, visual_projection as nn.Linear's [out,
// in]): it checks the naming's meaning, not only its round trip.
func hfReference(t *testing.T, ck *checkpoint.Checkpoint, c *Config, img []float32) []float64 {
	v := c.Vision
	D, P, S, C := v.Width, v.PatchSize, v.ImageSize, v.InChannels
	g := S / P
	L, H := g*g+1, v.Heads
	hd := D / H
	get := func(n string) []float64 { return hfTensor(t, ck, n) }
	ln := func(x []float64, w, b []float64) []float64 {
		out := make([]float64, len(x))
		for r := 0; r < len(x)/D; r++ {
			row := x[r*D : (r+1)*D]
			var mean, vr float64
			for _, a := range row {
				mean += a
			}
			mean /= float64(D)
			for _, a := range row {
				vr += (a - mean) * (a - mean)
			}
			rstd := 1 / math.Sqrt(vr/float64(D)+float64(v.eps()))
			for i, a := range row {
				out[r*D+i] = (a-mean)*rstd*w[i] + b[i]
			}
		}
		return out
	}
	linear := func(x []float64, in int, w, b []float64) []float64 { // y = x W^T + b
		out := len(w) / in
		y := make([]float64, len(x)/in*out)
		for r := 0; r < len(x)/in; r++ {
			for o := range out {
				s := 0.0
				if b != nil {
					s = b[o]
				}
				for i := range in {
					s += x[r*in+i] * w[o*in+i]
				}
				y[r*out+o] = s
			}
		}
		return y
	}
	// embeddings: conv (stride P, no bias), class token first, positions
	pw, cls, pos := get("vision_model.embeddings.patch_embedding.weight"), get("vision_model.embeddings.class_embedding"),
		get("vision_model.embeddings.position_embedding.weight")
	x := make([]float64, L*D)
	copy(x, cls)
	for gy := range g {
		for gx := range g {
			for d := range D {
				s := 0.0
				for ch := range C {
					for py := range P {
						for px := range P {
							s += float64(img[ch*S*S+(gy*P+py)*S+gx*P+px]) * pw[((d*C+ch)*P+py)*P+px]
						}
					}
				}
				x[(1+gy*g+gx)*D+d] = s
			}
		}
	}
	for i := range x {
		x[i] += pos[i]
	}
	x = ln(x, get("vision_model.pre_layrnorm.weight"), get("vision_model.pre_layrnorm.bias"))
	act := func(a float64) float64 {
		if c.QuickGELU {
			return a / (1 + math.Exp(-1.702*a))
		}
		return 0.5 * a * (1 + math.Erf(a/math.Sqrt2))
	}
	for i := range v.Layers {
		pre := "vision_model.encoder.layers." + string(rune('0'+i)) + "."
		lin := func(name string, in int, h []float64) []float64 {
			return linear(h, in, get(pre+name+".weight"), get(pre+name+".bias"))
		}
		h := ln(x, get(pre+"layer_norm1.weight"), get(pre+"layer_norm1.bias"))
		q, k, vv := lin("self_attn.q_proj", D, h), lin("self_attn.k_proj", D, h), lin("self_attn.v_proj", D, h)
		att := make([]float64, L*D)
		for hh := range H {
			for a := range L {
				sc := make([]float64, L)
				mx := math.Inf(-1)
				for b := range L {
					for j := range hd {
						sc[b] += q[a*D+hh*hd+j] * k[b*D+hh*hd+j]
					}
					sc[b] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[b])
				}
				z := 0.0
				for b := range sc {
					sc[b] = math.Exp(sc[b] - mx)
					z += sc[b]
				}
				for b := range L {
					for j := range hd {
						att[a*D+hh*hd+j] += sc[b] / z * vv[b*D+hh*hd+j]
					}
				}
			}
		}
		o := lin("self_attn.out_proj", D, att)
		for j := range x {
			x[j] += o[j]
		}
		h = ln(x, get(pre+"layer_norm2.weight"), get(pre+"layer_norm2.bias"))
		f := lin("mlp.fc1", D, h)
		for j := range f {
			f[j] = act(f[j])
		}
		f = lin("mlp.fc2", len(f)/L, f)
		for j := range x {
			x[j] += f[j]
		}
	}
	pooled := ln(x[:D], get("vision_model.post_layernorm.weight"), get("vision_model.post_layernorm.bias"))
	if _, ok := ck.Tensor("visual_projection.weight"); !ok {
		return pooled // CLIPVisionModel: the pooler_output
	}
	return linear(pooled, D, get("visual_projection.weight"), nil)
}

// hfLogitsError is the relative error of m's logits under a random head
// against hfReference's features of ck under the same head.
func hfLogitsError(t *testing.T, e Engine, m *Loaded, ck *checkpoint.Checkpoint) float64 {
	t.Helper()
	c := m.Config
	dim := c.EmbedDim
	ch, h, w := c.Input()
	rng := rand.New(rand.NewPCG(5, 5))
	const n, classes = 3, 4
	imgs := randn(rng, n*ch*h*w, 1)
	hw := randn(rng, classes*dim, 1)
	head, err := NewHead(e, hw, classes, dim)
	if err != nil {
		t.Fatal(err)
	}
	defer head.Free(e)
	net, err := NewNet(e, m.Encoder, head, n, false)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Free()
	lg, err := net.Forward(m.Params, imgs, n)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ffi.ReadF32(e, ffi.Vec{Buf: lg.Buf, Off: lg.Off, N: n * classes})
	var num, den float64
	for i := range n {
		f := hfReference(t, ck, c, imgs[i*ch*h*w:(i+1)*ch*h*w])
		if len(f) != dim {
			t.Fatalf("the reference gives %d features, the model %d", len(f), dim)
		}
		nrm := 0.0
		for _, x := range f {
			nrm += x * x
		}
		nrm = math.Sqrt(nrm)
		for k := range classes {
			want := 0.0
			for j := range f {
				want += f[j] / nrm * float64(hw[k*dim+j])
			}
			num += (float64(got[i*classes+k]) - want) * (float64(got[i*classes+k]) - want)
			den += want * want
		}
	}
	return math.Sqrt(num / den)
}

// The same model saved in open_clip's and transformers' names loads to the
// same parameters, and its logits equal a float64 forward of transformers'
// CLIP over the HF file's tensors (1e-5 relative).
func TestHFNamingLogits(t *testing.T) {
	e := engines(t)[0]
	for _, quick := range []bool{false, true} {
		c := tinyViT(quick)
		c.Vision.LayerNormEps = 1e-6
		l := LayoutOf(c)
		p := randomParams(t, e, l, 3)
		dir := t.TempDir()
		oc, hf := filepath.Join(dir, "oc.safetensors"), filepath.Join(dir, "hf.safetensors")
		if err := SaveParams(e, c, p, oc, SaveOptions{Prefix: "visual."}); err != nil {
			t.Fatal(err)
		}
		if err := SaveParams(e, c, p, hf, SaveOptions{Naming: NamingHF}); err != nil {
			t.Fatal(err)
		}
		mo, err := Open(e, oc, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer mo.Close()
		mh, err := Open(e, hf, OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer mh.Close()
		if !mh.Naming.IsHF() || mo.Naming.IsHF() || mo.Prefix != "visual." {
			t.Fatalf("namings found: %v and %v", mo.Naming, mh.Naming)
		}
		if tn, ok := mh.Checkpoint.Tensor("visual_projection.weight"); !ok || !cmp.Equal(tn.Shape, []uint64{6, 8}) {
			t.Fatalf("visual_projection.weight: %v", tn)
		}
		if mh.Checkpoint.Files[0].Metadata["format"] != "pt" {
			t.Fatal(`an HF file needs "format": "pt" in its metadata for transformers`)
		}
		a, _ := ffi.ReadF32(e, mo.Params.All())
		b, _ := ffi.ReadF32(e, mh.Params.All())
		if d := cmp.Diff(a, b); d != "" {
			t.Fatalf("parameters differ between the namings:\n%s", d)
		}
		if rel := hfLogitsError(t, e, mo, mh.Checkpoint); !(rel < 1e-5) {
			t.Fatalf("quick_gelu %v: logits differ from transformers' forward by %.3g relative", quick, rel)
		}
	}
}

// config.json round trip, and a CLIPConfig (vision_config inside, defaults
// for what save_pretrained leaves out) with its preprocessor_config.json.
func TestHFConfig(t *testing.T) {
	c := tinyViT(true)
	c.Preprocess = &PreprocessConfig{Mean: []float32{0.5}, Std: []float32{0.25}}
	files, err := HFFiles(c)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	back, err := ReadConfig(filepath.Join(dir, HFConfigName))
	if err != nil {
		t.Fatal(err)
	}
	c.Preprocess = &PreprocessConfig{Mean: []float32{0.5, 0.5}, Std: []float32{0.25, 0.25}} // spelled per channel
	if back.JSON() != c.JSON() {
		t.Fatalf("config.json round trip:\n got %s\nwant %s", back.JSON(), c.JSON())
	}
	full, err := ParseHFConfig([]byte(`{"model_type": "clip", "projection_dim": 768,
		"vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
		"patch_size": 14, "hidden_act": "gelu"}}`), []byte(`{"image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"embed_dim":768,"vision_cfg":{"image_size":224,"patch_size":14,"width":1024,"layers":24,"heads":16,"head_width":64,"mlp_ratio":4,"in_channels":3},` +
		`"preprocess_cfg":{"mean":[0.48145467,0.4578275,0.40821072],"std":[0.26862955,0.2613026,0.2757771]}}`
	if full.JSON() != want {
		t.Fatalf("CLIPConfig (ViT-L/14):\n got %s\nwant %s", full.JSON(), want)
	}
	for _, bad := range []string{`{"model_type": "siglip_vision_model"}`, `{"model_type": "clip_vision_model", "hidden_act": "gelu_new"}`} {
		if _, err := ParseHFConfig([]byte(bad), nil); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// writeFullCLIP writes an open_clip CLIP state dict as open_clip saves it,
// without distac's metadata: the visual tower under prefixes, and a text
// tower (transformer.*, token_embedding, ...) beside it.
func writeFullCLIP(t *testing.T, e Engine, c *Config, p *Params, path string, prefixes ...string) {
	t.Helper()
	dir := t.TempDir()
	var tensors []checkpoint.OutTensor
	var data [][]byte
	for _, pre := range prefixes {
		v := filepath.Join(dir, "v"+pre+"safetensors")
		if err := SaveParams(e, c, p, v, SaveOptions{Prefix: pre}); err != nil {
			t.Fatal(err)
		}
		o, d := testutil.Tensors(t, v)
		tensors, data = append(tensors, o...), append(data, d...)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, txt := range []struct {
		name  string
		shape []uint64
	}{{"token_embedding.weight", []uint64{11, 8}}, {"positional_embedding", []uint64{5, 8}},
		{"transformer.resblocks.0.attn.in_proj_weight", []uint64{24, 8}}, {"transformer.resblocks.0.ln_1.weight", []uint64{8}},
		{"ln_final.weight", []uint64{8}}, {"ln_final.bias", []uint64{8}}, {"text_projection", []uint64{8, 6}}, {"logit_scale", nil}} {
		n := 1
		for _, d := range txt.shape {
			n *= int(d)
		}
		tensors = append(tensors, checkpoint.OutTensor{Name: txt.name, DType: tensors[0].DType, Shape: txt.shape})
		data = append(data, append([]byte(nil), ffi.F32Bytes(randn(rng, n, 1))...))
	}
	testutil.WriteTensors(t, path, tensors, data, false)
}

// A full open_clip CLIP state dict (visual.* and the text tower) loads with
// its config and no prefix; a save like it carries the text tower
// unchanged. Two visual towers are ambiguous: the error names both
// prefixes, and a given prefix picks one.
func TestPrefixDetection(t *testing.T) {
	e := engines(t)[0]
	c := tinyViT(false)
	p := randomParams(t, e, LayoutOf(c), 4)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "ViT-tiny.json")
	if err := os.WriteFile(cfgPath, []byte(c.JSON()), 0o644); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "open_clip_model.safetensors")
	writeFullCLIP(t, e, c, p, full, "visual.")
	m, err := Open(e, full, OpenOptions{ConfigPath: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Prefix != "visual." || m.Naming.IsHF() {
		t.Fatalf("found %v, want open_clip under visual.", m.Naming)
	}
	out := filepath.Join(dir, "out.safetensors")
	if err := SaveParams(e, c, m.Params, out, SaveOptions{Prefix: m.Prefix, Naming: m.Naming.Kind, Like: m.Checkpoint}); err != nil {
		t.Fatal(err)
	}
	oc := testutil.Open(t, out)
	if len(oc.Tensors) != len(m.Checkpoint.Tensors) {
		t.Fatalf("%d tensors written, the input has %d", len(oc.Tensors), len(m.Checkpoint.Tensors))
	}
	for _, name := range []string{"token_embedding.weight", "transformer.resblocks.0.attn.in_proj_weight", "text_projection", "logit_scale"} {
		a, _ := m.Checkpoint.Tensor(name)
		b, ok := oc.Tensor(name)
		if !ok || !cmp.Equal(a.Bytes(0, a.Numel), b.Bytes(0, b.Numel)) || !cmp.Equal(a.Shape, b.Shape) {
			t.Fatalf("text tower tensor %s not carried unchanged", name)
		}
	}

	two := filepath.Join(dir, "two.safetensors")
	writeFullCLIP(t, e, c, p, two, "a.", "b.")
	if _, err := Open(e, two, OpenOptions{ConfigPath: cfgPath}); err == nil || !strings.Contains(err.Error(), `several key prefixes ("a.", "b.")`) {
		t.Fatalf("two towers: err = %v", err)
	}
	pre := "b."
	m2, err := Open(e, two, OpenOptions{ConfigPath: cfgPath, Prefix: &pre})
	if err != nil || m2.Prefix != "b." {
		t.Fatalf("given prefix: %v", err)
	}
	m2.Close()
}
