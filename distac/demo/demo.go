// Package demo reproduces the DisTaC paper's two failure modes of model
// merging on real data and the recovery DisTaC brings, end to end on this
// project's own engine: pre-train a small ViT base without labels (rotation
// prediction), build each task's frozen prototype head, fine-tune every
// task under three regimes (ideal, norm mismatch, low confidence),
// condition with DisTaC, merge with TA, TIES, Consensus, TSV-M, Iso-C, WUDI and EMR (EMR per task with its modulators)
// (alpha and lambda chosen on validation), evaluate on test, and
// temperature-scale the merged models. Every model is cached in a work
// directory, so a rerun reuses what its settings did not change.
package demo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/workpool"
)

// Options configure a run.
type Options struct {
	Workdir string
	Seed    uint64
	Tasks   []string // built-in data sets; default all four
	Recipe  Recipe
	Backend string // "auto" (default: the best this binary has), or a named backend
	// Log receives one line per stage and progress lines; Bar, if set,
	// draws per-stage progress instead (stage, done, total).
	Log io.Writer
	Bar func(stage string, done, total int)
}

// DefaultTasks are the four built-in sets.
var DefaultTasks = []string{"mnist", "fashion", "opencv-digits", "sklearn-digits"}

type pipeline struct {
	o       Options
	r       Recipe
	e       model.Engine
	cfg     *model.Config
	naming  model.Naming // of every checkpoint the demo writes and reads
	enc     model.Encoder
	tasks   []*task
	heads   []*model.Head
	ev      *evaluator
	scratch string

	baseKey  string
	headKeys []string
	basePath string
	base     *model.Params
	baseW    []float32
	res      *Results
	start    time.Time
}

// Run executes the pipeline and returns its results; results.json and
// report.html are written to the work directory.
func Run(o Options) (*Results, error) {
	if o.Workdir == "" {
		return nil, errors.New("demo: no work directory")
	}
	if len(o.Tasks) == 0 {
		o.Tasks = DefaultTasks
	}
	if len(o.Tasks) < 2 {
		return nil, errors.New("demo: merging needs at least two tasks")
	}
	if o.Backend == "" {
		o.Backend = "auto"
	}
	prec, err := model.ParsePrecision(string(o.Recipe.DisTaC.Precision))
	if err != nil {
		return nil, fmt.Errorf("demo: recipe distac: %w", err)
	}
	o.Recipe.DisTaC.Precision = prec
	if prec == model.F32 {
		o.Recipe.DisTaC.Precision = "" // results.json and the keys as they always were
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := os.MkdirAll(o.Workdir, 0o755); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	p := &pipeline{o: o, r: o.Recipe, start: time.Now()}
	defer p.close()
	if err := p.run(); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return p.res, nil
}

func (p *pipeline) close() {
	if p.ev != nil {
		p.ev.free()
	}
	for _, h := range p.heads {
		h.Free(p.e)
	}
	p.base.Free(p.e)
	if p.scratch != "" {
		os.RemoveAll(p.scratch)
	}
}

func (p *pipeline) logf(format string, args ...any) {
	fmt.Fprintf(p.o.Log, "[%5.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

func (p *pipeline) engine(threads int) (model.Engine, error) {
	be, err := ffi.Open(p.o.Backend, threads)
	if err != nil {
		return nil, err
	}
	return model.AsEngine(be)
}

func (p *pipeline) run() error {
	var err error
	if p.e, err = p.engine(0); err != nil {
		return err
	}
	if err := p.r.resolveModel(); err != nil {
		return err
	}
	if p.cfg, err = modelConfig(p.r); err != nil {
		return err
	}
	p.naming = p.r.naming()
	p.enc = model.New(p.cfg)
	if p.scratch, err = os.MkdirTemp(p.o.Workdir, ".scratch-"); err != nil {
		return err
	}
	p.res = &Results{Date: time.Now().UTC().Format(time.RFC3339), Seed: p.o.Seed, Tasks: p.o.Tasks, Recipe: p.r,
		Machine: machine()}
	if p.tasks, err = loadTasks(p.o.Tasks, p.r.Splits, p.r.Mean, p.r.Std, p.o.Seed); err != nil {
		return err
	}
	p.logf("data: %s", describeTasks(p.tasks))
	if err := p.pretrain(); err != nil {
		return fmt.Errorf("pre-training: %w", err)
	}
	if err := p.buildHeads(); err != nil {
		return fmt.Errorf("heads: %w", err)
	}
	if p.ev, err = newEvaluator(p.e, p.enc, p.tasks, p.heads); err != nil {
		return err
	}
	zs, err := p.evalWeights(p.baseW)
	if err != nil {
		return err
	}
	p.res.ZeroShot = accuracies(zs)
	ft, err := p.finetuneAll()
	if err != nil {
		return fmt.Errorf("fine-tuning: %w", err)
	}
	cols, err := p.columns(ft)
	if err != nil {
		return err
	}
	for _, c := range cols {
		cr := ColumnResult{Name: c.Name, Finetuned: c.Finetune, Models: c.models}
		rs, err := p.cachedMerge(c)
		if err != nil {
			return err
		}
		cr.Methods = rs
		p.res.Columns = append(p.res.Columns, cr)
		p.logf("merged %s: %s", c.Name, summarizeMethods(rs))
	}
	p.res.Elapsed = time.Since(p.start).Seconds()
	return p.writeOutputs()
}

// parallel runs jobs over the CPUs, each worker with its own engine of
// NumCPU/workers threads (small models keep one core busier than two).
func (p *pipeline) parallel(n int, job func(e model.Engine, i int) error) error {
	workers := min(n, runtime.NumCPU())
	threads := max(1, runtime.NumCPU()/max(workers, 1))
	open := func() (model.Engine, error) { return p.engine(threads) }
	return errors.Join(workpool.Each(n, workers, open, job)...)
}

// save writes parameters q as the demo's checkpoint at path, in its naming.
func (p *pipeline) save(e model.Engine, q *model.Params, path string, meta map[string]string) error {
	return model.SaveParams(e, p.cfg, q, path, model.SaveOptions{Force: true, Naming: p.naming.Kind, Meta: meta})
}

// modelConfig is the recipe's model with the normalisation its images get
// (the recipe's mean and std) as preprocess_cfg: every model the demo writes
// records it, so distac eval, predict and merge of those files normalise
// their inputs as the demo did.
func modelConfig(r Recipe) (*model.Config, error) {
	cfg, err := model.ParseConfig([]byte(r.Model))
	if err != nil {
		return nil, err
	}
	cfg.Preprocess = &model.PreprocessConfig{Mean: []float32{r.Mean}, Std: []float32{r.Std}}
	return model.ParseConfig([]byte(cfg.JSON())) // checks the preprocess_cfg too
}
