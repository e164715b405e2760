package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
)

func init() {
	register("condition", "DisTaC: shrink long task vectors and distil the models to be confident, before merging", runCondition)
}

const conditionUsage = `usage: distac condition --base BASE --task FT --head HEAD --data SET [--task FT --head HEAD --data SET ...]
                        (--out FILE ... | --out-dir DIR) [flags]
       distac condition --config job.yaml [flags that override it]

For every task: kappa = (mean norm of the other task vectors) / ||tau_t||,
capped at 1 (shrink only; --kappa or --target-norm override it); the
student starts at theta_0 + kappa * tau_t and is distilled from the
fine-tuned teacher on the task's unlabelled images with
  T_tcr * T_stu * KL(softmax(z_tcr / T_tcr) || softmax(z_stu / T_stu)),
Adam with a linear warm-up, global-norm clip 1, and the anchor
beta * ||theta - theta_init||^2. --confidence selects (T_tcr, T_stu) = (1, 10),
which leaves the student more confident than its teacher; the default (10, 10)
restores accuracy after the shrink. Tasks run in parallel over the CPUs,
sharing the base model. --precision bf16 runs the step's matrix products on
bf16 operands with fp32 sums (fp32 weights, loss and Adam): faster on CPUs
with AVX512_BF16, the same numbers at fp32 speed elsewhere.

--head and --data (and --eval) are given once per task, or once for all.
Labels in --data are ignored; --eval images with labels add accuracies to
the summary. A --config file names the flags' settings by key (base, tasks,
heads, data, eval, outs, out_dir, t_tcr, max_images, ...; heads, data and
eval one value or one per task), paths relative to the file.

flags:
`

