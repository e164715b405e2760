// Package demo reproduces the DisTaC paper's two failure modes of model
// merging on real data and the recovery DisTaC brings, end to end on this
// project's own engine: pre-train a small ViT base without labels (rotation
// prediction), build each task's frozen prototype head, fine-tune every
// task under three regimes (ideal, norm mismatch, low confidence),
// condition with DisTaC, merge with TA, TIES, Consensus, TSV-M and Iso-C
// (alpha and lambda chosen on validation), evaluate on test, and
// temperature-scale the merged models. Every model is cached in a work
// directory, so a rerun reuses what its settings did not change.
package demo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distac/distac/distac"
	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/ffi"
)

// Options configure a run.
type Options struct {
	Workdir string
	Seed    uint64
	Tasks   []string // built-in data sets; default all four
	Recipe  Recipe
	Backend string // "cpu" (default), or a named path
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
		o.Backend = "cpu"
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
	if p.cfg, err = model.ParseConfig([]byte(p.r.Model)); err != nil {
		return err
	}
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
	a := p.artifact("base", ".safetensors", "base/v1", p.r.Model, p.r.Mean, p.r.Std, p.r.Splits, p.r.Pretrain, p.o.Tasks, p.o.Seed)
	p.baseKey, p.basePath = a.Key, a.Path
	if !a.exists() {
		pool := pooled(p.tasks, p.r.Pretrain.PoolPerTask, p.o.Seed)
		p.logf("pre-training the base on %d unlabelled images x 4 rotations, %d steps", pool.Len(), p.r.Pretrain.Steps)
		base, err := pretrainBase(p.e, p.enc, pool, p.r.Pretrain.Steps, p.r.Pretrain.Batch, p.r.Pretrain.LR, p.o.Seed,
			p.progress("pre-train"))
		if err != nil {
			return err
		}
		err = model.SaveParams(p.e, p.cfg, base, a.Path, model.SaveOptions{Force: true})
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

// parallel runs jobs over the CPUs, each worker with its own engine of
// NumCPU/workers threads (small models keep one core busier than two).
func (p *pipeline) parallel(n int, job func(e model.Engine, i int) error) error {
	workers := min(n, runtime.NumCPU())
	threads := max(1, runtime.NumCPU()/max(workers, 1))
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := p.engine(threads)
			for i := range next {
				if err != nil {
					errs[i] = err
					continue
				}
				errs[i] = job(e, i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
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
		ft, _, err := train.Finetune(e, p.enc, p.base, p.heads[j.t], p.tasks[j.t].Train, o)
		if err != nil {
			return fmt.Errorf("%s %s: %w", p.tasks[j.t].Name, j.regime, err)
		}
		defer ft.Free(e)
		return model.SaveParams(e, p.cfg, ft, out[j.regime][j.t].Path, model.SaveOptions{Force: true,
			Meta: map[string]string{"distac.demo": j.regime + " " + p.tasks[j.t].Name}})
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
	return p.artifact("ft-"+p.tasks[t].Name+"-"+regime, ".safetensors", "ft/v1", p.baseKey, p.headKeys[t], p.tasks[t].Name, p.ftOptionsKey(regime))
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

// columns assembles the five columns of the table, conditioning as needed.
func (p *pipeline) columns(ft map[string][]*ftModel) ([]*column, error) {
	mismatch := make([]*ftModel, len(p.tasks))
	for t := range p.tasks {
		mismatch[t] = ft[regimeIdeal][t]
		if t < p.r.Mismatch.Boosted {
			mismatch[t] = ft[regimeBoosted][t]
		}
	}
	fixedNorm, err := p.condition("mismatch", mismatch, p.r.DisTaC.Norm)
	if err != nil {
		return nil, fmt.Errorf("DisTaC (norm): %w", err)
	}
	fixedConf, err := p.condition("lowconf", ft[regimeLowConf], p.r.DisTaC.Conf)
	if err != nil {
		return nil, fmt.Errorf("DisTaC (confidence): %w", err)
	}
	mk := func(name string, ms, normBy []*ftModel) *column {
		c := &column{Name: name, models: ms}
		for t, m := range ms {
			c.Tasks = append(c.Tasks, m.Path)
			c.Finetune = append(c.Finetune, normBy[t].TestAcc)
		}
		return c
	}
	// +DisTaC columns are normalised by the fine-tuned models they started
	// from, so a column's drop and its recovery are measured against the
	// same accuracies.
	return []*column{
		mk(ColIdeal, ft[regimeIdeal], ft[regimeIdeal]),
		mk(ColMismatch, mismatch, mismatch),
		mk(ColMismatchDisTaC, fixedNorm, mismatch),
		mk(ColLowConf, ft[regimeLowConf], ft[regimeLowConf]),
		mk(ColLowConfDisTaC, fixedConf, ft[regimeLowConf]),
	}, nil
}

// Column names, in the table's order.
const (
	ColIdeal          = "ideal"
	ColMismatch       = "norm mismatch"
	ColMismatchDisTaC = "norm mismatch + DisTaC"
	ColLowConf        = "low confidence"
	ColLowConfDisTaC  = "low confidence + DisTaC"
)

// condition runs DisTaC on a column's models (all tasks in parallel).
func (p *pipeline) condition(name string, teachers []*ftModel, temps [2]float32) ([]*ftModel, error) {
	d := p.r.DisTaC
	var keys []string
	for _, m := range teachers {
		keys = append(keys, m.Key)
	}
	out := make([]*ftModel, len(teachers))
	var todo []int
	for t := range teachers {
		// Kappa depends on every teacher's norm: the key holds them all.
		a := p.artifact("distac-"+p.tasks[t].Name+"-"+name, ".safetensors", "distac/v2", p.baseKey, keys, t, d.Steps, d.Batch, d.LR, d.Beta, temps, p.o.Seed)
		out[t] = &ftModel{Path: a.Path, Key: a.Key}
		if !a.exists() {
			todo = append(todo, t)
		}
	}
	if len(todo) > 0 {
		if err := p.runDisTaC(name, teachers, out, temps); err != nil {
			return nil, err
		}
	}
	for t, m := range out {
		if err := p.summarize(m, t); err != nil {
			return nil, err
		}
		k, err := p.readKappa(m.Path)
		if err != nil {
			return nil, err
		}
		m.Kappa = k
	}
	return out, nil
}

func (p *pipeline) runDisTaC(name string, teachers, out []*ftModel, temps [2]float32) error {
	d := p.r.DisTaC
	ts := make([]train.Task, len(teachers))
	for t, m := range teachers {
		w, err := p.readWeights(m.Path)
		if err != nil {
			return err
		}
		q, err := model.NewParams(p.e, p.enc.Layout())
		if err != nil {
			return err
		}
		defer q.Free(p.e)
		if err := p.e.Upload(q.All(), ffi.F32Bytes(w)); err != nil {
			return err
		}
		unl := &data.Set{Name: p.tasks[t].Name, C: p.tasks[t].Train.C, H: p.tasks[t].Train.H, W: p.tasks[t].Train.W, Images: p.tasks[t].Train.Images}
		ts[t] = train.Task{Name: p.tasks[t].Name, Params: q, Head: p.heads[t], Inputs: unl}
	}
	o := train.DefaultConditionOptions()
	o.TTcr, o.TStu, o.Anchor, o.LR, o.Steps, o.Batch, o.Seed = temps[0], temps[1], d.Beta, d.LR, d.Steps, d.Batch, p.o.Seed
	o.NewEngine = p.engine
	prog := make([]func(int, int, float64), len(ts))
	for t := range ts {
		prog[t] = p.progress(fmt.Sprintf("DisTaC %s/%s", p.tasks[t].Name, name))
	}
	o.Progress = func(c train.ConditionProgress) { prog[c.Task](c.Step, c.Steps, c.Loss) }
	p.logf("DisTaC on %s: %d tasks, %d steps, (T_tcr, T_stu) = (%g, %g)", name, len(ts), d.Steps, temps[0], temps[1])
	res, err := train.Condition(p.enc, p.base, ts, o)
	if err != nil {
		return err
	}
	for t, r := range res {
		err := model.SaveParams(p.e, p.cfg, r.Params, out[t].Path, model.SaveOptions{Force: true,
			Meta: map[string]string{"distac.demo": fmt.Sprintf("DisTaC %s %s", name, p.tasks[t].Name),
				kappaKey: strconv.FormatFloat(r.Kappa, 'g', -1, 64)}})
		r.Params.Free(p.e)
		if err != nil {
			return err
		}
	}
	return nil
}

// kappaKey records a conditioned model's kappa in its metadata.
const kappaKey = "distac.kappa"

// readKappa is the kappa a conditioned checkpoint was made with.
func (p *pipeline) readKappa(path string) (float64, error) {
	ck, err := distac.OpenCheckpoint(path)
	if err != nil {
		return 0, err
	}
	defer ck.Close()
	k, err := strconv.ParseFloat(ck.Files[0].Metadata[kappaKey], 64)
	if err != nil {
		return 0, fmt.Errorf("%s: no kappa in the metadata: %w", path, err)
	}
	return k, nil
}

// cachedMerge merges a column with every method, or reuses the results.
func (p *pipeline) cachedMerge(c *column) ([]*MethodResult, error) {
	var keys []string
	for _, m := range c.models {
		keys = append(keys, m.Key)
	}
	a := p.artifact("merge-"+slug(c.Name), ".json", "merge/v1", p.baseKey, keys, p.r.Splits, demoMethods, p.o.Seed)
	var rs []*MethodResult
	if a.readJSON(&rs) && len(rs) == len(demoMethods) {
		return rs, nil
	}
	rs, err := p.mergeColumn(c)
	if err != nil {
		return nil, err
	}
	return rs, a.writeJSON(rs)
}

func slug(s string) string {
	out := []byte{}
	for _, c := range []byte(strings.ToLower(s)) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			out = append(out, c)
		case len(out) > 0 && out[len(out)-1] != '-':
			out = append(out, '-')
		}
	}
	return string(out)
}
