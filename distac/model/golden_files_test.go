package model

// Structure of the golden files of scripts/golden/model_golden.py (PyTorch,
// float64): every expected tensor is there with its shape, F32, finite, and
// nothing else is. The names and shapes are derived here from the config in
// each file's metadata (open_clip's VisionTransformer layout, written out
// independently of the script), and the config is checked against the one
// the file is meant to hold. The numeric comparisons with the engine live
// beside the engine; the few checks of values here only test that a file
// agrees with itself (head scale, logits from features, loss from logits).

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/distac/distac/internal/testutil"
	"github.com/google/go-cmp/cmp"
	"github.com/nlpodyssey/safetensors"
)

type goldenVisionCfg struct {
	ImageSize  int     `json:"image_size"`
	PatchSize  int     `json:"patch_size"`
	Width      int     `json:"width"`
	Layers     int     `json:"layers"`
	Heads      int     `json:"heads"`
	MLPRatio   float64 `json:"mlp_ratio"`
	InChannels int     `json:"in_channels"`
}

type goldenMLPCfg struct {
	InFeatures int    `json:"in_features"`
	Hidden     []int  `json:"hidden"`
	Activation string `json:"activation"`
}

type goldenCfg struct {
	EmbedDim  int              `json:"embed_dim"`
	QuickGELU bool             `json:"quick_gelu"`
	Vision    *goldenVisionCfg `json:"vision_cfg"`
	MLP       *goldenMLPCfg    `json:"mlp_cfg"`
}

type goldenShaped struct {
	name  string
	shape []uint64
}

// goldenParamShapes lists a model's parameters: open_clip's names for the ViT
// (no prefix), fc.{i} for the MLP.
func goldenParamShapes(c goldenCfg) []goldenShaped {
	u := func(v ...int) []uint64 {
		out := make([]uint64, len(v))
		for i, x := range v {
			out[i] = uint64(x)
		}
		return out
	}
	var ps []goldenShaped
	if m := c.MLP; m != nil {
		sizes := append(append([]int{m.InFeatures}, m.Hidden...), c.EmbedDim)
		for i := 0; i+1 < len(sizes); i++ {
			ps = append(ps, goldenShaped{fmt.Sprintf("fc.%d.weight", i), u(sizes[i+1], sizes[i])},
				goldenShaped{fmt.Sprintf("fc.%d.bias", i), u(sizes[i+1])})
		}
		return ps
	}
	v := c.Vision
	w, g, hid := v.Width, v.ImageSize/v.PatchSize, int(float64(v.Width)*v.MLPRatio)
	ps = append(ps, goldenShaped{"conv1.weight", u(w, v.InChannels, v.PatchSize, v.PatchSize)},
		goldenShaped{"class_embedding", u(w)}, goldenShaped{"positional_embedding", u(g*g+1, w)},
		goldenShaped{"ln_pre.weight", u(w)}, goldenShaped{"ln_pre.bias", u(w)})
	for i := 0; i < v.Layers; i++ {
		p := fmt.Sprintf("transformer.resblocks.%d.", i)
		ps = append(ps, goldenShaped{p + "ln_1.weight", u(w)}, goldenShaped{p + "ln_1.bias", u(w)},
			goldenShaped{p + "attn.in_proj_weight", u(3*w, w)}, goldenShaped{p + "attn.in_proj_bias", u(3 * w)},
			goldenShaped{p + "attn.out_proj.weight", u(w, w)}, goldenShaped{p + "attn.out_proj.bias", u(w)},
			goldenShaped{p + "ln_2.weight", u(w)}, goldenShaped{p + "ln_2.bias", u(w)},
			goldenShaped{p + "mlp.c_fc.weight", u(hid, w)}, goldenShaped{p + "mlp.c_fc.bias", u(hid)},
			goldenShaped{p + "mlp.c_proj.weight", u(w, hid)}, goldenShaped{p + "mlp.c_proj.bias", u(w)})
	}
	return append(ps, goldenShaped{"ln_post.weight", u(w)}, goldenShaped{"ln_post.bias", u(w)},
		goldenShaped{"proj", u(w, c.EmbedDim)})
}

