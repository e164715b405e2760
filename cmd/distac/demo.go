package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/distac/distac/distac/demo"
)

func init() {
	register("demo", "reproduce merging's two failure modes and DisTaC's recovery on real data, with a report", runDemo)
}

const demoUsage = `usage: distac demo [--workdir DIR] [--seed S] [--tasks a,b,...] [--steps N] [--precision f32|bf16] [--quick]

Pre-trains a small ViT without labels (rotation prediction) on images of
every task, builds each task's frozen prototype head, fine-tunes every task
three ways (ideal; norm mismatch: some tasks with a larger learning rate;
low confidence: label smoothing and mixup), conditions with DisTaC, merges
with TA, TIES, Consensus, TSV-M, Iso-C, WUDI and EMR (alpha and lambda chosen on
validation), evaluates on test and temperature-scales the merged models.
Prints the table, and writes results.json and report.html to the work
directory. Models are cached there: a rerun reuses what did not change.

flags:
`

func runDemo(args []string) error {
	fs := newFlagSet("demo", demoUsage)
	workdir := fs.String("workdir", "distac-demo", "work directory for models, results.json and report.html")
	seed := fs.Uint64("seed", 0, "seed of splits, initialisation, batches and mixup")
	tasks := fs.String("tasks", strings.Join(demo.DefaultTasks, ","), "built-in data sets to merge (comma-separated)")
	steps := intFlag(fs, "steps", 0, 0, "DisTaC steps per task (0: the recipe's)")
	quick := fs.Bool("quick", false, "tiny sizes: a smoke test of the pipeline, not the real numbers")
	recipe := fs.String("recipe", "", "JSON file overriding settings of the recipe (the \"recipe\" object of results.json)")
	precision := precisionFlag(fs, "", "arithmetic of DisTaC's steps: f32, or bf16 (bf16 GEMM operands, fp32 sums) (default: the recipe's, f32)")
	backend := addBackendFlag(fs)
	quiet := addQuietFlag(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	r := demo.DefaultRecipe()
	if *quick {
		r = demo.QuickRecipe()
	}
	if *recipe != "" {
		b, err := os.ReadFile(*recipe)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("%s: %w", *recipe, err)
		}
	}
	if *steps > 0 {
		r.DisTaC.Steps = *steps
	}
	if *precision != "" {
		r.DisTaC.Precision = *precision
	}
	o := demo.Options{Workdir: *workdir, Seed: *seed, Tasks: splitList(*tasks), Recipe: r, Backend: *backend}
	if !*quiet {
		o.Log = os.Stderr
		if isTerminal(os.Stderr) {
			bars := &demoBars{}
			o.Bar = bars.update
			defer bars.finish()
		}
	}
	res, err := demo.Run(o)
	if err != nil {
		return err
	}
	res.WriteTable(os.Stdout)
	fmt.Printf("\n%.0f s; wrote %s and %s\n", res.Elapsed, filepath.Join(*workdir, "results.json"), filepath.Join(*workdir, "report.html"))
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// demoBars keeps one step bar per stage.
type demoBars struct {
	mu   sync.Mutex
	bars map[string]*stepBar
}

func (d *demoBars) update(stage string, done, total int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bars == nil {
		d.bars = map[string]*stepBar{}
	}
	b, ok := d.bars[stage]
	if !ok {
		b = newStepBar(stage, total, false)
		d.bars[stage] = b
	}
	b.step(0)
	if done == total {
		b.finish()
	}
}

func (d *demoBars) finish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range d.bars {
		b.finish()
	}
}
