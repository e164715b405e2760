package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
)

func init() {
	register("condition", "DisTaC: shrink long task vectors and distil the models to be confident, before merging", runCondition)
}

const conditionUsage = `usage: distac condition --base BASE --task FT --head HEAD --data SET [--task FT --head HEAD --data SET ...]
                        (--out FILE ... | --out-dir DIR) [flags]

For every task: kappa = (mean norm of the other task vectors) / ||tau_t||,
capped at 1 (shrink only; --kappa or --target-norm override it); the
student starts at theta_0 + kappa * tau_t and is distilled from the
fine-tuned teacher on the task's unlabelled images with
  T_tcr * T_stu * KL(softmax(z_tcr / T_tcr) || softmax(z_stu / T_stu)),
Adam with a linear warm-up, global-norm clip 1, and the anchor
beta * ||theta - theta_init||^2. --confidence selects (T_tcr, T_stu) = (1, 10),
which leaves the student more confident than its teacher; the default (10, 10)
restores accuracy after the shrink. Tasks run in parallel over the CPUs,
sharing the base model.

--head and --data (and --eval) are given once per task, or once for all.
Labels in --data are ignored; --eval images with labels add accuracies to
the summary.

flags:
`

func runCondition(args []string) error {
	fs := newFlagSet("condition", conditionUsage)
	mf := &modelFlags{}
	addEngineFlags(fs, mf)
	def := train.DefaultConditionOptions()
	base := fs.String("base", "", "base model theta_0")
	var tasks, heads, sets, evals, outs listFlag
	fs.Var(&tasks, "task", "fine-tuned model theta_t (repeat per task)")
	fs.Var(&heads, "head", "frozen head of the task (repeat per task, or once)")
	fs.Var(&sets, "data", "unlabelled images of the task (repeat per task, or once)")
	fs.Var(&evals, "eval", "held-out images for the summary (repeat per task, or once)")
	fs.Var(&outs, "out", "output checkpoint (repeat per task)")
	outDir := fs.String("out-dir", "", "write each task's result to DIR/<task name>.distac.safetensors")
	kappa := floatFlag(fs, "kappa", 0, nonNegative, "scale every task vector by this (0: from the norms)")
	target := floatFlag(fs, "target-norm", 0, nonNegative, "scale every task vector to this norm (0: the mean of the others)")
	stretch := fs.Bool("stretch", false, "allow kappa > 1 (not recommended: stretching is unstable)")
	confidence := fs.Bool("confidence", false, "confidence conditioning: (T_tcr, T_stu) = (1, 10)")
	tTcr := floatFlag(fs, "t-tcr", float64(def.TTcr), positive, "teacher temperature")
	tStu := floatFlag(fs, "t-stu", float64(def.TStu), positive, "student temperature")
	beta := floatFlag(fs, "beta", 0, nonNegative, "anchor weight beta of beta*||theta - theta_init||^2")
	lr := floatFlag(fs, "lr", def.LR, positive, "peak learning rate (CLIP scale: 1e-5)")
	steps := intFlag(fs, "steps", def.Steps, 1, "distillation steps")
	batch := intFlag(fs, "batch", def.Batch, 1, "images per step")
	warmup := intFlag(fs, "warmup", 0, 0, "linear warm-up steps (0: all of them)")
	clip := floatFlag(fs, "clip", def.Clip, nonNegative, "global gradient-norm clip")
	maxImages := intFlag(fs, "max-images", 0, 0, "use a seeded sample of this many images per task (0: all)")
	parallel := intFlag(fs, "parallel-tasks", 0, 0, "tasks conditioned at once, sharing --threads (0: min(tasks, threads))")
	deprecatedAlias(fs, "parallel", "parallel-tasks")
	seed := fs.Uint64("seed", 0, "seed of the batch order")
	dtype := dtypeFlag(fs, "output dtype: f32, f16, bf16 (default: the task's)")
	force := fs.Bool("force", false, "replace existing outputs")
	quiet := addQuietFlag(fs)
	asJSON := addJSONFlag(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	n := len(tasks)
	if *base == "" || n == 0 || len(heads) == 0 || len(sets) == 0 {
		fs.Usage()
		return errors.New("--base and, per task, --task, --head and --data are required")
	}
	for _, l := range []struct {
		name string
		v    *listFlag
	}{{"head", &heads}, {"data", &sets}, {"eval", &evals}} {
		if len(*l.v) == 1 && n > 1 {
			for len(*l.v) < n {
				*l.v = append(*l.v, (*l.v)[0])
			}
		}
		if len(*l.v) != 0 && len(*l.v) != n {
			return fmt.Errorf("--%s is given %d times for %d tasks (give it once, or once per task)", l.name, len(*l.v), n)
		}
	}
	paths, err := conditionOutputs(tasks, outs, *outDir)
	if err != nil {
		return err
	}
	o := def
	o.Kappa, o.TargetNorm, o.Stretch, o.Anchor = *kappa, *target, *stretch, float32(*beta)
	o.TTcr, o.TStu = float32(*tTcr), float32(*tStu)
	if *confidence {
		o.TTcr, o.TStu = 1, 10
	}
	o.LR, o.Steps, o.Batch, o.Warmup, o.Clip, o.Parallel, o.Seed = *lr, *steps, *batch, *warmup, *clip, *parallel, *seed
	o.Threads = mf.threads
	o.NewEngine = func(threads int) (model.Engine, error) { return openEngine(mf.backend, threads) }

	e, err := openEngine(mf.backend, mf.threads)
	if err != nil {
		return err
	}
	bm, err := loadModel(e, *base, mf.config, mf.prefix)
	if err != nil {
		return err
	}
	defer bm.Close()
	// Each task keeps its own key prefix (the output is written like it)
	// unless --prefix sets one for all.
	var closers []*model.Loaded
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	inputs := append(bm.Paths(), mf.config)
	for _, tp := range tasks {
		tm, err := loadModel(e, tp, mf.config, mf.prefix)
		if err != nil {
			return err
		}
		closers = append(closers, tm)
		if tm.Config.JSON() != bm.Config.JSON() {
			return fmt.Errorf("%s: its model config differs from the base's", tp)
		}
		inputs = append(inputs, tm.Paths()...)
	}
	inputs = nonEmpty(append(append(append(inputs, heads...), sets...), evals...)...)
	if err := checkOutputs(paths, *force, inputs); err != nil {
		return err
	}
	// A set named for several tasks is read once; training only reads it.
	loaded := map[string]*data.Set{}
	load := func(spec string, max int) (*data.Set, error) {
		key := fmt.Sprintf("%d:%s", max, spec)
		if s, ok := loaded[key]; ok {
			return s, nil
		}
		s, err := mf.loadSet(spec, bm.Config, max, *seed)
		loaded[key] = s
		return s, err
	}
	ts := make([]train.Task, n)
	for i, tm := range closers {
		h, err := loadHeadFor(e, heads[i], bm.Config)
		if err != nil {
			return err
		}
		defer h.Free(e)
		in, err := load(sets[i], *maxImages)
		if err != nil {
			return err
		}
		ts[i] = train.Task{Name: taskName(tasks[i]), Params: tm.Params, Head: h, Inputs: in}
		if len(evals) > 0 {
			if ts[i].Eval, err = load(evals[i], 0); err != nil {
				return err
			}
		}
	}
	names := make([]string, n)
	for i := range ts {
		names[i] = ts[i].Name
	}
	bar := newProgress("condition", "step", names, *quiet)
	o.Progress = func(p train.ConditionProgress) {
		bar.set(p.Task, int64(p.Step), int64(p.Steps), fmt.Sprintf("KL %.4g", p.Loss))
	}
	start := time.Now()
	res, err := train.Condition(context.Background(), bm.Encoder, bm.Params, ts, o)
	bar.finish()
	if err != nil {
		return err
	}
	warm := o.Warmup
	if warm <= 0 {
		warm = o.Steps // train.Condition's default: a pure ramp
	}
	for i, r := range res {
		meta := map[string]string{"distac.condition": fmt.Sprintf("kappa=%g t_tcr=%g t_stu=%g beta=%g lr=%g warmup=%d steps=%d "+
			"batch=%d clip=%g seed=%d max_images=%d data=%s",
			r.Kappa, o.TTcr, o.TStu, o.Anchor, o.LR, warm, o.Steps, o.Batch, o.Clip, o.Seed, *maxImages, sets[i])}
		if err := model.SaveParams(e, bm.Config, r.Params, paths[i], model.SaveOptions{Prefix: closers[i].Prefix, DType: *dtype,
			Like: closers[i].Checkpoint, Meta: meta, Force: *force, Inputs: inputs}); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeJSON(os.Stdout, conditionJSON(res, paths, tasks, time.Since(start)))
	}
	printConditionSummary(os.Stdout, res, paths, time.Since(start))
	return nil
}

// conditioned is one task of condition's --json output.
type conditioned struct {
	Task       string    `json:"task"`
	Input      string    `json:"input"`
	Output     string    `json:"output"`
	Kappa      float64   `json:"kappa"`
	NormBefore float64   `json:"norm_before"`
	NormAfter  float64   `json:"norm_after"`
	KLFirst    *float64  `json:"kl_first,omitempty"`
	KLLast     *float64  `json:"kl_last,omitempty"`
	Skipped    string    `json:"not_distilled,omitempty"`
	Teacher    *evalJSON `json:"teacher,omitempty"`
	Scaled     *evalJSON `json:"scaled,omitempty"`
	Student    *evalJSON `json:"student,omitempty"`
	Seconds    float64   `json:"seconds"`
}

// evalJSON is a model's summary on a task's --eval images.
type evalJSON struct {
	MeanEntropy float64  `json:"mean_entropy"`
	Accuracy    *float64 `json:"accuracy,omitempty"` // labelled images only
}

func conditionJSON(res []*train.ConditionResult, paths, inputs []string, elapsed time.Duration) any {
	ev := func(m *train.Metrics) *evalJSON {
		if m == nil {
			return nil
		}
		e := &evalJSON{MeanEntropy: m.MeanEntropy}
		if m.Labelled {
			a := m.Accuracy
			e.Accuracy = &a
		}
		return e
	}
	out := struct {
		Seconds float64       `json:"seconds"`
		Tasks   []conditioned `json:"tasks"`
	}{Seconds: elapsed.Seconds()}
	for i, r := range res {
		c := conditioned{Task: r.Name, Input: inputs[i], Output: paths[i], Kappa: r.Kappa, NormBefore: r.NormBefore,
			NormAfter: r.NormAfter, Skipped: r.Skipped, Teacher: ev(r.Teacher), Scaled: ev(r.Scaled), Student: ev(r.Student),
			Seconds: r.Elapsed.Seconds()}
		if len(r.Losses) > 0 {
			c.KLFirst, c.KLLast = &r.Losses[0], &r.Losses[len(r.Losses)-1]
		}
		out.Tasks = append(out.Tasks, c)
	}
	return out
}

// conditionOutputs pairs every task with its output path.
func conditionOutputs(tasks, outs []string, dir string) ([]string, error) {
	switch {
	case len(outs) > 0 && dir != "":
		return nil, errors.New("give --out per task or --out-dir, not both")
	case len(outs) > 0:
		if len(outs) != len(tasks) {
			return nil, fmt.Errorf("%d --out for %d tasks", len(outs), len(tasks))
		}
		return outs, nil
	case dir != "":
		paths := make([]string, len(tasks))
		seen := map[string]bool{}
		for i, t := range tasks {
			paths[i] = filepath.Join(dir, taskName(t)+".distac.safetensors")
			if seen[paths[i]] {
				return nil, fmt.Errorf("two tasks would both write %s: use --out per task", paths[i])
			}
			seen[paths[i]] = true
		}
		return paths, nil
	}
	return nil, errors.New("--out (per task) or --out-dir is required")
}

// taskName is a checkpoint's file name without its extension.
func taskName(path string) string {
	b := filepath.Base(strings.TrimSuffix(path, string(filepath.Separator)))
	for _, ext := range []string{".safetensors", ".index.json"} {
		b = strings.TrimSuffix(b, ext)
	}
	return b
}

func printConditionSummary(w io.Writer, res []*train.ConditionResult, paths []string, elapsed time.Duration) {
	width := len("task")
	for _, r := range res {
		width = max(width, len(r.Name))
	}
	fmt.Fprintf(w, "conditioned %d tasks in %.1f s\n", len(res), elapsed.Seconds())
	fmt.Fprintf(w, "%-*s %6s %21s %9s %26s %24s\n", width, "task", "kappa", "norm before -> after", "KL last", "entropy tcr / scaled / stu", "acc tcr / scaled / stu")
	for i, r := range res {
		ent, acc := "-", "-"
		if r.Teacher != nil {
			ent = fmt.Sprintf("%.3f / %.3f / %.3f", r.Teacher.MeanEntropy, r.Scaled.MeanEntropy, r.Student.MeanEntropy)
			if r.Teacher.Labelled {
				acc = fmt.Sprintf("%.2f / %.2f / %.2f", 100*r.Teacher.Accuracy, 100*r.Scaled.Accuracy, 100*r.Student.Accuracy)
			}
		}
		kl := "-"
		if len(r.Losses) > 0 {
			kl = fmt.Sprintf("%.4g", r.Losses[len(r.Losses)-1])
		}
		fmt.Fprintf(w, "%-*s %6.3f %9.4g -> %-9.4g %9s %26s %24s\n", width, r.Name, r.Kappa, r.NormBefore, r.NormAfter,
			kl, ent, acc)
		if r.Skipped != "" {
			fmt.Fprintf(w, "  not distilled: %s\n", r.Skipped)
		}
		fmt.Fprintf(w, "  wrote %s\n", paths[i])
	}
}
