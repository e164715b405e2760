package main

import (
	"errors"
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
	mf := addModelFlags(fs)
	def := train.DefaultFinetuneOptions()
	headPath := fs.String("head", "", "frozen head (.safetensors with a \"head\" tensor)")
	dataSpec := fs.String("data", "", "labelled training images")
	maxImages := fs.Int("max-images", 0, "use a seeded stratified sample of this many images (0: all)")
	lr := fs.Float64("lr", def.LR, "peak learning rate")
	wd := fs.Float64("weight-decay", def.WeightDecay, "decoupled weight decay")
	steps := fs.Int("steps", def.Steps, "optimiser steps")
	batch := fs.Int("batch", def.Batch, "images per step")
	warmup := fs.Int("warmup", def.Warmup, "linear warm-up steps")
	ls := fs.Float64("label-smoothing", 0, "label smoothing epsilon in [0, 1]")
	mixup := fs.Float64("mixup", 0, "mixup alpha (Beta(alpha, alpha) weights); 0: off")
	clip := fs.Float64("clip", def.Clip, "global gradient-norm clip (0: none)")
	seed := fs.Uint64("seed", 0, "seed of the batch order and mixup")
	out := fs.String("out", "", "output checkpoint")
	dtype := fs.String("dtype", "", "output dtype: f32, f16, bf16 (default: the input's)")
	force := fs.Bool("force", false, "replace an existing output")
	quiet := fs.Bool("quiet", false, "no progress output")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if mf.path == "" || *headPath == "" || *dataSpec == "" || *out == "" {
		fs.Usage()
		return errors.New("--model, --head, --data and --out are required")
	}
	run, err := openModelHead(mf, *headPath, *dataSpec, *out, *force)
	if err != nil {
		return err
	}
	defer run.close()
	e, m, head := run.e, run.m, run.head
	s, err := loadSet(*dataSpec, m.cfg, *maxImages, *seed)
	if err != nil {
		return err
	}
	o := def
	o.LR, o.WeightDecay, o.Steps, o.Batch, o.Warmup = *lr, *wd, *steps, *batch, *warmup
	o.LabelSmoothing, o.Mixup, o.Clip, o.Seed = float32(*ls), *mixup, *clip, *seed
	bar := newStepBar("finetune", o.Steps, *quiet)
	o.Progress = func(_, _ int, loss float64) { bar.step(loss) }
	start := time.Now()
	p, losses, err := train.Finetune(e, m.enc, m.params, head, s, o)
	bar.finish()
	if err != nil {
		return err
	}
	meta := map[string]string{"distac.finetune": fmt.Sprintf("data=%s max_images=%d lr=%g weight_decay=%g warmup=%d steps=%d "+
		"batch=%d clip=%g label_smoothing=%g mixup=%g seed=%d",
		*dataSpec, *maxImages, *lr, *wd, *warmup, *steps, *batch, *clip, *ls, *mixup, *seed)}
	if err := model.SaveParams(e, m.cfg, p, *out, model.SaveOptions{Prefix: m.prefix, DType: *dtype, Like: m.ck,
		Meta: meta, Force: *force, Inputs: run.inputs}); err != nil {
		return err
	}
	fmt.Printf("fine-tuned %d steps in %.1f s: loss %.4g -> %.4g\nwrote %s\n", len(losses), time.Since(start).Seconds(),
		losses[0], losses[len(losses)-1], *out)
	return nil
}