type goldenFile struct {
	path    string
	meta    map[string]string
	cfg     goldenCfg
	tensors map[string]safetensors.TensorView
}

func openGoldenFile(t *testing.T, name string) *goldenFile {
	t.Helper()
	path := filepath.Join("testdata", name)
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (regenerate with scripts/golden/model_golden.py): %v", err)
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	_, md, err := safetensors.ReadMetadata(buf)
	if err != nil {
		t.Fatalf("parse %s metadata: %v", path, err)
	}
	f := &goldenFile{path: path, meta: md.Metadata(), tensors: map[string]safetensors.TensorView{}}
	if err := json.Unmarshal([]byte(f.meta["config"]), &f.cfg); err != nil {
		t.Fatalf("%s: config metadata: %v", path, err)
	}
	for _, nt := range st.Tensors() {
		f.tensors[nt.Name] = nt.TensorView
	}
	return f
}

func (f *goldenFile) metaInt(t *testing.T, key string) int {
	t.Helper()
	v, err := strconv.Atoi(f.meta[key])
	if err != nil {
		t.Fatalf("%s: metadata %s: %v", f.path, key, err)
	}
	return v
}

func (f *goldenFile) metaFloat(t *testing.T, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(f.meta[key], 64)
	if err != nil {
		t.Fatalf("%s: metadata %s: %v", f.path, key, err)
	}
	return v
}

// values decodes a tensor checked to exist with the expected shape.
func (f *goldenFile) values(name string) []float64 {
	data := f.tensors[name].Data()
	out := make([]float64, len(data)/4)
	for i := range out {
		out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
	}
	return out
}

// checkTensors requires exactly the tensors of want: F32, the given shapes, finite values.
func (f *goldenFile) checkTensors(t *testing.T, want []goldenShaped) {
	t.Helper()
	seen := map[string]bool{}
	for _, w := range want {
		seen[w.name] = true
		tv, ok := f.tensors[w.name]
		if !ok {
			t.Errorf("%s: tensor %s missing", f.path, w.name)
			continue
		}
		if tv.DType() != safetensors.F32 {
			t.Errorf("%s: %s is %v, want F32", f.path, w.name, tv.DType())
			continue
		}
		if !cmp.Equal(tv.Shape(), w.shape) {
			t.Errorf("%s: %s has shape %v, want %v", f.path, w.name, tv.Shape(), w.shape)
			continue
		}
		for i, v := range f.values(w.name) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s: %s[%d] = %v", f.path, w.name, i, v)
				break
			}
		}
	}
	var extra []string
	for name := range f.tensors {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("%s: unexpected tensors %v", f.path, extra)
	}
}

func goldenPrefixed(prefix string, ps []goldenShaped) []goldenShaped {
	out := make([]goldenShaped, len(ps))
	for i, p := range ps {
		out[i] = goldenShaped{prefix + p.name, p.shape}
	}
	return out
}

func goldenViTCfg(embed int, quick bool, image, patch, width, layers, heads, channels int) goldenCfg {
	return goldenCfg{EmbedDim: embed, QuickGELU: quick, Vision: &goldenVisionCfg{ImageSize: image, PatchSize: patch,
		Width: width, Layers: layers, Heads: heads, MLPRatio: 4, InChannels: channels}}
}

var (
	goldenViT   = goldenViTCfg(32, false, 28, 7, 64, 4, 4, 1)
	goldenQuick = goldenViTCfg(12, true, 16, 4, 24, 2, 3, 3)
	goldenMLP   = goldenCfg{EmbedDim: 32, MLP: &goldenMLPCfg{InFeatures: 784, Hidden: []int{128, 64}, Activation: "gelu"}}
)

