package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// A model whose config records no preprocess_cfg is used with a warning
// that says so; one that records it, without.
func TestUnknownPreprocessingWarns(t *testing.T) {
	noPre := `{"embed_dim": 8, "mlp_cfg": {"in_features": 64, "hidden": [16]}}`
	for _, c := range []struct {
		cfg  string
		warn bool
	}{{noPre, true}, {tinyMLP, false}} {
		dir := t.TempDir()
		cfg := writeFile(t, dir, "model.json", c.cfg)
		base := filepath.Join(dir, "base.safetensors")
		mustRun(t, runInit, "--model-config", cfg, "--out", base)
		set := writeSet(t, dir, "a.safetensors", synthSet(16, 4, 1, 8, 8, 11, 1))
		errText, err := captureStderr(t, func() error {
			return runHead([]string{"--model", base, "--data", set, "--out", filepath.Join(dir, "h.safetensors")})
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(errText, "records no preprocess_cfg"); got != c.warn {
			t.Errorf("config %s: warning %v, want %v: %q", c.cfg, got, c.warn, errText)
		}
	}
}

// No wrong numbers written: an empty data set is an error for every
// command that reads one (eval printed 0% accuracy), a head of non-finite
// values is refused (a scale too large), and so are logits of a NaN model.
func TestNoNumbersFromNothing(t *testing.T) {
	w := newWorld(t, tinyMLP, "")
	empty := writeSet(t, w.dir, "empty.safetensors", synthSet(0, 4, 1, 8, 8, 1, 1))
	for _, c := range []struct {
		fn   func([]string) error
		args []string
	}{
		{runEval, []string{"--model", w.ftA, "--head", w.headA, "--data", empty}},
		{runPredict, []string{"--model", w.ftA, "--head", w.headA, "--data", empty, "--out", filepath.Join(w.dir, "p.csv")}},
		{runHead, []string{"--model", w.base, "--data", empty, "--out", filepath.Join(w.dir, "h.safetensors")}},
	} {
		mustFail(t, w.dir, c.fn, c.args, "holds no images")
	}
	mustFail(t, w.dir, runHead, []string{"--model", w.base, "--data", w.trainA, "--scale", "1e40",
		"--out", filepath.Join(w.dir, "h.safetensors")}, "Inf (a model of non-finite weights")
	// A model whose weights are NaN: its logits are refused.
	nan := filepath.Join(w.dir, "nan.safetensors")
	cfg, vals := loadValues(t, w.ftA)
	for i := range vals {
		vals[i] = float32(math.NaN())
	}
	saveValues(t, nan, cfg, vals)
	mustFail(t, w.dir, runPredict, []string{"--model", nan, "--head", w.headA, "--data", w.testA,
		"--out", filepath.Join(w.dir, "p.csv")}, "non-finite")
	mustFail(t, w.dir, runEval, []string{"--model", nan, "--head", w.headA, "--data", w.testA}, "non-finite")
}
