package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/errmark"
	"github.com/distac/distac/internal/workpool"
)

// Task is one fine-tuned model to condition.
type Task struct {
	Name   string
	Params *model.Params // theta_t, in memory every worker engine can read
	Head   *model.Head   // its frozen head, shared by teacher and student
	Inputs *data.Set     // unlabelled inputs for the distillation (labels are ignored)
	Eval   *data.Set     // optional held-out images for the report; labels give accuracies
	Kappa  float64       // > 0: this task's own kappa, overriding the options
}

// ConditionOptions are DisTaC's knobs (arXiv 2508.01148).
type ConditionOptions struct {
	// Kappa > 0 scales every task vector by it; else TargetNorm > 0 is the
	// norm every task vector is scaled to; else the target of task t is the
	// mean norm of the other task vectors, and kappa is capped at 1 (shrink
	// only) unless Stretch is set. Explicit values are used as given.
	Kappa, TargetNorm float64
	Stretch           bool
	TTcr, TStu        float32 // temperatures: (10, 10) for norm, (1, 10) for confidence
	Anchor            float32 // beta of beta*||theta - theta_init||^2
	LR                float64
	Steps, Batch      int
	Warmup            int     // linear warm-up steps; 0: Steps (a pure ramp)
	Clip              float64 // global gradient-norm clip
	Seed              uint64  // batch order, the same for every task
	// Precision of the step's matrix products (teacher and student): f32
	// (the default) or bf16 mixed precision (model.BF16).
	Precision model.Precision
	EvalBatch int
	// Parallel tasks run at once, each on its own engine of
	// Threads/Parallel threads (Parallel <= 0: min(tasks, Threads);
	// Threads <= 0: NumCPU).
	Parallel  int
	Threads   int
	NewEngine func(threads int) (model.Engine, error)
	// Progress, if set, is called after every step (from any goroutine).
	Progress func(ConditionProgress)
}

// DefaultConditionOptions are the paper's settings, with a learning rate
// for the small models distac trains itself (CLIP scale is 1e-5).
func DefaultConditionOptions() ConditionOptions {
	return ConditionOptions{TTcr: 10, TStu: 10, LR: 1e-4, Steps: 500, Batch: 128, Clip: 1, EvalBatch: 256,
		Precision: model.F32}
}

// ConditionProgress reports one finished step.
type ConditionProgress struct {
	Task        int
	Step, Steps int
	Loss        float64
}

// ConditionResult is one conditioned task.
type ConditionResult struct {
	Name                  string
	Kappa                 float64
	NormBefore, NormAfter float64 // ||theta_t - theta_0||, ||theta_s - theta_0||
	// On Task.Eval: the teacher, the scaled student before distillation and
	// the conditioned student (nil without Eval).
	Teacher, Scaled, Student *Metrics
	Losses                   []float64 // KL loss of every step
	// Skipped says why the task was not distilled (empty: it was): with
	// kappa 1 and equal temperatures the student starts as its teacher, the
	// loss and its gradient are 0, and steps could only add rounding noise
	// (which Adam would turn into full steps). Params is then the teacher.
	Skipped string
	Params  *model.Params
	Elapsed time.Duration
}

// Condition runs DisTaC on every task against base, tasks in parallel.
// Results come back in task order; their Params live on the engine of the
// worker that made them (host memory for CPU engines) and are the caller's.
//
// Cancelling ctx stops every task between steps; the error then wraps
// ErrCancelled and no results are returned.
func Condition(ctx context.Context, enc model.Encoder, base *model.Params, tasks []Task, o ConditionOptions) ([]*ConditionResult, error) {
	if len(tasks) == 0 {
		return nil, errors.New("condition: no tasks")
	}
	if err := checkConditionOptions(&o); err != nil {
		return nil, err
	}
	par := o.Parallel
	if par <= 0 {
		par = min(len(tasks), runtime.NumCPU())
	}
	total := o.Threads
	if total <= 0 {
		total = runtime.NumCPU()
	}
	threads := max(1, total/par)
	// Norms first: each task's target depends on the others'.
	e0, err := o.NewEngine(total)
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	norms := make([]float64, len(tasks))
	for i, t := range tasks {
		if norms[i], err = taskNorm(e0, base, t.Params); err != nil {
			return nil, fmt.Errorf("condition %s: %w", t.Name, err)
		}
		if norms[i] == 0 {
			return nil, fmt.Errorf("condition %s: the task vector is zero (the model equals the base)", t.Name)
		}
	}
	results := make([]*ConditionResult, len(tasks))
	open := func() (model.Engine, error) { return o.NewEngine(threads) }
	errs := workpool.Each(len(tasks), par, open, func(e model.Engine, i int) (err error) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("condition %s: %w: %w", tasks[i].Name, ErrCancelled, err)
		}
		results[i], err = conditionSafely(ctx, e, enc, base, tasks[i], i, kappaFor(o, tasks[i], norms, i), norms[i], o)
		if err != nil {
			return fmt.Errorf("condition %s: %w", tasks[i].Name, err)
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		for _, r := range results {
			if r != nil {
				r.Params.Free(e0)
			}
		}
		return nil, err
	}
	return results, nil
}

