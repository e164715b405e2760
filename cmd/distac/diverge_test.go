package main

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/distac/distac/distac/train"
)

// A learning rate far too large makes the loss non-finite at a later step,
// or, at the edge of float32's range, the weights non-finite in the last
// step's update, where no later loss would show it. Both stop the command
// with the step named and nothing written; a rate past float32 is refused.
func TestTrainingDivergence(t *testing.T) {
	w := newWorld(t, tinyMLP, "")
	out := filepath.Join(w.dir, "out.safetensors")
	ft := func(lr, steps string) []string {
		return []string{"--model", w.base, "--head", w.headA, "--data", w.trainA, "--out", out, "--lr", lr, "--steps", steps,
			"--warmup", "0", "--batch", "16", "--quiet"}
	}
	cond := func(lr, steps string) []string {
		return w.conditionArgs("--out-dir", w.dir, "--lr", lr, "--steps", steps, "--batch", "16", "--quiet")
	}
	mustFail(t, w.dir, runFinetune, ft("1e30", "5"), "finetune step 2", "loss diverged")
	mustFail(t, w.dir, runFinetune, ft("3.4e38", "1"), "finetune step 1", "weights are not finite")
	mustFail(t, w.dir, runFinetune, ft("1e39", "1"), "learning rate 1e+39")
	// a has the shorter task vector: kappa 1, not distilled (nothing to diverge).
	mustFail(t, w.dir, runCondition, cond("1e30", "5"), "condition b: step 2", "loss diverged")
	mustFail(t, w.dir, runCondition, cond("3.4e38", "1"), "condition b: step 1", "weights are not finite")
	mustFail(t, w.dir, runCondition, cond("1e39", "1"), "learning rate 1e+39")
	// Divergence is a numerical failure a caller can tell apart (the C
	// API's code for it); a refused learning rate is not.
	for _, c := range []struct {
		fn        func([]string) error
		args      []string
		nonFinite bool
	}{
		{runFinetune, ft("1e30", "5"), true}, {runFinetune, ft("3.4e38", "1"), true},
		{runCondition, cond("1e30", "5"), true}, {runCondition, cond("1e39", "1"), false},
	} {
		if _, err := run(t, c.fn, c.args...); errors.Is(err, train.ErrNonFinite) != c.nonFinite {
			t.Errorf("%v: errors.Is(%v, train.ErrNonFinite) != %v", c.args, err, c.nonFinite)
		}
	}
}
