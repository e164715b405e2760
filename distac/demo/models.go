package demo

import (
	"context"
	"math/rand/v2"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
)

// smallViT is the demo's encoder: open_clip's ViT at MNIST scale.
const smallViT = `{"embed_dim": 32, "vision_cfg": {"image_size": 28, "patch_size": 7, "width": 64, "layers": 4, "heads": 4, "in_channels": 1}}`

// pretrainBase trains a randomly initialised encoder to predict which of
// four rotations an image shows (no class labels), with its own trainable
// 4-way head: the demo's stand-in for CLIP pre-training.
func pretrainBase(e model.Engine, enc model.Encoder, pool *data.Set, steps, batch int, lr float64, seed uint64, progress func(step, steps int, loss float64)) (*model.Params, error) {
	init, err := model.Init(e, enc.Layout(), seed)
	if err != nil {
		return nil, err
	}
	defer init.Free(e)
	rot, err := rotations(pool)
	if err != nil {
		return nil, err
	}
	dim := enc.Config().EmbedDim
	rng := rand.New(rand.NewPCG(seed, 0x726f74))
	w := make([]float32, 4*dim)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	head, err := model.NewHead(e, w, 4, dim)
	if err != nil {
		return nil, err
	}
	defer head.Free(e)
	o := train.DefaultFinetuneOptions()
	o.Steps, o.Batch, o.LR, o.Seed, o.Warmup = steps, batch, lr, seed, steps/10
	o.TrainHead, o.HeadLR, o.Progress = true, 10*lr, progress
	p, _, err := train.Finetune(context.Background(), e, enc, init, head, rot, o)
	return p, err
}
