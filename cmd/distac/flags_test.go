package main

import (
	"strings"
	"testing"
)

// Every numeric flag is checked when it is parsed, before any file is
// opened: NaN, infinities and values outside the flag's range are errors
// naming the flag, and so is an output dtype the writers do not have.
func TestFlagValuesChecked(t *testing.T) {
	cmds := map[string]func([]string) error{
		"condition": runCondition, "finetune": runFinetune, "predict": runPredict, "eval": runEval,
		"head": runHead, "diagnose": runDiagnose, "merge": runMerge, "hw": runHW, "demo": runDemo,
	}
	for _, c := range []struct{ cmd, flag, value string }{
		{"condition", "kappa", "NaN"}, {"condition", "target-norm", "NaN"}, {"condition", "target-norm", "-1"},
		{"condition", "warmup", "-1"}, {"condition", "parallel-tasks", "-1"}, {"condition", "clip", "-1"},
		{"condition", "t-tcr", "0"}, {"condition", "steps", "0"}, {"condition", "dtype", "f64"},
		{"condition", "max-images", "-1"}, {"condition", "threads", "-1"},
		{"finetune", "mixup", "NaN"}, {"finetune", "weight-decay", "NaN"}, {"finetune", "weight-decay", "-1"},
		{"finetune", "clip", "-1"}, {"finetune", "warmup", "-1"}, {"finetune", "max-images", "-1"},
		{"finetune", "threads", "-1"}, {"finetune", "label-smoothing", "1.5"}, {"finetune", "dtype", "f64"},
		{"finetune", "lr", "Inf"},
		{"predict", "batch", "0"}, {"predict", "batch", "-5"}, {"eval", "batch", "0"}, {"eval", "max-images", "-1"},
		{"head", "scale", "0"}, {"head", "scale", "-20"}, {"head", "max-images", "-1"},
		{"diagnose", "warn-ratio", "-1"}, {"diagnose", "warn-ratio", "NaN"}, {"diagnose", "threads", "-1"},
		{"merge", "threads", "-1"}, {"merge", "chunk", "-1"}, {"merge", "alpha", "NaN"}, {"merge", "dtype", "int8"},
		{"hw", "threads", "-1"}, {"demo", "steps", "-1"}, {"condition", "precision", "fp16"}, {"demo", "precision", "f16"},
	} {
		dir := t.TempDir()
		err := cmds[c.cmd]([]string{"-" + c.flag, c.value, "--out", dir + "/x.safetensors"})
		if err == nil || !strings.Contains(err.Error(), "-"+c.flag) || !strings.Contains(err.Error(), "invalid value") {
			t.Errorf("%s -%s %s: %v", c.cmd, c.flag, c.value, err)
		}
		if ents := listDir(t, dir); len(ents) != 0 {
			t.Errorf("%s -%s %s wrote %v", c.cmd, c.flag, c.value, ents)
		}
	}
}
