package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

// engines returns the reference backend and every CPU path this machine runs.
func engines(t *testing.T) []Engine {
	t.Helper()
	var out []Engine
	for _, be := range testutil.Backends(t) {
		e, err := AsEngine(be)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func tinyViT(quick bool) *Config {
	c, err := ParseConfig([]byte(fmt.Sprintf(`{"embed_dim": 6, "quick_gelu": %v,
		"vision_cfg": {"image_size": 8, "patch_size": 4, "width": 8, "layers": 2, "heads": 2, "in_channels": 2}}`, quick)))
	if err != nil {
		panic(err)
	}
	return c
}

func tinyMLP() *Config {
	c, err := ParseConfig([]byte(`{"embed_dim": 5, "mlp_cfg": {"in_features": 18, "hidden": [7, 6], "in_channels": 2, "image_size": 3}}`))
	if err != nil {
		panic(err)
	}
	return c
}

// randomParams initialises p's layout and then perturbs every tensor
// (LayerNorm weights and biases included) so every gradient term matters.
func randomParams(t *testing.T, e Engine, l *Layout, seed uint64) *Params {
	t.Helper()
	p, err := Init(e, l, seed)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ffi.ReadF32(e, p.All())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, s := range l.Specs {
		for i := s.Off; i < s.Off+s.N; i++ {
			v[i] += float32(0.2 * rng.NormFloat64())
		}
	}
	if err := e.Upload(p.All(), ffi.F32Bytes(v)); err != nil {
		t.Fatal(err)
	}
	return p
}

func randn(rng *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64() * scale)
	}
	return out
}

// klSetup is a student net under a head with fixed teacher logits: the
// DisTaC loss as a function of the student's parameters.
type klSetup struct {
	e      Engine
	net    *Net
	images []float32
	n      int
	zt     ffi.Buffer
	dz     ffi.Buffer
	tt, ts float32
}

func newKLSetup(t *testing.T, e Engine, c *Config, n int, seed uint64) *klSetup {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	classes := 4
	head, err := NewHead(e, randn(rng, classes*c.EmbedDim, 3), classes, c.EmbedDim)
	if err != nil {
		t.Fatal(err)
	}
	net, err := NewNet(e, New(c), head, n, true)
	if err != nil {
		t.Fatal(err)
	}
	ch, h, w := c.Input()
	s := &klSetup{e: e, net: net, images: randn(rng, n*ch*h*w, 1), n: n, tt: 2, ts: 3}
	if s.zt, err = ffi.NewF32(e, randn(rng, n*classes, 2)); err != nil {
		t.Fatal(err)
	}
	if s.dz, err = e.Alloc(ffi.F32, n*classes); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { net.Free(); head.Free(e); e.Free(s.zt); e.Free(s.dz) })
	return s
}

