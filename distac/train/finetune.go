package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/errmark"
)

// FinetuneOptions configure supervised training of an encoder under a head.
// Label smoothing and mixup are there to make under-confident models on
// purpose, a higher learning rate or more steps to make long task vectors.
type FinetuneOptions struct {
	LR, WeightDecay float64 // AdamW: decoupled weight decay
	Steps, Batch    int
	Warmup          int  // linear warm-up steps
	Cosine          bool // cosine decay toward zero after the warm-up (Schedule)
	LabelSmoothing  float32
	Mixup           float64 // alpha of the Beta(alpha, alpha) mixing weight; 0: off
	Clip            float64 // global gradient-norm clip; <= 0: none
	Seed            uint64
	// TrainHead trains the head's weights too (pre-training with a task
	// head, e.g. rotation prediction), with learning rate HeadLR (0: LR).
	TrainHead bool
	HeadLR    float64
	Augment   func(rng *rand.Rand, img []float32) // optional, per image (on a copy, by the loader)
	Progress  func(step, steps int, loss float64)
}

// ErrCancelled is wrapped by the error of a Finetune or Condition stopped
// by its context.
var ErrCancelled = errors.New("cancelled")

// ErrNonFinite is wrapped by the error for a NaN or an infinity where
// training needs numbers: a diverged loss, weights that turned non-finite,
// logits that are not finite.
var ErrNonFinite = errors.New("not finite")

// DefaultFinetuneOptions are settings that train distac's small ViT well.
func DefaultFinetuneOptions() FinetuneOptions {
	return FinetuneOptions{LR: 1e-3, WeightDecay: 0.1, Steps: 500, Batch: 128, Warmup: 50, Cosine: true, Clip: 1}
}

// Finetune trains a copy of init on the labelled set under head and returns
// it with the loss of every step. With TrainHead, head's weights are
// updated in place. Cancelling ctx stops it between steps with an error
// wrapping ErrCancelled.
func Finetune(ctx context.Context, e model.Engine, enc model.Encoder, init *model.Params, head *model.Head, set *data.Set, o FinetuneOptions) (*model.Params, []float64, error) {
	if set.Labels == nil {
		return nil, nil, fmt.Errorf("finetune: %s has no labels", set.Name)
	}
	if o.Steps < 1 || o.Batch < 1 {
		return nil, nil, fmt.Errorf("finetune: steps %d and batch %d must be positive", o.Steps, o.Batch)
	}
	if !(o.LR > 0 && o.LR <= math.MaxFloat32) {
		return nil, nil, fmt.Errorf("finetune: learning rate %g must be positive and a float32 (at most %.3g)", o.LR, math.MaxFloat32)
	}
	if o.LabelSmoothing < 0 || o.LabelSmoothing > 1 || o.Mixup < 0 {
		return nil, nil, errors.New("finetune: label smoothing must be in [0, 1] and mixup >= 0")
	}
	for _, y := range set.Labels {
		if int(y) < 0 || int(y) >= head.Classes {
			return nil, nil, fmt.Errorf("finetune: label %d outside the head's %d classes", y, head.Classes)
		}
	}
	batch := min(o.Batch, set.Len())
	p, err := init.Copy(e)
	if err != nil {
		return nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			p.Free(e)
		}
	}()
	ft := &finetuner{e: e, o: o, classes: head.Classes, batch: batch}
	defer ft.free()
	if err := ft.alloc(enc, head, p); err != nil {
		return nil, nil, err
	}
	loader := data.NewLoader(set, data.LoaderOptions{Batch: batch, Seed: o.Seed, Shuffle: true, Augment: o.Augment})
	defer loader.Close()
	rng := rand.New(rand.NewPCG(o.Seed, 0x66696e65))
	sched := Schedule{LR: o.LR, Warmup: o.Warmup, Steps: o.Steps, Cosine: o.Cosine}
	losses := make([]float64, 0, o.Steps)
	for step := 1; step <= o.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("finetune step %d: %w: %w", step, ErrCancelled, err)
		}
		b, err := loader.Next()
		if err != nil {
			return nil, nil, fmt.Errorf("finetune step %d: %w", step, err)
		}
		loss, err := ft.step(p, b, rng, sched.At(step))
		if err != nil {
			return nil, nil, fmt.Errorf("finetune step %d: %w", step, err)
		}
		losses = append(losses, loss)
		if o.Progress != nil {
			o.Progress(step, o.Steps, loss)
		}
	}
	// Each step's loss saw the weights before its update; the last update
	// is seen by no loss, so check the weights themselves.
	if err := checkFinite(e, p, o.Steps); err != nil {
		return nil, nil, fmt.Errorf("finetune %w", err)
	}
	ok = true
	return p, losses, nil
}

// checkFinite fails when p holds a NaN or an infinity after the given step.
func checkFinite(e model.Engine, p *model.Params, step int) error {
	ss, err := ffi.SumSqValue(e, p.All())
	if err != nil {
		return fmt.Errorf("step %d: %w", step, err)
	}
	if math.IsNaN(ss) || math.IsInf(ss, 0) {
		return errmark.As(ErrNonFinite, fmt.Errorf("step %d: the updated weights are not finite (sum of squares %v)", step, ss))
	}
	return nil
}

type finetuner struct {
	e        model.Engine
	o        FinetuneOptions
	classes  int
	batch    int
	net      *model.Net
	grads    *model.Params
	adam     *Adam
	head     *model.Params // the head's weights as parameters (TrainHead)
	headGrad *model.Params
	headAdam *Adam
	labels   [2]ffi.Buffer // I32: y and, with mixup, the partner's y
	dz, dz2  ffi.Mat
	scratch  ffi.Buffer
	imgs     []float32 // mixed images
}

