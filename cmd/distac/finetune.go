package main

import (
	"context"
	"fmt"
	"time"

	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
)

func init() {
	register("finetune", "fine-tune an encoder on labelled images under a frozen head", runFinetune)
}

const finetuneUsage = `usage: distac finetune --model base.safetensors --head head.safetensors --data SET --out ft.safetensors [flags]

Trains every encoder parameter with cross-entropy under the frozen head
(AdamW, linear warm-up then cosine decay, global-norm clipping). Label
smoothing and mixup make under-confident models; a larger learning rate or
more steps make long task vectors: the two failure modes DisTaC fixes.

flags:
`

func runFinetune(args []string) error {
	fs := newFlagSet("finetune", finetuneUsage)
	mh := addModelHeadFlags(fs, "labelled training images", "output checkpoint")
	def := train.DefaultFinetuneOptions()
	lr := floatFlag(fs, "lr", def.LR, positive, "peak learning rate")
	wd := floatFlag(fs, "weight-decay", def.WeightDecay, nonNegative, "decoupled weight decay")
	steps := intFlag(fs, "steps", def.Steps, 1, "optimiser steps")
	batch := intFlag(fs, "batch", def.Batch, 1, "images per step")
	warmup := intFlag(fs, "warmup", def.Warmup, 0, "linear warm-up steps")
	ls := floatFlag(fs, "label-smoothing", 0, unit, "label smoothing epsilon in [0, 1]")
	mixup := floatFlag(fs, "mixup", 0, nonNegative, "mixup alpha (Beta(alpha, alpha) weights); 0: off")
	clip := floatFlag(fs, "clip", def.Clip, nonNegative, "global gradient-norm clip (0: none)")
	seed := fs.Uint64("seed", 0, "seed of the batch order and mixup")
	dtype := dtypeFlag(fs, "output dtype: f32, f16, bf16 (default: the input's)")
	quiet := addQuietFlag(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	run, err := mh.open(fs, *seed)
	if err != nil {
		return err
	}
	defer run.close()
	e, m, head, s := run.e, run.m, run.head, run.set
	o := def
	o.LR, o.WeightDecay, o.Steps, o.Batch, o.Warmup = *lr, *wd, *steps, *batch, *warmup
	o.LabelSmoothing, o.Mixup, o.Clip, o.Seed = float32(*ls), *mixup, *clip, *seed
	bar := newStepBar("finetune", o.Steps, *quiet)
	o.Progress = func(_, _ int, loss float64) { bar.step(loss) }
	start := time.Now()
	p, losses, err := train.Finetune(context.Background(), e, m.Encoder, m.Params, head, s, o)
	bar.finish()
	if err != nil {
		return err
	}
	meta := map[string]string{"distac.finetune": fmt.Sprintf("data=%s max_images=%d lr=%g weight_decay=%g warmup=%d steps=%d "+
		"batch=%d clip=%g label_smoothing=%g mixup=%g seed=%d",
		*mh.data, *mh.maxImages, *lr, *wd, *warmup, *steps, *batch, *clip, *ls, *mixup, *seed)}
	if err := model.SaveParams(e, m.Config, p, *mh.out, model.SaveOptions{Prefix: m.Prefix, Naming: m.Naming.Kind, DType: *dtype, Like: m.Checkpoint,
		Meta: meta, Force: *mh.force, Inputs: run.inputs}); err != nil {
		return err
	}
	fmt.Printf("fine-tuned %d steps in %.1f s: loss %.4g -> %.4g\nwrote %s\n", len(losses), time.Since(start).Seconds(),
		losses[0], losses[len(losses)-1], *mh.out)
	return nil
}
