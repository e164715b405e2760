package train

// Six whole DisTaC steps (teacher forward, student forward/backward, KL,
// anchor, clip, warm-up, Adam) against the float64 PyTorch run of
// scripts/golden/model_golden.py: the loss and the anchored gradient norm of
// every step, and the update final - init of every parameter.

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/testutil"
)

func engines(t *testing.T) []model.Engine {
	t.Helper()
	var out []model.Engine
	for _, be := range testutil.Backends(t) {
		e, err := model.AsEngine(be)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func f32Tensor(t *testing.T, ck *checkpoint.Checkpoint, name string) []float32 {
	return testutil.F32(t, ck, name)
}

func TestGoldenDistacSteps(t *testing.T) {
	ck := testutil.Open(t, filepath.Join("..", "model", "testdata", "vit_steps_golden.safetensors"))
	md := ck.Files[0].Metadata
	meta := func(k string) float64 {
		v, err := strconv.ParseFloat(md[k], 64)
		if err != nil {
			t.Fatalf("metadata %s: %v", k, err)
		}
		return v
	}
	cfg, err := model.ParseConfig([]byte(md["config"]))
	if err != nil {
		t.Fatal(err)
	}
	enc := model.New(cfg)
	steps, n, classes := int(meta("steps")), int(meta("batch")), int(meta("classes"))
	o := DefaultConditionOptions()
	o.TTcr, o.TStu, o.Anchor, o.Clip = float32(meta("t_tcr")), float32(meta("t_stu")), float32(meta("beta")), meta("clip")
	sched := Schedule{LR: meta("lr"), Warmup: int(meta("warmup")), Steps: steps}
	wantLoss, wantNorm := f32Tensor(t, ck, "loss_per_step"), f32Tensor(t, ck, "grad_norm_per_step")
	images := f32Tensor(t, ck, "images")
	for _, e := range engines(t) {
		t.Run(e.Name(), func(t *testing.T) {
			student, err := model.LoadParams(e, ck, enc.Layout(), "init.")
			if err != nil {
				t.Fatal(err)
			}
			init, _ := student.Copy(e)
			teacher, err := model.LoadParams(e, ck, enc.Layout(), "teacher.")
			if err != nil {
				t.Fatal(err)
			}
			head, err := model.NewHead(e, f32Tensor(t, ck, "head"), classes, cfg.EmbedDim)
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDistiller(e, enc, teacher, student, init, head, n, o)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Free()
			for s := 1; s <= steps; s++ {
				loss, err := d.Step(images, n, sched.At(s))
				if err != nil {
					t.Fatal(err)
				}
				// Step 1 starts next to the teacher: its KL (1e-4) is a
				// difference of nearly equal fp32 logits, hence the absolute term.
				if w := float64(wantLoss[s-1]); math.Abs(loss-w) > 1e-3*w+1e-6 {
					t.Errorf("step %d: loss %.6g, torch %.6g", s, loss, w)
				}
				if w := float64(wantNorm[s-1]); math.Abs(d.GradNorm-w) > 1e-3*w {
					t.Errorf("step %d: gradient norm %.6g, torch %.6g", s, d.GradNorm, w)
				}
			}
			checkUpdate(t, e, ck, student, cfg.Vision.Width, sched.LR)
		})
	}
}

// checkUpdate compares final - init with torch's. The keys' bias
// (in_proj_bias[width:2*width]) has a zero gradient in exact arithmetic, and
// Adam turns rounding noise there into moves of up to lr per step: it gets
// an absolute bound instead (see the file's f32_note).
func checkUpdate(t *testing.T, e model.Engine, ck *checkpoint.Checkpoint, p *model.Params, width int, lr float64) {
	var num, den float64
	for _, s := range p.Layout.Specs {
		got, _ := ffi.ReadF32(e, p.Vec(s.Name))
		init, final := f32Tensor(t, ck, "init."+s.Name), f32Tensor(t, ck, "final."+s.Name)
		for i := range got {
			dg, dw := float64(got[i])-float64(init[i]), float64(final[i])-float64(init[i])
			if isKeyBias(s.Name, i, width) {
				if math.Abs(dg-dw) > 6*lr {
					t.Errorf("%s[%d]: moved %.3g, torch %.3g", s.Name, i, dg, dw)
				}
				continue
			}
			num += (dg - dw) * (dg - dw)
			den += dw * dw
		}
	}
	rel := math.Sqrt(num / den)
	t.Logf("update final - init: relative error %.3g against torch float64", rel)
	if !(rel < 1e-3) {
		t.Errorf("update differs from torch by %.3g relative", rel)
	}
}

func isKeyBias(name string, i, width int) bool {
	for l := 0; ; l++ {
		b := fmt.Sprintf("transformer.resblocks.%d.attn.in_proj_bias", l)
		if name == b {
			return i >= width && i < 2*width
		}
		if l > 64 {
			return false
		}
	}
}