func checkConditionOptions(o *ConditionOptions) error {
	switch {
	case o.NewEngine == nil:
		return errors.New("condition: no engine")
	case o.Steps < 1 || o.Batch < 1:
		return fmt.Errorf("condition: steps %d and batch %d must be positive", o.Steps, o.Batch)
	case !(o.TTcr > 0) || !(o.TStu > 0) || math.IsInf(float64(o.TTcr), 0) || math.IsInf(float64(o.TStu), 0):
		return fmt.Errorf("condition: temperatures %g, %g must be positive and finite", o.TTcr, o.TStu)
	case !(o.LR > 0 && o.LR <= math.MaxFloat32):
		return fmt.Errorf("condition: learning rate %g must be positive and a float32 (at most %.3g)", o.LR, math.MaxFloat32)
	case o.Anchor < 0 || o.Kappa < 0 || o.TargetNorm < 0:
		return errors.New("condition: anchor, kappa and target norm must not be negative")
	}
	if o.Warmup <= 0 {
		o.Warmup = o.Steps
	}
	if o.EvalBatch <= 0 {
		o.EvalBatch = 256
	}
	return nil
}

// kappaFor is task i's scale: the norm target of DisTaC's first step.
func kappaFor(o ConditionOptions, t Task, norms []float64, i int) float64 {
	switch {
	case t.Kappa > 0:
		return t.Kappa
	case o.Kappa > 0:
		return o.Kappa
	case o.TargetNorm > 0:
		return o.TargetNorm / norms[i]
	case len(norms) == 1:
		return 1
	}
	var s float64
	for j, n := range norms {
		if j != i {
			s += n
		}
	}
	k := s / float64(len(norms)-1) / norms[i]
	if !o.Stretch {
		k = min(k, 1)
	}
	return k
}

// taskNorm is ||ft - base||_2 over every encoder parameter.
func taskNorm(e model.Engine, base, ft *model.Params) (float64, error) {
	tau, err := model.NewParams(e, base.Layout)
	if err != nil {
		return 0, err
	}
	defer tau.Free(e)
	if err := e.Sub(tau.All(), ft.All(), base.All()); err != nil {
		return 0, err
	}
	ss, err := ffi.SumSqValue(e, tau.All())
	return math.Sqrt(ss), err
}

func conditionOne(ctx context.Context, e model.Engine, enc model.Encoder, base *model.Params, t Task, ti int, kappa, norm float64, o ConditionOptions) (*ConditionResult, error) {
	start := time.Now()
	res := &ConditionResult{Name: t.Name, Kappa: kappa, NormBefore: norm}
	if kappa == 1 && o.TTcr == o.TStu {
		return keepTeacher(e, enc, t, res, norm, o, start)
	}
	// Student: theta_0 + kappa * tau_t; it is also the anchor's theta_init.
	student, err := scaledModel(e, base, t.Params, kappa)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			student.Free(e)
		}
	}()
	init, err := student.Copy(e)
	if err != nil {
		return nil, err
	}
	defer init.Free(e)
	if t.Eval != nil {
		if res.Teacher, err = evalOn(e, enc, t.Params, t.Head, t.Eval, o.EvalBatch); err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		if res.Scaled, err = evalOn(e, enc, student, t.Head, t.Eval, o.EvalBatch); err != nil {
			return nil, fmt.Errorf("scaled student: %w", err)
		}
	}
	if res.Losses, err = distill(ctx, e, enc, t, ti, student, init, o); err != nil {
		return nil, err
	}
	if err := checkFinite(e, student, o.Steps); err != nil {
		return nil, err
	}
	if res.NormAfter, err = taskNorm(e, base, student); err != nil {
		return nil, err
	}
	if t.Eval != nil {
		if res.Student, err = evalOn(e, enc, student, t.Head, t.Eval, o.EvalBatch); err != nil {
			return nil, fmt.Errorf("student: %w", err)
		}
	}
	res.Params, res.Elapsed, ok = student, time.Since(start), true
	return res, nil
}

