package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/ffi"
)

func describeTasks(ts []*task) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d/%d/%d", t.Name, t.Train.Len(), t.Val.Len(), t.Test.Len())
	}
	return s + " (train/val/test)"
}

// pretrain builds (or reuses) the rotation-pretrained base.
func (p *pipeline) pretrain() error {
	// The test sample does not change what is trained: it stays out of the
	// key. base/v3: models record their preprocess_cfg.
	trained := [2]int{p.r.Splits.Train, p.r.Splits.Val}
	a := p.artifact("base", ".safetensors", "base/v3", p.r.Model, p.r.Mean, p.r.Std, trained, p.r.Pretrain, p.o.Tasks, p.o.Seed)
	p.baseKey, p.basePath = a.Key, a.Path
	if !a.exists() {
		pool := pooled(p.tasks, p.r.Pretrain.PoolPerTask, p.o.Seed)
		p.logf("pre-training the base on %d unlabelled images x 4 rotations, %d steps", pool.Len(), p.r.Pretrain.Steps)
		base, err := pretrainBase(p.e, p.enc, pool, p.r.Pretrain.Steps, p.r.Pretrain.Batch, p.r.Pretrain.LR, p.o.Seed,
			p.progress("pre-train"))
		if err != nil {
			return err
		}
		err = p.save(p.e, base, a.Path, nil)
		base.Free(p.e)
		if err != nil {
			return err
		}
	} else {
		p.logf("base: cached %s", filepath.Base(a.Path))
	}
	w, err := p.readWeights(a.Path)
	if err != nil {
		return err
	}
	p.baseW = w
	p.base, err = model.NewParams(p.e, p.enc.Layout())
	if err != nil {
		return err
	}
	return p.e.Upload(p.base.All(), ffi.F32Bytes(w))
}

// buildHeads makes every task's prototype head from the base encoder.
func (p *pipeline) buildHeads() error {
	for _, t := range p.tasks {
		a := p.artifact("head-"+t.Name, ".safetensors", "head/v1", p.baseKey, p.r.Head, t.Name)
		if !a.exists() {
			w, err := train.PrototypeHead(p.e, p.enc, p.base, t.Train.Take(p.r.Head.Examples, p.o.Seed), 10, p.r.Head.Scale, evalBatch)
			if err != nil {
				return err
			}
			if err := model.SaveHead(a.Path, w, 10, p.cfg.EmbedDim, t.Train.ClassNames, true, nil); err != nil {
				return err
			}
		}
		h, err := model.LoadHead(p.e, a.Path)
		if err != nil {
			return err
		}
		p.heads = append(p.heads, h)
		p.headKeys = append(p.headKeys, a.Key)
	}
	return nil
}

// progress returns a Finetune progress callback for the bar or the log.
func (p *pipeline) progress(stage string) func(step, steps int, loss float64) {
	var mu sync.Mutex
	next := 0
	return func(step, steps int, loss float64) {
		if p.o.Bar != nil {
			p.o.Bar(stage, step, steps)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if step >= next || step == steps {
			p.logf("%s: step %d/%d loss %.4f", stage, step, steps, loss)
			next = step + max(1, steps/4)
		}
	}
}

// regimes of fine-tuning.
const (
	regimeIdeal   = "ideal"
	regimeBoosted = "boosted"
	regimeLowConf = "lowconf"
)

// ftModel is one fine-tuned (or conditioned) checkpoint.
type ftModel struct {
	Path string `json:"-"`
	Key  string `json:"-"`
	ModelSummary
}

// finetuneAll trains (or reuses) every task under every regime it needs.
func (p *pipeline) finetuneAll() (map[string][]*ftModel, error) {
	type job struct {
		t      int
		regime string
	}
	var jobs []job
	for t := range p.tasks {
		jobs = append(jobs, job{t, regimeIdeal}, job{t, regimeLowConf})
		if t < p.r.Mismatch.Boosted {
			jobs = append(jobs, job{t, regimeBoosted})
		}
	}
	out := map[string][]*ftModel{}
	for _, r := range []string{regimeIdeal, regimeBoosted, regimeLowConf} {
		out[r] = make([]*ftModel, len(p.tasks))
	}
	var todo []job
	for _, j := range jobs {
		a := p.ftArtifact(j.t, j.regime)
		out[j.regime][j.t] = &ftModel{Path: a.Path, Key: a.Key}
		if !a.exists() {
			todo = append(todo, j)
		}
	}
	if len(todo) > 0 {
		p.logf("fine-tuning %d models (%d cached)", len(todo), len(jobs)-len(todo))
	}
	err := p.parallel(len(todo), func(e model.Engine, i int) error {
		j := todo[i]
		o := p.ftOptions(j.regime)
		o.Progress = p.progress(fmt.Sprintf("finetune %s/%s", p.tasks[j.t].Name, j.regime))
		ft, _, err := train.Finetune(context.Background(), e, p.enc, p.base, p.heads[j.t], p.tasks[j.t].Train, o)
		if err != nil {
			return fmt.Errorf("%s %s: %w", p.tasks[j.t].Name, j.regime, err)
		}
		defer ft.Free(e)
		return p.save(e, ft, out[j.regime][j.t].Path, map[string]string{"distac.demo": j.regime + " " + p.tasks[j.t].Name})
	})
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		m := out[j.regime][j.t]
		if err := p.summarize(m, j.t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p *pipeline) ftOptions(regime string) train.FinetuneOptions {
	o := train.DefaultFinetuneOptions()
	f := p.r.Finetune
	o.Steps, o.Batch, o.LR, o.WeightDecay, o.Seed = f.Steps, f.Batch, f.LR, f.WeightDecay, p.o.Seed
	o.Warmup = o.Steps / 10
	switch regime {
	case regimeBoosted:
		o.LR *= p.r.Mismatch.LRFactor
		o.Steps = int(float64(o.Steps) * p.r.Mismatch.StepsFactor)
		o.Warmup = o.Steps / 10
	case regimeLowConf:
		o.LabelSmoothing, o.Mixup = p.r.LowConfidence.LabelSmoothing, p.r.LowConfidence.Mixup
	}
	return o
}

func (p *pipeline) ftArtifact(t int, regime string) artifact {
	return p.artifact("ft-"+p.tasks[t].Name+"-"+regime, ".safetensors", "ft/v2", p.baseKey, p.headKeys[t], p.tasks[t].Name, p.ftOptionsKey(regime))
}

func (p *pipeline) ftOptionsKey(regime string) any {
	o := p.ftOptions(regime)
	return []any{o.Steps, o.Batch, o.LR, o.WeightDecay, o.LabelSmoothing, o.Mixup, o.Seed, o.Warmup}
}

// summarize fills in a model's test accuracy, confidence and norm.
func (p *pipeline) summarize(m *ftModel, t int) error {
	w, err := p.readWeights(m.Path)
	if err != nil {
		return err
	}
	m.Norm = norm(sub(w, p.baseW))
	if err := p.ev.load(w); err != nil {
		return err
	}
	met, err := p.ev.taskMetrics(t, p.tasks[t].Test)
	if err != nil {
		return err
	}
	m.Task, m.TestAcc, m.Entropy, m.Confidence = p.tasks[t].Name, met.Accuracy, met.MeanEntropy, met.MeanMaxProb
	return nil
}

func (p *pipeline) evalWeights(w []float32) ([]train.Metrics, error) {
	if err := p.ev.load(w); err != nil {
		return nil, err
	}
	return p.ev.metrics(test)
}
