package train

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
)

// ConditionJob is DisTaC over files, as `distac condition` runs it: a base
// and task checkpoints, a head and images per task, outputs per task.
type ConditionJob struct {
	Base  string
	Tasks []string
	// Heads, Data and Eval are given once per task, or once for all (Eval
	// may be empty: no accuracies in the report).
	Heads, Data, Eval []string
	// Outs names each task's output, or OutDir gives
	// OutDir/<task name>.distac.safetensors (OutputPaths).
	Outs   []string
	OutDir string

	ModelConfig string  // a config JSON in place of the checkpoints' own
	Prefix      *string // overrides the key prefix the checkpoints record
	Backend     string  // ffi.Open's name ("": auto)
	Threads     int     // CPU threads in all (<= 0: NumCPU)
	MaxImages   int     // > 0: a seeded sample of this many images per task
	MaxPixels   int     // data.Preprocess.MaxPixels for image folders
	DType       string  // output dtype ("": each task's)
	Force       bool    // replace existing outputs (never an input)

	// Options are DisTaC's settings; Threads and NewEngine are the job's.
	Options ConditionOptions
	// Opened, if set, is called for every model read, before any work
	// (the CLI warns there about a missing preprocess_cfg).
	Opened func(path string, m *model.Loaded)
}

// ConditionReport is what a condition job did: the CLI's --json and the C
// API's report.
type ConditionReport struct {
	Seconds float64           `json:"seconds"`
	Tasks   []ConditionedTask `json:"tasks"`
}

// ConditionedTask is one task of a ConditionReport.
type ConditionedTask struct {
	Task       string      `json:"task"`
	Input      string      `json:"input"`
	Output     string      `json:"output"`
	Kappa      float64     `json:"kappa"`
	NormBefore float64     `json:"norm_before"`
	NormAfter  float64     `json:"norm_after"`
	KLFirst    *float64    `json:"kl_first,omitempty"`
	KLLast     *float64    `json:"kl_last,omitempty"`
	Skipped    string      `json:"not_distilled,omitempty"`
	Teacher    *EvalReport `json:"teacher,omitempty"`
	Scaled     *EvalReport `json:"scaled,omitempty"`
	Student    *EvalReport `json:"student,omitempty"`
	Seconds    float64     `json:"seconds"`

	Result *ConditionResult `json:"-"` // the whole result (its Params written and freed: nil)
}

// EvalReport is a model's summary on a task's Eval images.
type EvalReport struct {
	MeanEntropy float64  `json:"mean_entropy"`
	Accuracy    *float64 `json:"accuracy,omitempty"` // labelled images only
}

// TaskName is a checkpoint's file name without its extension: the task's
// name in reports and under OutDir.
func TaskName(path string) string {
	b := filepath.Base(strings.TrimSuffix(path, string(filepath.Separator)))
	for _, ext := range []string{".safetensors", ".index.json"} {
		b = strings.TrimSuffix(b, ext)
	}
	return b
}

// OutputPaths pairs every task with its output path.
func (j *ConditionJob) OutputPaths() ([]string, error) {
	switch {
	case len(j.Outs) > 0 && j.OutDir != "":
		return nil, errors.New("give an output per task or an output directory, not both")
	case len(j.Outs) > 0:
		if len(j.Outs) != len(j.Tasks) {
			return nil, fmt.Errorf("%d outputs for %d tasks", len(j.Outs), len(j.Tasks))
		}
		return j.Outs, nil
	case j.OutDir != "":
		paths := make([]string, len(j.Tasks))
		seen := map[string]bool{}
		for i, t := range j.Tasks {
			paths[i] = filepath.Join(j.OutDir, TaskName(t)+".distac.safetensors")
			if st, err := os.Stat(t); err == nil && st.IsDir() { // a model folder gives one
				paths[i] = filepath.Join(j.OutDir, TaskName(t)+".distac")
			}
			if seen[paths[i]] {
				return nil, fmt.Errorf("two tasks would both write %s: name an output per task", paths[i])
			}
			seen[paths[i]] = true
		}
		return paths, nil
	}
	return nil, errors.New("an output per task or an output directory is required")
}

// perTask spreads a list given once over n tasks, or checks it has n.
func perTask(name string, l []string, n int, optional bool) ([]string, error) {
	switch {
	case len(l) == 0 && optional:
		return nil, nil
	case len(l) == 1:
		out := make([]string, n)
		for i := range out {
			out[i] = l[0]
		}
		return out, nil
	case len(l) != n:
		return nil, fmt.Errorf("%s is given %d times for %d tasks (give it once, or once per task)", name, len(l), n)
	}
	return l, nil
}