func runCondition(args []string) error {
	fs := newFlagSet("condition", conditionUsage)
	config := fs.String("config", "", "YAML or JSON file with the job's settings, keys named as the flags (tasks, heads, outs, out_dir, t_tcr, ...); flags given as well override it")
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
	precision := precisionFlag(fs, model.F32, "arithmetic of the step's matrix products: f32, or bf16 (bf16 operands, fp32 sums, fp32 everything else)")
	force := fs.Bool("force", false, "replace existing outputs")
	quiet := addQuietFlag(fs)
	asJSON := addJSONFlag(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	// The defaults, then the config file, then the flags given.
	job := train.ConditionJob{Backend: "auto", Options: def}
	if *config != "" {
		j, err := train.LoadConditionConfig(*config)
		if err != nil {
			return err
		}
		job = *j
	}
	o := &job.Options
	fs.Visit(func(f *flag.Flag) {
		switch canonical(f) {
		case "base":
			job.Base = *base
		case "task":
			job.Tasks = tasks
		case "head":
			job.Heads = heads
		case "data":
			job.Data = sets
		case "eval":
			job.Eval = evals
		case "out":
			job.Outs = outs
		case "out-dir":
			job.OutDir = *outDir
		case "model-config":
			job.ModelConfig = mf.config
		case "prefix":
			if mf.prefix != "-" {
				job.Prefix = &mf.prefix
			}
		case "backend":
			job.Backend = mf.backend
		case "threads":
			job.Threads = mf.threads
		case "max-pixels":
			job.MaxPixels = mf.maxPixels
		case "max-images":
			job.MaxImages = *maxImages
		case "dtype":
			job.DType = *dtype
		case "force":
			job.Force = *force
		case "kappa":
			o.Kappa = *kappa
		case "target-norm":
			o.TargetNorm = *target
		case "stretch":
			o.Stretch = *stretch
		case "t-tcr":
			o.TTcr = float32(*tTcr)
		case "t-stu":
			o.TStu = float32(*tStu)
		case "beta":
			o.Anchor = float32(*beta)
		case "lr":
			o.LR = *lr
		case "steps":
			o.Steps = *steps
		case "batch":
			o.Batch = *batch
		case "warmup":
			o.Warmup = *warmup
		case "clip":
			o.Clip = *clip
		case "parallel-tasks":
			o.Parallel = *parallel
		case "seed":
			o.Seed = *seed
		case "precision":
			o.Precision = *precision
		}
	})
	if *confidence {
		o.TTcr, o.TStu = 1, 10
	}
	if job.Base == "" || len(job.Tasks) == 0 || len(job.Heads) == 0 || len(job.Data) == 0 {
		fs.Usage()
		return errors.New("--base and, per task, --task, --head and --data are required")
	}
	// Errors in the flags' terms before anything is opened.
	for _, l := range []struct {
		name string
		v    []string
	}{{"head", job.Heads}, {"data", job.Data}, {"eval", job.Eval}} {
		if len(l.v) > 1 && len(l.v) != len(job.Tasks) {
			return fmt.Errorf("--%s is given %d times for %d tasks (give it once, or once per task)", l.name, len(l.v), len(job.Tasks))
		}
	}
	if len(job.Outs) > 0 && job.OutDir != "" {
		return errors.New("give --out per task or --out-dir, not both")
	}
	if len(job.Outs) == 0 && job.OutDir == "" {
		return errors.New("--out (per task) or --out-dir is required")
	}
	if len(job.Outs) > 0 && len(job.Outs) != len(job.Tasks) {
		return fmt.Errorf("%d --out for %d tasks", len(job.Outs), len(job.Tasks))
	}
	if _, err := job.OutputPaths(); err != nil { // two tasks of one name under --out-dir
		return fmt.Errorf("%w: use --out per task", err)
	}
	names := make([]string, len(job.Tasks))
	for i, t := range job.Tasks {
		names[i] = train.TaskName(t)
	}
	bar := newProgress("condition", "step", names, *quiet)
	o.Progress = func(p train.ConditionProgress) {
		bar.set(p.Task, int64(p.Step), int64(p.Steps), fmt.Sprintf("KL %.4g", p.Loss))
	}
	job.Opened = func(path string, m *model.Loaded) { warnNoPreprocess(path, m) }
	rep, err := train.RunConditionJob(context.Background(), job)
	bar.finish()
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(os.Stdout, rep)
	}
	printConditionSummary(os.Stdout, rep)
	return nil
}

func printConditionSummary(w io.Writer, rep *train.ConditionReport) {
	width := len("task")
	for _, t := range rep.Tasks {
		width = max(width, len(t.Task))
	}
	fmt.Fprintf(w, "conditioned %d tasks in %.1f s\n", len(rep.Tasks), rep.Seconds)
	fmt.Fprintf(w, "%-*s %6s %21s %9s %26s %24s\n", width, "task", "kappa", "norm before -> after", "KL last", "entropy tcr / scaled / stu", "acc tcr / scaled / stu")
	for _, t := range rep.Tasks {
		r := t.Result
		ent, acc := "-", "-"
		if r.Teacher != nil {
			ent = fmt.Sprintf("%.3f / %.3f / %.3f", r.Teacher.MeanEntropy, r.Scaled.MeanEntropy, r.Student.MeanEntropy)
			if r.Teacher.Labelled {
				acc = fmt.Sprintf("%.2f / %.2f / %.2f", 100*r.Teacher.Accuracy, 100*r.Scaled.Accuracy, 100*r.Student.Accuracy)
			}
		}
		kl := "-"
		if t.KLLast != nil {
			kl = fmt.Sprintf("%.4g", *t.KLLast)
		}
		fmt.Fprintf(w, "%-*s %6.3f %9.4g -> %-9.4g %9s %26s %24s\n", width, t.Task, t.Kappa, t.NormBefore, t.NormAfter,
			kl, ent, acc)
		if t.Skipped != "" {
			fmt.Fprintf(w, "  not distilled: %s\n", t.Skipped)
		}
		fmt.Fprintf(w, "  wrote %s\n", t.Output)
	}
}
