package bench

// BenchmarkDistacStep times one whole DisTaC step — teacher forward, student
// forward and backward, fused KL loss, anchored and clipped Adam — on the
// small ViT of the golden tests at batch 128 and on ViT-B/32 shapes at batch
// 8 and 128 (the paper's), random weights, and reports images/s. bench/peers/compare_step.sh runs
// the same step in PyTorch with the same thread count and prints the ratio.
// The impl avx512-bf16 is the avx512 path with --precision bf16 (bf16 GEMM
// operands, fp32 sums; its PyTorch peer runs under torch.autocast bfloat16).

import (
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
)

var stepShapes = []struct {
	name    string
	config  string
	classes int
	batch   int
}{
	{"vit-small-b128", `{"embed_dim": 32, "vision_cfg": {"image_size": 28, "patch_size": 7, "width": 64, "layers": 4, "heads": 4, "in_channels": 1}}`, 10, 128},
	{"vit-b32-b8", `{"embed_dim": 512, "quick_gelu": true, "vision_cfg": {"image_size": 224, "patch_size": 32, "width": 768, "layers": 12, "heads": 12}}`, 8, 8},
	// The paper's batch (about 16 s a step on two cores).
	{"vit-b32-b128", `{"embed_dim": 512, "quick_gelu": true, "vision_cfg": {"image_size": 224, "patch_size": 32, "width": 768, "layers": 12, "heads": 12}}`, 8, 128},
}

func BenchmarkDistacStep(b *testing.B) {
	for _, sh := range stepShapes {
		for _, impl := range cpuImpls() {
			if impl == "ref" || (impl == "scalar" && sh.name != "vit-small-b128") {
				continue // minutes per step at ViT-B/32
			}
			b.Run(sh.name+"/"+impl, func(b *testing.B) {
				benchDistacStep(b, impl, model.F32, sh.config, sh.classes, sh.batch)
			})
			if impl == "avx512" {
				b.Run(sh.name+"/avx512-bf16", func(b *testing.B) {
					benchDistacStep(b, impl, model.BF16, sh.config, sh.classes, sh.batch)
				})
			}
		}
	}
}

func benchDistacStep(b *testing.B, impl string, prec model.Precision, config string, classes, batch int) {
	cfg, err := model.ParseConfig([]byte(config))
	if err != nil {
		b.Fatal(err)
	}
	e, err := model.AsEngine(openBackend(b, impl))
	if err != nil {
		b.Fatal(err)
	}
	enc := model.New(cfg)
	l := enc.Layout()
	teacher, err := model.Init(e, l, 1)
	if err != nil {
		b.Fatal(err)
	}
	student, err := model.Init(e, l, 2)
	if err != nil {
		b.Fatal(err)
	}
	init, err := student.Copy(e)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	w := make([]float32, classes*cfg.EmbedDim)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	head, err := model.NewHead(e, w, classes, cfg.EmbedDim)
	if err != nil {
		b.Fatal(err)
	}
	ch, h, wd := cfg.Input()
	images := make([]float32, batch*ch*h*wd)
	for i := range images {
		images[i] = float32(rng.NormFloat64())
	}
	o := train.DefaultConditionOptions()
	o.Anchor = 0.01
	o.Precision = prec
	d, err := train.NewDistiller(e, enc, teacher, student, init, head, batch, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		d.Free()
		for _, p := range []*model.Params{teacher, student, init} {
			p.Free(e)
		}
		head.Free(e)
	})
	if _, err := d.Step(images, batch, 1e-5); err != nil { // warm caches and page in the workspaces
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Step(images, batch, 1e-5); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}