func goldenImageShape(c goldenCfg, batch int) []uint64 {
	if c.MLP != nil {
		return []uint64{uint64(batch), 1, 28, 28}
	}
	v := c.Vision
	return []uint64{uint64(batch), uint64(v.InChannels), uint64(v.ImageSize), uint64(v.ImageSize)}
}

func TestGoldenForwardFiles(t *testing.T) {
	for _, tc := range []struct {
		file           string
		cfg            goldenCfg
		classes, batch int
		tTcr, tStu     float64
	}{
		{"vit_golden.safetensors", goldenViT, 10, 6, 10, 10},
		{"vit_quick_golden.safetensors", goldenQuick, 7, 5, 1, 10},
		{"mlp_golden.safetensors", goldenMLP, 10, 6, 2, 3},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := openGoldenFile(t, tc.file)
			if !cmp.Equal(f.cfg, tc.cfg) {
				t.Fatalf("config %s, want %+v", f.meta["config"], tc.cfg)
			}
			classes, batch := f.metaInt(t, "classes"), f.metaInt(t, "batch")
			tTcr, tStu := f.metaFloat(t, "t_tcr"), f.metaFloat(t, "t_stu")
			if classes != tc.classes || batch != tc.batch || tTcr != tc.tTcr || tStu != tc.tStu {
				t.Fatalf("classes %d batch %d T (%v, %v), want %d %d (%v, %v)",
					classes, batch, tTcr, tStu, tc.classes, tc.batch, tc.tTcr, tc.tStu)
			}
			ps := goldenParamShapes(f.cfg)
			b, c, e := uint64(batch), uint64(classes), uint64(f.cfg.EmbedDim)
			want := append(append(goldenPrefixed("student.", ps), goldenPrefixed("teacher.", ps)...), goldenPrefixed("grad.", ps)...)
			want = append(want, goldenShaped{"head", []uint64{c, e}}, goldenShaped{"images", goldenImageShape(f.cfg, batch)},
				goldenShaped{"features.student", []uint64{b, e}}, goldenShaped{"logits.teacher", []uint64{b, c}},
				goldenShaped{"logits.student", []uint64{b, c}}, goldenShaped{"loss", []uint64{1}})
			f.checkTensors(t, want)
			if t.Failed() {
				return
			}
			head := f.values("head")
			checkGoldenHeadScale(t, head, int(e))
			zs, zt := f.values("logits.student"), f.values("logits.teacher")
			if d := testutil.ApproxDiff(zs, goldenZeroShot(f.values("features.student"), head, int(e)), 1e-5); d != "" {
				t.Errorf("logits.student vs normalize(features.student) @ head.T (-stored +recomputed):\n%s", d)
			}
			loss := goldenDistacLoss(zt, zs, classes, tTcr, tStu)
			if got := f.values("loss")[0]; math.Abs(got-loss) > 1e-5*math.Abs(loss) || !(loss > 0) {
				t.Errorf("loss %v, KL of the stored logits %v", got, loss)
			}
			if goldenMaxAbsDiff(zt, zs) < 1 {
				t.Errorf("teacher and student logits differ by under 1: the case does not exercise the loss")
			}
		})
	}
}

