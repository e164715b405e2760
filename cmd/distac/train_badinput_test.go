package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/distac/distac/distac/data"
)

// Every bad input stops the command with a message that names the problem,
// and leaves the output directory as it was: no output, no temporary file.
func TestTrainingBadInput(t *testing.T) {
	w := newWorld(t, tinyMLP, "")
	dir := w.dir
	out := filepath.Join(dir, "out.safetensors")

	// A model of another shape, and a head on 4 features where the model makes 8.
	otherCfg := writeFile(t, dir, "other.json", `{"embed_dim": 8, "mlp_cfg": {"in_features": 64, "hidden": [12]}}`)
	other := filepath.Join(dir, "other.safetensors")
	mustRun(t, runInit, "--model-config", otherCfg, "--out", other)
	narrowCfg := writeFile(t, dir, "narrow.json", `{"embed_dim": 4, "mlp_cfg": {"in_features": 64, "hidden": [16]}}`)
	narrow := filepath.Join(dir, "narrow.safetensors")
	mustRun(t, runInit, "--model-config", narrowCfg, "--out", narrow)
	narrowHead := filepath.Join(dir, "narrow.head.safetensors")
	mustRun(t, runHead, "--model", narrow, "--data", w.trainA, "--out", narrowHead)
	// 6 x 6 images for an 8 x 8 model; labels 0..5 for a 4-class head.
	small := writeSet(t, dir, "small.safetensors", synthSet(24, 4, 1, 6, 6, 1, 1))
	sixClasses := writeSet(t, dir, "six.safetensors", synthSet(24, 6, 1, 8, 8, 1, 1))
	// A task whose name collides with a's under --out-dir.
	twin := filepath.Join(mkdir(t, filepath.Join(dir, "again")), "a.safetensors")
	mustRun(t, runFinetune, "--model", w.base, "--head", w.headA, "--data", w.trainA, "--out", twin, "--steps", "2", "--quiet")
	existing := writeFile(t, dir, "existing.safetensors", "keep me")

	cond := func(extra ...string) []string {
		return w.conditionArgs(append([]string{"--steps", "2", "--batch", "16", "--quiet"}, extra...)...)
	}
	ft := func(extra ...string) []string {
		return append([]string{"--model", w.base, "--steps", "2", "--batch", "16", "--quiet"}, extra...)
	}
	builtins := []string{"mnist", "fashion", "opencv-digits", "sklearn-digits"}

	cases := []struct {
		name  string
		fn    func([]string) error
		args  []string
		wants []string
	}{
		{"condition: missing task file", runCondition, []string{"--base", w.base, "--task", filepath.Join(dir, "nope.safetensors"),
			"--head", w.headA, "--data", w.trainA, "--out", out, "--quiet"}, []string{"nope.safetensors", "no such file"}},
		{"condition: task config differs", runCondition, []string{"--base", w.base, "--task", other, "--head", w.headA,
			"--data", w.trainA, "--out", out, "--quiet"}, []string{"other.safetensors", "config differs"}},
		{"condition: head embed dim differs", runCondition, []string{"--base", w.base, "--task", w.ftA, "--head", narrowHead,
			"--data", w.trainA, "--out", out, "--quiet"}, []string{"narrow.head.safetensors", "4 features", "embed_dim is 8"}},
		{"condition: image geometry differs", runCondition, []string{"--base", w.base, "--task", w.ftA, "--head", w.headA,
			"--data", small, "--out", out, "--quiet"}, []string{"small.safetensors", "1x6x6", "1x8x8"}},
		{"condition: --head 3 times for 2 tasks", runCondition, append(cond("--out-dir", dir), "--head", w.headA),
			[]string{"--head is given 3 times for 2 tasks"}},
		{"condition: --out count", runCondition, cond("--out", out), []string{"1 --out for 2 tasks"}},
		{"condition: --out and --out-dir", runCondition, cond("--out", out, "--out", out+"2", "--out-dir", dir), []string{"not both"}},
		{"condition: the same --out twice", runCondition, cond("--out", out, "--out", out), []string{"out.safetensors", "twice"}},
		{"condition: two --out naming one file", runCondition, cond("--out", out, "--out", dir+"/./out.safetensors"),
			[]string{"out.safetensors", "one file"}},
		{"condition: two tasks of one name under --out-dir", runCondition, []string{"--base", w.base, "--task", w.ftA,
			"--task", twin, "--head", w.headA, "--data", w.trainA, "--out-dir", dir, "--quiet"}, []string{"a.distac.safetensors", "--out per task"}},
		{"condition: existing output", runCondition, cond("--out", out, "--out", existing), []string{"existing.safetensors", "--force"}},
		{"condition: output is a task", runCondition, cond("--out", out, "--out", w.ftA, "--force"), []string{"a.safetensors", "is an input"}},
		{"condition: output is a head", runCondition, cond("--out", out, "--out", w.headB, "--force"), []string{"b.head.safetensors", "is an input"}},
		{"condition: output is the data", runCondition, cond("--out", out, "--out", w.trainB, "--force"), []string{"b-train.safetensors", "is an input"}},
		{"condition: unknown data", runCondition, []string{"--base", w.base, "--task", w.ftA, "--head", w.headA,
			"--data", "nosuchset", "--out", out, "--quiet"}, append([]string{"nosuchset"}, builtins...)},
		{"condition: unknown part", runCondition, []string{"--base", w.base, "--task", w.ftA, "--head", w.headA,
			"--data", "mnist:val", "--out", out, "--quiet"}, []string{"mnist:val", "train or test"}},
		{"finetune: labels outside the head's classes", runFinetune, ft("--head", w.headA, "--data", sixClasses, "--out", out),
			[]string{"label 4", "4 classes"}},
		{"finetune: head embed dim differs", runFinetune, ft("--head", narrowHead, "--data", w.trainA, "--out", out),
			[]string{"narrow.head.safetensors", "4 features", "embed_dim is 8"}},
		{"finetune: image geometry differs", runFinetune, ft("--head", w.headA, "--data", small, "--out", out),
			[]string{"small.safetensors", "1x6x6", "1x8x8"}},
		{"finetune: existing output", runFinetune, ft("--head", w.headA, "--data", w.trainA, "--out", existing),
			[]string{"existing.safetensors", "--force"}},
		{"finetune: output is the head", runFinetune, ft("--head", w.headA, "--data", w.trainA, "--out", w.headA, "--force"),
			[]string{"a.head.safetensors", "is an input"}},
		{"finetune: output is the data", runFinetune, ft("--head", w.headA, "--data", w.trainA, "--out", w.trainA, "--force"),
			[]string{"a-train.safetensors", "is an input"}},
		{"finetune: unknown data", runFinetune, ft("--head", w.headA, "--data", "nosuchset", "--out", out),
			append([]string{"nosuchset"}, builtins...)},
		{"init: existing output", runInit, []string{"--model-config", w.cfg, "--out", existing}, []string{"existing.safetensors", "--force"}},
		{"init: output is the config", runInit, []string{"--model-config", w.cfg, "--out", w.cfg, "--force"}, []string{"model.json", "is an input"}},
		{"head: output is the model", runHead, []string{"--model", w.base, "--data", w.trainA, "--out", w.base, "--force"},
			[]string{"base.safetensors", "is an input"}},
		{"head: existing output", runHead, []string{"--model", w.base, "--data", w.trainA, "--out", existing}, []string{"existing.safetensors", "--force"}},
		{"head: image geometry differs", runHead, []string{"--model", w.base, "--data", small, "--out", out}, []string{"1x6x6", "1x8x8"}},
		{"predict: head embed dim differs", runPredict, []string{"--model", w.base, "--head", narrowHead, "--data", w.testA, "--out", out},
			[]string{"narrow.head.safetensors", "4 features", "embed_dim is 8"}},
		{"predict: existing output", runPredict, []string{"--model", w.base, "--head", w.headA, "--data", w.testA, "--out", existing},
			[]string{"existing.safetensors", "--force"}},
		{"predict: existing CSV", runPredict, []string{"--model", w.base, "--head", w.headA, "--data", w.testA,
			"--out", writeFile(t, dir, "old.csv", "keep")}, []string{"old.csv", "--force"}},
		{"predict: output is the data", runPredict, []string{"--model", w.base, "--head", w.headA, "--data", w.testA,
			"--out", w.testA, "--force"}, []string{"a-test.safetensors", "is an input"}},
		{"predict: CSV in a missing directory", runPredict, []string{"--model", w.base, "--head", w.headA, "--data", w.testA,
			"--out", filepath.Join(dir, "nodir", "x.csv")}, []string{"nodir"}},
		{"eval: head embed dim differs", runEval, []string{"--model", w.base, "--head", narrowHead, "--data", w.testA},
			[]string{"narrow.head.safetensors", "4 features", "embed_dim is 8"}},
		{"eval: --ref-acc of zero", runEval, []string{"--model", w.base, "--head", w.headA, "--data", w.testA, "--ref-acc", "0"},
			[]string{"--ref-acc", "(0, 1]"}},
		{"eval: unlabelled data", runEval, []string{"--model", w.base, "--head", w.headA,
			"--data", writeSet(t, dir, "unlabelled.safetensors", unlabelled(synthSet(8, 4, 1, 8, 8, 1, 1)))}, []string{"unlabelled.safetensors", "no labels"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustFail(t, dir, c.fn, c.args, c.wants...)
			if b, err := os.ReadFile(existing); err != nil || string(b) != "keep me" {
				t.Fatalf("%s changed: %q, %v", existing, b, err)
			}
		})
	}
}

// unlabelled drops a set's labels.
func unlabelled(s *data.Set) *data.Set {
	s.Labels, s.Classes = nil, 0
	return s
}
