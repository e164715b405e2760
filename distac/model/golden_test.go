package model

// The engine against PyTorch: golden files from scripts/golden/model_golden.py
// (float64 torch from the stored float32 inputs) hold a student, a teacher,
// a head and images; the engine's logits, features, KL loss and every
// parameter gradient must match them to 1e-4 relative (||got - want|| /
// ||want|| per tensor) on every backend.

import (
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/testutil"
)

const goldenTol = 1e-4

// openGolden opens a golden file and its config.
func openGolden(t *testing.T, name string) (*checkpoint.Checkpoint, *Config) {
	t.Helper()
	ck := testutil.Open(t, filepath.Join("testdata", name+".safetensors"))
	cfg, err := ParseConfig([]byte(ck.Files[0].Metadata["config"]))
	if err != nil {
		t.Fatal(err)
	}
	return ck, cfg
}

func goldenF32(t *testing.T, ck *checkpoint.Checkpoint, name string) []float32 {
	return testutil.F32(t, ck, name)
}

func goldenMeta(t *testing.T, ck *checkpoint.Checkpoint, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(ck.Files[0].Metadata[key], 64)
	if err != nil {
		t.Fatalf("golden metadata %s: %v", key, err)
	}
	return v
}

func TestGoldenForwardBackward(t *testing.T) {
	for _, name := range []string{"vit_golden", "vit_quick_golden", "mlp_golden"} {
		t.Run(name, func(t *testing.T) {
			ck, cfg := openGolden(t, name)
			for _, e := range engines(t) {
				checkGolden(t, e, ck, cfg)
			}
		})
	}
}

func checkGolden(t *testing.T, e Engine, ck *checkpoint.Checkpoint, cfg *Config) {
	enc := New(cfg)
	l := enc.Layout()
	student, err := LoadParams(e, ck, l, "student.")
	if err != nil {
		t.Fatal(err)
	}
	teacher, err := LoadParams(e, ck, l, "teacher.")
	if err != nil {
		t.Fatal(err)
	}
	defer student.Free(e)
	defer teacher.Free(e)
	hw := goldenF32(t, ck, "head")
	classes := int(goldenMeta(t, ck, "classes"))
	head, err := NewHead(e, hw, classes, cfg.EmbedDim)
	if err != nil {
		t.Fatal(err)
	}
	defer head.Free(e)
	images := goldenF32(t, ck, "images")
	n := int(goldenMeta(t, ck, "batch"))
	tnet, err := NewNet(e, enc, head, n, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tnet.Free()
	snet, err := NewNet(e, enc, head, n, true)
	if err != nil {
		t.Fatal(err)
	}
	defer snet.Free()
	read := func(m ffi.Mat, k int) []float32 {
		v, err := ffi.ReadF32(e, ffi.Vec{Buf: m.Buf, Off: m.Off, N: k})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	zt, err := tnet.Forward(teacher, images, n)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, e.Name()+" logits.teacher", read(zt, n*classes), goldenF32(t, ck, "logits.teacher"))
	zs, err := snet.Forward(student, images, n)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, e.Name()+" logits.student", read(zs, n*classes), goldenF32(t, ck, "logits.student"))
	// The features before normalisation come from the encoder's own output.
	feat, err := snet.WS.Forward(student)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, e.Name()+" features.student", read(feat, n*cfg.EmbedDim), goldenF32(t, ck, "features.student"))

	dzBuf, _ := e.Alloc(ffi.F32, n*classes)
	defer e.Free(dzBuf)
	dz := ffi.Mat{Buf: dzBuf, LD: classes}
	loss, err := e.KLDistill(n, classes, zt, zs, float32(goldenMeta(t, ck, "t_tcr")), float32(goldenMeta(t, ck, "t_stu")), dz)
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(goldenF32(t, ck, "loss")[0]); math.Abs(loss-want) > goldenTol*math.Abs(want) {
		t.Errorf("%s: loss %.8g, torch %.8g", e.Name(), loss, want)
	}
	g, _ := NewParams(e, l)
	defer g.Free(e)
	if err := snet.Backward(student, g, dz, ffi.Mat{}); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, s := range l.Specs {
		got, _ := ffi.ReadF32(e, g.Vec(s.Name))
		worst = math.Max(worst, expect(t, e.Name()+" grad."+s.Name, got, goldenF32(t, ck, "grad."+s.Name)))
	}
	t.Logf("%s: worst gradient error %.2g over %d tensors", e.Name(), worst, len(l.Specs))
}

// expect fails when ||got - want|| / ||want|| exceeds goldenTol, and
// returns that error.
func expect(t *testing.T, what string, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, torch has %d", what, len(got), len(want))
	}
	var num, den float64
	for i := range got {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	err := math.Sqrt(num / math.Max(den, 1e-300))
	if !(err <= goldenTol) {
		t.Errorf("%s: relative error %.3g against torch (bound %g)", what, err, goldenTol)
	}
	return err
}