func TestGoldenStepsFile(t *testing.T) {
	f := openGoldenFile(t, "vit_steps_golden.safetensors")
	if !cmp.Equal(f.cfg, goldenQuick) {
		t.Fatalf("config %s, want %+v", f.meta["config"], goldenQuick)
	}
	steps, classes, batch := f.metaInt(t, "steps"), f.metaInt(t, "classes"), f.metaInt(t, "batch")
	settings := map[string]float64{"lr": 1e-3, "warmup": 4, "beta": 0.05, "clip": 1, "t_tcr": 10, "t_stu": 10}
	for k, want := range settings {
		if got := f.metaFloat(t, k); got != want {
			t.Errorf("metadata %s = %v, want %v", k, got, want)
		}
	}
	if steps != 6 || classes != 7 || batch != 5 {
		t.Fatalf("steps %d classes %d batch %d, want 6 7 5", steps, classes, batch)
	}
	ps := goldenParamShapes(f.cfg)
	want := append(append(goldenPrefixed("init.", ps), goldenPrefixed("teacher.", ps)...), goldenPrefixed("final.", ps)...)
	want = append(want, goldenShaped{"head", []uint64{7, 12}}, goldenShaped{"images", goldenImageShape(f.cfg, batch)},
		goldenShaped{"loss_per_step", []uint64{6}}, goldenShaped{"grad_norm_per_step", []uint64{6}})
	f.checkTensors(t, want)
	if t.Failed() {
		return
	}
	checkGoldenHeadScale(t, f.values("head"), 12)
	clip := settings["clip"]
	var clipped, unclipped int
	for _, n := range f.values("grad_norm_per_step") {
		if n > clip {
			clipped++
		} else {
			unclipped++
		}
	}
	if clipped == 0 || unclipped == 0 {
		t.Errorf("grad norms %v: want steps above and below the clip norm %v", f.values("grad_norm_per_step"), clip)
	}
	for _, l := range f.values("loss_per_step") {
		if !(l >= 0) {
			t.Errorf("loss_per_step %v: a KL loss is never negative", f.values("loss_per_step"))
			break
		}
	}
	var moved float64
	for _, p := range ps {
		moved = math.Max(moved, goldenMaxAbsDiff(f.values("final."+p.name), f.values("init."+p.name)))
	}
	// Adam moves a parameter by at most about lr_t per step: sum over t of 1e-3*min(1, t/4) = 4.5e-3.
	if !(moved > 0 && moved < 2*4.5e-3) {
		t.Errorf("largest |final - init| %v, want in (0, 9e-3]", moved)
	}
}

// checkGoldenHeadScale: every head row has norm 20 (head = 20 * normalize(randn)).
func checkGoldenHeadScale(t *testing.T, head []float64, e int) {
	t.Helper()
	for r := 0; r < len(head)/e; r++ {
		var s float64
		for _, v := range head[r*e : (r+1)*e] {
			s += v * v
		}
		if math.Abs(math.Sqrt(s)-20) > 1e-4 {
			t.Errorf("head row %d has norm %v, want 20", r, math.Sqrt(s))
		}
	}
}

// goldenZeroShot returns normalize(features) @ head.T.
func goldenZeroShot(feat, head []float64, e int) []float64 {
	rows, classes := len(feat)/e, len(head)/e
	out := make([]float64, rows*classes)
	for i := 0; i < rows; i++ {
		f := feat[i*e : (i+1)*e]
		var n float64
		for _, v := range f {
			n += v * v
		}
		n = math.Max(math.Sqrt(n), 1e-12)
		for c := 0; c < classes; c++ {
			var dot float64
			for k, v := range f {
				dot += v * head[c*e+k]
			}
			out[i*classes+c] = dot / n
		}
	}
	return out
}

// goldenDistacLoss is T_tcr * T_stu * mean over rows of KL(softmax(zt/T_tcr) || softmax(zs/T_stu)).
func goldenDistacLoss(zt, zs []float64, classes int, tTcr, tStu float64) float64 {
	logSoftmax := func(z []float64, temp float64) []float64 {
		m := math.Inf(-1)
		for _, v := range z {
			m = math.Max(m, v/temp)
		}
		var s float64
		for _, v := range z {
			s += math.Exp(v/temp - m)
		}
		out := make([]float64, len(z))
		for i, v := range z {
			out[i] = v/temp - m - math.Log(s)
		}
		return out
	}
	rows := len(zt) / classes
	var total float64
	for r := 0; r < rows; r++ {
		lp := logSoftmax(zt[r*classes:(r+1)*classes], tTcr)
		lq := logSoftmax(zs[r*classes:(r+1)*classes], tStu)
		for i := range lp {
			total += math.Exp(lp[i]) * (lp[i] - lq[i])
		}
	}
	return tTcr * tStu * total / float64(rows)
}

func goldenMaxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}