func (f *finetuner) alloc(enc model.Encoder, head *model.Head, p *model.Params) error {
	e := f.e
	var err error
	if f.net, err = model.NewNet(e, enc, head, f.batch, true); err != nil {
		return err
	}
	if f.grads, err = model.NewParams(e, p.Layout); err != nil {
		return err
	}
	if f.adam, err = NewAdam(e, p.Layout); err != nil {
		return err
	}
	f.adam.Clip, f.adam.WeightDecay = f.o.Clip, f.o.WeightDecay
	if f.o.TrainHead {
		hl := model.FlatLayout("head", head.Classes*head.Dim)
		f.head = &model.Params{Layout: hl, Buf: head.W}
		if f.headGrad, err = model.NewParams(e, hl); err != nil {
			return err
		}
		if f.headAdam, err = NewAdam(e, hl); err != nil {
			return err
		}
		f.headAdam.Clip = f.o.Clip
	}
	for i := range f.labels {
		if f.labels[i], err = e.Alloc(ffi.I32, f.batch); err != nil {
			return err
		}
	}
	if f.scratch, err = e.Alloc(ffi.F32, 2*f.batch*f.classes); err != nil {
		return err
	}
	f.dz = ffi.Mat{Buf: f.scratch, LD: f.classes}
	f.dz2 = ffi.Mat{Buf: f.scratch, Off: f.batch * f.classes, LD: f.classes}
	return nil
}

func (f *finetuner) free() {
	e := f.e
	if f.net != nil {
		f.net.Free()
	}
	f.grads.Free(e)
	if f.adam != nil {
		f.adam.Free(e)
	}
	f.headGrad.Free(e)
	if f.headAdam != nil {
		f.headAdam.Free(e)
	}
	for _, b := range f.labels {
		if b != nil {
			e.Free(b)
		}
	}
	if f.scratch != nil {
		e.Free(f.scratch)
	}
}

// step runs one forward/backward/update and returns the loss.
func (f *finetuner) step(p *model.Params, b data.Batch, rng *rand.Rand, lr float64) (float64, error) {
	e, n := f.e, b.N
	imgs, lam := b.Images, 1.0
	var partner []int32
	if f.o.Mixup > 0 {
		imgs, partner, lam = f.mix(b, rng)
	}
	z, err := f.net.Forward(p, imgs, n)
	if err != nil {
		return 0, err
	}
	if err := e.Upload(ffi.Vec{Buf: f.labels[0], N: n}, ffi.I32Bytes(b.Labels[:n])); err != nil {
		return 0, err
	}
	loss, err := e.CrossEntropyLS(n, f.classes, z, ffi.Vec{Buf: f.labels[0], N: n}, f.o.LabelSmoothing, f.dz)
	if err != nil {
		return 0, err
	}
	if partner != nil {
		// Mixup: lam * CE(y) + (1 - lam) * CE(y_partner), gradients likewise.
		if err := e.Upload(ffi.Vec{Buf: f.labels[1], N: n}, ffi.I32Bytes(partner)); err != nil {
			return 0, err
		}
		l2, err := e.CrossEntropyLS(n, f.classes, z, ffi.Vec{Buf: f.labels[1], N: n}, f.o.LabelSmoothing, f.dz2)
		if err != nil {
			return 0, err
		}
		loss = lam*loss + (1-lam)*l2
		k := n * f.classes
		if err := e.Scale(ffi.Vec{Buf: f.dz.Buf, Off: f.dz.Off, N: k}, float32(lam)); err != nil {
			return 0, err
		}
		if err := e.Axpy(float32(1-lam), ffi.Vec{Buf: f.dz2.Buf, Off: f.dz2.Off, N: k}, ffi.Vec{Buf: f.dz.Buf, Off: f.dz.Off, N: k}); err != nil {
			return 0, err
		}
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return 0, errmark.As(ErrNonFinite, fmt.Errorf("the loss diverged (%v)", loss))
	}
	if err := e.Zero(f.grads.All()); err != nil {
		return 0, err
	}
	var dHead ffi.Mat
	if f.head != nil {
		if err := e.Zero(f.headGrad.All()); err != nil {
			return 0, err
		}
		dHead = ffi.Mat{Buf: f.headGrad.Buf, LD: f.net.Head.Dim}
	}
	if err := f.net.Backward(p, f.grads, f.dz, dHead); err != nil {
		return 0, err
	}
	if _, err := f.adam.Step(e, p, f.grads, lr); err != nil {
		return 0, err
	}
	if f.head != nil {
		hlr := f.o.HeadLR
		if hlr == 0 {
			hlr = f.o.LR
		}
		if _, err := f.headAdam.Step(e, f.head, f.headGrad, hlr*lr/f.o.LR); err != nil {
			return 0, fmt.Errorf("head: %w", err)
		}
	}
	return loss, nil
}

// mix returns lam*x + (1-lam)*x[perm], the partners' labels and lam ~ Beta(a, a).
func (f *finetuner) mix(b data.Batch, rng *rand.Rand) ([]float32, []int32, float64) {
	n := b.N
	per := len(b.Images) / n
	lam := data.MixupWeight(rng, f.o.Mixup)
	perm := rng.Perm(n)
	f.imgs = f.imgs[:0]
	partner := make([]int32, n)
	for i := range n {
		x, y := b.Images[i*per:(i+1)*per], b.Images[perm[i]*per:(perm[i]+1)*per]
		for k := range x {
			f.imgs = append(f.imgs, float32(lam)*x[k]+float32(1-lam)*y[k])
		}
		partner[i] = b.Labels[perm[i]]
	}
	return f.imgs, partner, lam
}
