package train

import (
	"fmt"
	"math"

	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
)

// Adam is torch.optim.Adam (no weight decay) over a flat parameter vector,
// with DisTaC's anchor beta*||theta - theta_init||^2 added to the gradient
// as 2*beta*(theta - theta_init) before global-norm clipping, and optional
// decoupled weight decay (AdamW) for fine-tuning.
type Adam struct {
	Beta1, Beta2, Eps float32
	Anchor            float32       // beta of the anchor; 0: none
	Init              *model.Params // theta_init of the anchor
	Clip              float64       // max global gradient norm; <= 0: no clipping
	WeightDecay       float64       // decoupled: theta *= 1 - lr*wd before the step

	m, v *model.Params
	step int
}

// NewAdam allocates the moments for layout on e.
func NewAdam(e ffi.Backend, layout *model.Layout) (*Adam, error) {
	m, err := model.NewParams(e, layout)
	if err != nil {
		return nil, err
	}
	v, err := model.NewParams(e, layout)
	if err != nil {
		m.Free(e)
		return nil, err
	}
	return &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Clip: 1, m: m, v: v}, nil
}

// Free releases the moments.
func (a *Adam) Free(e ffi.Backend) { a.m.Free(e); a.v.Free(e) }

// Step applies one update with learning rate lr and returns the global norm
// of the anchored gradient before clipping. A non-finite norm is an error
// and leaves the parameters untouched.
func (a *Adam) Step(e model.Engine, p, g *model.Params, lr float64) (float64, error) {
	var init ffi.Vec
	if a.Anchor != 0 {
		init = a.Init.All()
	}
	ss, err := e.AnchoredGradSumSq(g.All(), p.All(), init, a.Anchor)
	if err != nil {
		return 0, fmt.Errorf("adam: %w", err)
	}
	norm := math.Sqrt(ss)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return norm, fmt.Errorf("adam: gradient norm is %v", norm)
	}
	clip := 1.0
	if a.Clip > 0 {
		clip = min(1, a.Clip/(norm+1e-6)) // torch.nn.utils.clip_grad_norm_'s rule
	}
	if a.WeightDecay > 0 {
		if err := e.Scale(p.All(), float32(1-lr*a.WeightDecay)); err != nil {
			return norm, fmt.Errorf("adam: weight decay: %w", err)
		}
	}
	a.step++
	err = e.AdamStep(p.All(), g.All(), a.m.All(), a.v.All(), init, ffi.AdamParams{
		LR: float32(lr), Beta1: a.Beta1, Beta2: a.Beta2, Eps: a.Eps, Anchor: a.Anchor,
		ClipScale: float32(clip), Step: a.step,
	})
	if err != nil {
		return norm, fmt.Errorf("adam: %w", err)
	}
	return norm, nil
}

// Schedule is a learning-rate schedule: linear warm-up over Warmup steps
// (lr * t / Warmup at the 1-based step t <= Warmup), then constant, or with
// Cosine open_clip's cosine_lr: lr * (1 + cos(pi * e / (Steps - Warmup))) / 2
// at the e-th step after the warm-up (e from 0), so the first step after the
// warm-up has lr and the last still a small positive one.
type Schedule struct {
	LR     float64
	Warmup int
	Steps  int
	Cosine bool
}

// At is the learning rate of the 1-based step t.
func (s Schedule) At(t int) float64 {
	if s.Warmup > 0 && t <= s.Warmup {
		return s.LR * float64(t) / float64(s.Warmup)
	}
	if !s.Cosine || s.Steps <= s.Warmup {
		return s.LR
	}
	f := float64(t-1-s.Warmup) / float64(s.Steps-s.Warmup)
	return s.LR * 0.5 * (1 + math.Cos(math.Pi*min(f, 1)))
}