// keepTeacher is the result of a task that needs no distillation: its
// teacher unchanged, with the teacher's metrics for every stage.
func keepTeacher(e model.Engine, enc model.Encoder, t Task, res *ConditionResult, norm float64, o ConditionOptions, start time.Time) (*ConditionResult, error) {
	p, err := t.Params.Copy(e)
	if err != nil {
		return nil, err
	}
	res.Skipped = "kappa 1 and equal temperatures: the student would start as its teacher, so it is kept as it is"
	res.NormAfter = norm
	if t.Eval != nil {
		if res.Teacher, err = evalOn(e, enc, p, t.Head, t.Eval, o.EvalBatch); err != nil {
			p.Free(e)
			return nil, fmt.Errorf("teacher: %w", err)
		}
		res.Scaled, res.Student = res.Teacher, res.Teacher
	}
	res.Params, res.Elapsed = p, time.Since(start)
	return res, nil
}

// scaledModel returns theta_0 + kappa * (ft - theta_0).
func scaledModel(e model.Engine, base, ft *model.Params, kappa float64) (*model.Params, error) {
	tau, err := model.NewParams(e, base.Layout)
	if err != nil {
		return nil, err
	}
	defer tau.Free(e)
	if err := e.Sub(tau.All(), ft.All(), base.All()); err != nil {
		return nil, err
	}
	s, err := base.Copy(e)
	if err != nil {
		return nil, err
	}
	if err := e.Axpy(float32(kappa), tau.All(), s.All()); err != nil {
		s.Free(e)
		return nil, err
	}
	return s, nil
}

// distill runs the DisTaC steps on student in place and returns the losses.
func distill(ctx context.Context, e model.Engine, enc model.Encoder, t Task, ti int, student, init *model.Params, o ConditionOptions) ([]float64, error) {
	batch := min(o.Batch, t.Inputs.Len())
	if batch < 1 {
		return nil, errors.New("no input images")
	}
	d, err := NewDistiller(e, enc, t.Params, student, init, t.Head, batch, o)
	if err != nil {
		return nil, err
	}
	defer d.Free()
	// The batch order depends on the seed alone, not on the task's place in
	// the run, so a task conditioned by itself (one process per task, as
	// under a job array) gives the bits it gives among others.
	loader := data.NewLoader(t.Inputs, data.LoaderOptions{Batch: batch, Seed: o.Seed, Shuffle: true})
	defer loader.Close()
	sched := Schedule{LR: o.LR, Warmup: o.Warmup, Steps: o.Steps}
	losses := make([]float64, 0, o.Steps)
	for step := 1; step <= o.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("step %d: %w: %w", step, ErrCancelled, err)
		}
		b, err := loader.Next()
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		loss, err := d.Step(b.Images, b.N, sched.At(step))
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		loader.Release(b)
		losses = append(losses, loss)
		if o.Progress != nil {
			o.Progress(ConditionProgress{Task: ti, Step: step, Steps: o.Steps, Loss: loss})
		}
	}
	return losses, nil
}

// evalOn predicts s with p and summarises it (accuracy when s has labels).
func evalOn(e model.Engine, enc model.Encoder, p *model.Params, h *model.Head, s *data.Set, batch int) (*Metrics, error) {
	logits, err := Predict(e, enc, p, h, s.Images, s.Len(), batch)
	if err != nil {
		return nil, err
	}
	m, err := Evaluate(logits, h.Classes, s.Labels, 1)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// conditionSafely is conditionOne with a panic (a bug) recovered into an
// error: the task fails, the process (a host of the C API) goes on.
func conditionSafely(ctx context.Context, e model.Engine, enc model.Encoder, base *model.Params, t Task, i int, kappa, norm float64,
	o ConditionOptions) (r *ConditionResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, errmark.Recovered("conditioning", p, debug.Stack())
		}
	}()
	return conditionOne(ctx, e, enc, base, t, i, kappa, norm, o)
}