func (s *klSetup) loss(t *testing.T, p *Params, grads *Params) float64 {
	t.Helper()
	classes := s.net.Head.Classes
	z, err := s.net.Forward(p, s.images, s.n)
	if err != nil {
		t.Fatal(err)
	}
	var dz ffi.Mat
	if grads != nil {
		dz = ffi.Mat{Buf: s.dz, LD: classes}
	}
	l, err := s.e.KLDistill(s.n, classes, ffi.Mat{Buf: s.zt, LD: classes}, z, s.tt, s.ts, dz)
	if err != nil {
		t.Fatal(err)
	}
	if grads != nil {
		if err := s.e.Zero(grads.All()); err != nil {
			t.Fatal(err)
		}
		if err := s.net.Backward(p, grads, dz, ffi.Mat{}); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// TestGradientsFiniteDifference checks every parameter tensor's gradient
// against a central difference of the loss along a random direction in that
// tensor: a missing or mis-wired term in any layer's backward shows up as an
// O(1) relative error, fp32 noise as ~1e-3.
func TestGradientsFiniteDifference(t *testing.T) {
	noProj, err := ParseConfig([]byte(tinyVisionModel))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]*Config{"vit-gelu": tinyViT(false), "vit-quickgelu": tinyViT(true), "vit-noproj": noProj, "mlp": tinyMLP()}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			be, err := ffi.Open("ref", 1)
			if err != nil {
				t.Fatal(err)
			}
			e, _ := AsEngine(be)
			s := newKLSetup(t, e, c, 3, 1)
			l := LayoutOf(c)
			p := randomParams(t, e, l, 2)
			g, _ := NewParams(e, l)
			s.loss(t, p, g)
			gv, _ := ffi.ReadF32(e, g.All())
			pv, _ := ffi.ReadF32(e, p.All())
			rng := rand.New(rand.NewPCG(3, 3))
			for _, spec := range l.Specs {
				dir := randn(rng, spec.N, 1)
				unit := float32(1 / math.Sqrt(float64(len(dir))))
				for i := range dir {
					dir[i] *= unit
				}
				var want float64
				for i, d := range dir {
					want += float64(d) * float64(gv[spec.Off+i])
				}
				const h = 1e-2
				shift := func(sign float64) float64 {
					q := append([]float32(nil), pv...)
					for i, d := range dir {
						q[spec.Off+i] += float32(sign * h * float64(d))
					}
					if err := e.Upload(p.All(), ffi.F32Bytes(q)); err != nil {
						t.Fatal(err)
					}
					return s.loss(t, p, nil)
				}
				got := (shift(1) - shift(-1)) / (2 * h)
				if err := math.Abs(got-want) / math.Max(math.Abs(want), 1e-3); !(err < 2e-2) {
					t.Errorf("%s: directional derivative %.6g, backward gives %.6g (rel err %.2g)", spec.Name, got, want, err)
				}
			}
			if err := e.Upload(p.All(), ffi.F32Bytes(pv)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBackendsAgree runs the same forward and backward on every engine and
// compares logits and gradients with the reference backend's.
func TestBackendsAgree(t *testing.T) {
	for name, c := range map[string]*Config{"vit": tinyViT(false), "mlp": tinyMLP()} {
		t.Run(name, func(t *testing.T) {
			var refLoss float64
			var refGrad []float32
			for _, e := range engines(t) {
				s := newKLSetup(t, e, c, 5, 4)
				p := randomParams(t, e, LayoutOf(c), 5)
				g, _ := NewParams(e, p.Layout)
				l := s.loss(t, p, g)
				gv, _ := ffi.ReadF32(e, g.All())
				if e.Name() == "ref" {
					refLoss, refGrad = l, gv
					continue
				}
				if math.Abs(l-refLoss) > 1e-5*math.Abs(refLoss) {
					t.Errorf("%s: loss %v, ref %v", e.Name(), l, refLoss)
				}
				if d := testutil.ApproxDiff(refGrad, gv, 1e-5); d != "" {
					t.Errorf("%s: gradients differ from ref (-ref +got):\n%s", e.Name(), d)
				}
			}
		})
	}
}

// TestInferenceMatchesTraining: the inference workspace (one layer's
// buffers, the stream updated in place) computes the same features, and a
// batch smaller than the workspace gives the same rows as a full one.
func TestInferenceMatchesTraining(t *testing.T) {
	c := tinyViT(true)
	for _, e := range engines(t) {
		enc := New(c)
		p := randomParams(t, e, enc.Layout(), 9)
		rng := rand.New(rand.NewPCG(1, 2))
		ch, h, w := c.Input()
		imgs := randn(rng, 4*ch*h*w, 1)
		feats := func(train bool, capacity, n int) []float32 {
			ws, err := enc.NewWorkspace(e, capacity, train)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Free()
			if err := ws.SetInput(imgs[:n*ch*h*w], n); err != nil {
				t.Fatal(err)
			}
			f, err := ws.Forward(p)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := ffi.ReadF32(e, ffi.Vec{Buf: f.Buf, Off: f.Off, N: n * c.EmbedDim})
			return out
		}
		tr, inf, short := feats(true, 4, 4), feats(false, 4, 4), feats(false, 8, 3)
		if d := cmp.Diff(tr, inf); d != "" {
			t.Errorf("%s: inference features differ from training ones (-train +inference):\n%s", e.Name(), d)
		}
		if d := testutil.ApproxDiff(tr[:3*c.EmbedDim], short, 1e-6); d != "" {
			t.Errorf("%s: a short batch differs (-full +short):\n%s", e.Name(), d)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	bad := map[string]string{
		`{"embed_dim": 4}`: "exactly one of",
		`{"embed_dim": 4, "vision_cfg": {"image_size": 10, "patch_size": 4, "width": 8, "layers": 1, "heads": 2}}`: "multiple of patch_size",
		`{"embed_dim": 4, "vision_cfg": {"image_size": 8, "patch_size": 4, "width": 8, "layers": 1, "heads": 3}}`:  "divisible",
		`{"embed_dim": 0, "mlp_cfg": {"in_features": 4, "hidden": []}}`:                                            "embed_dim",
		`{"embed_dim": 4, "mlp_cfg": {"in_features": 5, "hidden": [3]}}`:                                           "in_features",
		`{"embed_dim": 4, "mlp_cfg": {"in_features": 4, "hidden": [3], "activation": "relu"}}`:                     "activation",
		`{"embed_dim": 4, "vision_cfg": 3}`:                                                                        "model config",
	}
	for js, want := range bad {
		_, err := ParseConfig([]byte(js))
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to mention %q", js, err, want)
		}
	}
	c, err := ParseConfig([]byte(`{"embed_dim": 512, "vision_cfg": {"image_size": 224, "patch_size": 32, "width": 768, "layers": 12}}`))
	if err != nil || c.Vision.Heads != 12 || c.Vision.InChannels != 3 || c.Vision.MLPRatio != 4 {
		t.Fatalf("open_clip ViT-B-32 defaults: %+v, %v", c.Vision, err)
	}
	specs := VisionLayout(c).Specs
	if len(specs) != 5+12*12+3 {
		t.Fatalf("ViT-B/32 has %d parameter tensors", len(specs))
	}
	total := 0
	for _, s := range specs {
		total += s.N
	}
	if total != 87849216 { // open_clip ViT-B-32 visual tower
		t.Fatalf("ViT-B/32 has %d parameters, want 87849216", total)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