// RunConditionJob conditions every task of j and writes the outputs. Every
// input is opened and every output checked before any work; an output is
// whole or absent. Cancelling ctx stops it between steps (ErrCancelled).
func RunConditionJob(ctx context.Context, j ConditionJob) (*ConditionReport, error) {
	n := len(j.Tasks)
	if j.Base == "" || n == 0 {
		return nil, errors.New("condition: a base and at least one task are required")
	}
	heads, err := perTask("head", j.Heads, n, false)
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	sets, err := perTask("data", j.Data, n, false)
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	evals, err := perTask("eval", j.Eval, n, true)
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	paths, err := j.OutputPaths()
	if err != nil {
		return nil, fmt.Errorf("condition: %w", err)
	}
	o := j.Options
	o.Threads = j.Threads
	backend := j.Backend
	o.NewEngine = func(threads int) (model.Engine, error) { return model.OpenEngine(backend, threads) }
	e, err := model.OpenEngine(backend, j.Threads)
	if err != nil {
		return nil, err
	}
	open := func(path string) (*model.Loaded, error) {
		m, err := model.Open(e, path, model.OpenOptions{ConfigPath: j.ModelConfig, Prefix: j.Prefix})
		if err == nil && j.Opened != nil {
			j.Opened(path, m)
		}
		return m, err
	}
	bm, err := open(j.Base)
	if err != nil {
		return nil, err
	}
	// The parameters are the engine's memory, not Go's: freed here, or a
	// host that runs many jobs in one process (the C API's) leaks them.
	defer func() { bm.Params.Free(e); bm.Close() }()
	// Each task keeps its own key prefix (the output is written like it)
	// unless Prefix sets one for all.
	models := make([]*model.Loaded, 0, n)
	defer func() {
		for _, m := range models {
			m.Params.Free(e)
			m.Close()
		}
	}()
	inputs := append(bm.Paths(), j.ModelConfig)
	for _, tp := range j.Tasks {
		tm, err := open(tp)
		if err != nil {
			return nil, err
		}
		models = append(models, tm)
		if tm.Config.JSON() != bm.Config.JSON() {
			return nil, fmt.Errorf("%s: its model config differs from the base's", tp)
		}
		inputs = append(inputs, tm.Paths()...)
	}
	inputs = nonEmpty(append(append(append(inputs, heads...), sets...), evals...))
	if err := checkpoint.CheckOutputs(paths, j.Force, inputs); err != nil {
		return nil, err
	}
	// A set named for several tasks is read once; training only reads it.
	loaded := map[string]*data.Set{}
	load := func(spec string, max int) (*data.Set, error) {
		key := fmt.Sprintf("%d:%s", max, spec)
		if s, ok := loaded[key]; ok {
			return s, nil
		}
		s, err := OpenSet(spec, bm.Config, SetOptions{Max: max, Seed: o.Seed, MaxPixels: j.MaxPixels})
		loaded[key] = s
		return s, err
	}
	ts := make([]Task, n)
	for i, tm := range models {
		h, err := model.LoadHeadFor(e, heads[i], bm.Config)
		if err != nil {
			return nil, err
		}
		defer h.Free(e)
		in, err := load(sets[i], j.MaxImages)
		if err != nil {
			return nil, err
		}
		ts[i] = Task{Name: TaskName(j.Tasks[i]), Params: tm.Params, Head: h, Inputs: in}
		if evals != nil {
			if ts[i].Eval, err = load(evals[i], 0); err != nil {
				return nil, err
			}
		}
	}
	start := time.Now()
	res, err := Condition(ctx, bm.Encoder, bm.Params, ts, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, r := range res {
			r.Params.Free(e)
			r.Params = nil
		}
	}()
	warm := o.Warmup
	if warm <= 0 {
		warm = o.Steps // Condition's default: a pure ramp
	}
	for i, r := range res {
		meta := map[string]string{"distac.condition": fmt.Sprintf("kappa=%g t_tcr=%g t_stu=%g beta=%g lr=%g warmup=%d steps=%d "+
			"batch=%d clip=%g seed=%d max_images=%d data=%s",
			r.Kappa, o.TTcr, o.TStu, o.Anchor, o.LR, warm, o.Steps, o.Batch, o.Clip, o.Seed, j.MaxImages, sets[i])}
		if err := model.SaveParams(e, bm.Config, r.Params, paths[i], model.SaveOptions{Prefix: models[i].Prefix, Naming: models[i].Naming.Kind, DType: j.DType,
			Like: models[i].Checkpoint, Meta: meta, Force: j.Force, Inputs: inputs}); err != nil {
			return nil, err
		}
	}
	return conditionReport(res, j.Tasks, paths, time.Since(start)), nil
}

func conditionReport(res []*ConditionResult, inputs, outputs []string, elapsed time.Duration) *ConditionReport {
	ev := func(m *Metrics) *EvalReport {
		if m == nil {
			return nil
		}
		e := &EvalReport{MeanEntropy: m.MeanEntropy}
		if m.Labelled {
			a := m.Accuracy
			e.Accuracy = &a
		}
		return e
	}
	rep := &ConditionReport{Seconds: elapsed.Seconds()}
	for i, r := range res {
		c := ConditionedTask{Task: r.Name, Input: inputs[i], Output: outputs[i], Kappa: r.Kappa, NormBefore: r.NormBefore,
			NormAfter: r.NormAfter, Skipped: r.Skipped, Teacher: ev(r.Teacher), Scaled: ev(r.Scaled), Student: ev(r.Student),
			Seconds: r.Elapsed.Seconds(), Result: r}
		if len(r.Losses) > 0 {
			c.KLFirst, c.KLLast = &r.Losses[0], &r.Losses[len(r.Losses)-1]
		}
		rep.Tasks = append(rep.Tasks, c)
	}
	return rep
}

// nonEmpty drops the empty strings of paths.
func nonEmpty(paths []string) []string {
	var out []string
	for _, p := range paths {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
