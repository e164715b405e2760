package train

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/distac/distac/distac/model"
)

// TestParseConditionConfig: every key lands where its flag would put it,
// unset keys keep the flags' defaults, paths are relative to the file but
// built-in sets are not paths, and the flags' rules hold.
func TestParseConditionConfig(t *testing.T) {
	text := `
base: base.safetensors
tasks: [ft/a.safetensors, /abs/b.safetensors]
heads: h.safetensors
data: [mnist, imgs/b]
eval: [fashion:test, b-test.safetensors]
out_dir: out
model_config: vit.json
prefix: ""
backend: ref
threads: 3
max_images: 100
max_pixels: 4096
dtype: bf16
force: true
kappa: 0.5
target_norm: 2
stretch: true
t_tcr: 2
t_stu: 4
beta: 0.1
lr: 1e-3
steps: 7
batch: 16
warmup: 3
clip: 0.5
parallel_tasks: 2
seed: 9
precision: bf16
`
	j, err := ParseConditionConfig([]byte(text), "/cfg")
	if err != nil {
		t.Fatal(err)
	}
	empty := ""
	o := DefaultConditionOptions()
	o.Kappa, o.TargetNorm, o.Stretch, o.TTcr, o.TStu, o.Anchor = 0.5, 2, true, 2, 4, 0.1
	o.LR, o.Steps, o.Batch, o.Warmup, o.Clip, o.Parallel, o.Seed = 1e-3, 7, 16, 3, 0.5, 2, 9
	o.Precision = model.BF16
	want := &ConditionJob{Base: "/cfg/base.safetensors", Tasks: []string{"/cfg/ft/a.safetensors", "/abs/b.safetensors"},
		Heads: []string{"/cfg/h.safetensors"}, Data: []string{"mnist", "/cfg/imgs/b"}, Eval: []string{"fashion:test", "/cfg/b-test.safetensors"},
		OutDir: "/cfg/out", ModelConfig: "/cfg/vit.json", Prefix: &empty, Backend: "ref", Threads: 3, MaxImages: 100, MaxPixels: 4096,
		DType: "bf16", Force: true, Options: o}
	if d := cmp.Diff(want, j, cmpopts.IgnoreFields(ConditionOptions{}, "NewEngine", "Progress"), cmpopts.IgnoreFields(ConditionJob{}, "Opened")); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}

	j, err = ParseConditionConfig([]byte(`{"base": "b", "tasks": ["t"], "heads": ["h"], "data": ["d"], "outs": ["o"], "confidence": true, "t_tcr": 3}`), "")
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConditionOptions()
	if j.Base != "b" || j.Outs[0] != "o" || j.Prefix != nil || j.Options.TTcr != 1 || j.Options.TStu != 10 ||
		j.Options.Steps != def.Steps || j.Options.LR != def.LR || j.Options.Batch != def.Batch || j.Options.Warmup != 0 {
		t.Errorf("JSON with defaults, no directory: %+v", j)
	}
	if j, err := LoadConditionConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Errorf("a missing file gave %+v", j)
	}

	for bad, want := range map[string]string{
		"steps: 0\n":         "steps: 0, want an integer >= 1",
		"lr: 0\n":            "lr: 0, want a finite number > 0",
		"t_stu: .inf\n":      "t_stu: +Inf, want a finite number > 0",
		"kappa: -1\n":        "kappa: -1, want a finite number >= 0",
		"beta: .nan\n":       "beta: NaN",
		"t_tcr: 1e39\n":      "t_tcr: 1e+39, want at most 3.4e+38",
		"t_stu: 1e-50\n":     "t_stu: 1e-50, want at least 1.4e-45",
		"threads: -2\n":      "threads: -2",
		"dtype: f64\n":       "dtype:",
		"precision: fp16\n":  `precision "fp16": want f32 or bf16`,
		"warmups: 3\n":       "warmups: unknown key (a condition config takes base, tasks,",
		"tasks: {a: b}\n":    "tasks:",
		"steps: 1\nsteps: 2": `key "steps" given twice`,
	} {
		if _, err := ParseConditionConfig([]byte(bad), ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", bad, err, want)
		}
	}
}
