package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/sys/unix"

	"github.com/distac/distac/distac"
	"github.com/distac/distac/ffi"
)

func init() {
	register("merge", "merge fine-tuned models into their base (mean, ta, ties, consensus, tsvm, isoc, isocts, dare)", runMerge)
}

// listFlag collects a repeated flag (--task A --task B).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// floatsFlag is "0.4" or "0.3,0.4,0.5".
type floatsFlag []float64

func (f *floatsFlag) String() string {
	var s []string
	for _, x := range *f {
		s = append(s, strconv.FormatFloat(x, 'g', -1, 64))
	}
	return strings.Join(s, ",")
}

func (f *floatsFlag) Set(s string) error {
	*f = nil
	for _, p := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", p)
		}
		*f = append(*f, x)
	}
	return nil
}

const mergeUsage = `usage: distac merge --method M --base FILE --task FILE [--task FILE ...] --alpha A --out FILE [flags]
       distac merge --config merge.yaml [flags that override it]

Writes theta = theta_0 + alpha * delta, with delta from the task vectors
tau_t = theta_t - theta_0 by --method:
  mean       sum_t tau_t / T
  ta         task arithmetic: sum_t tau_t
  ties       keep the top --k % of each task vector, elect signs, disjoint mean
  consensus  TALL masks |tau_t| > lambda_t |tau_MTL - tau_t|, agreement >= 2
  tsvm       task singular vectors: top r/T triplets per task, orthogonalised
  isoc       isotropic: the sum's singular vectors with a flat spectrum
  isocts     Iso-CTS: common + task-specific subspaces, flat spectrum
  dare       drop --drop of each task vector (seeded), rescale 1/(1-p), sum

Inputs are .safetensors files, *.index.json of sharded models, or directories.
The output is written beside its target and renamed into place when complete;
an existing output needs --force, and an input is never overwritten.

flags:
`

func runMerge(args []string) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), mergeUsage)
		fs.PrintDefaults()
	}
	def := distac.DefaultMergeOptions()
	var tasks listFlag
	lambdas := floatsFlag(def.Lambdas)
	config := fs.String("config", "", "YAML or JSON file with the merge's settings (flags given as well override it)")
	method := fs.String("method", def.Method, "merge method: "+strings.Join(distac.Methods, ", "))
	base := fs.String("base", "", "base model theta_0")
	fs.Var(&tasks, "task", "fine-tuned model theta_t (repeat for each task)")
	alpha := fs.Float64("alpha", def.Alpha, "scale of the merged task vector")
	k := fs.Float64("k", def.K, "ties: percent of each task vector's entries kept (by magnitude, over the whole model)")
	fs.Var(&lambdas, "lambda", "consensus: TALL mask lambda, one value or one per task (comma-separated)")
	minAgree := fs.Int("min-agree", def.MinAgree, "consensus: minimum number of agreeing task masks")
	drop := fs.Float64("drop", def.Drop, "dare: drop rate p, 0 <= p < 1")
	seed := fs.Uint64("seed", 0, "dare: seed of the drop mask")
	common := fs.Float64("common-fraction", def.CommonFraction, "isocts: fraction of the rank given to the common subspace")
	dtype := fs.String("dtype", "", "output dtype of float tensors: f32, f16 or bf16 (default: the base model's)")
	shard := fs.String("shard-size", "0", "split the output into shards of at most this size (e.g. 5GB, 500MiB; 0: one file)")
	backend := fs.String("backend", "cpu", "compute backend: cpu (best of this CPU, or $DISTAC_CPU), ref, scalar, avx2, avx512")
	workers := fs.Int("workers", 0, "tensors or chunks processed at once (0: one per CPU)")
	chunk := fs.Int("chunk", 0, "elements per streamed chunk of a tensor (0: the default, 1<<16)")
	force := fs.Bool("force", false, "replace an existing output file")
	quiet := fs.Bool("quiet", false, "no progress bar")
	out := fs.String("out", "", "output .safetensors file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags start with -)", fs.Args())
	}

	// Defaults, then the config file, then the flags given on the command line.
	opts := def
	beName, wantQuiet := *backend, *quiet
	if *config != "" {
		c, err := distac.LoadMergeConfig(*config)
		if err != nil {
			return err
		}
		if err := c.Apply(&opts); err != nil {
			return fmt.Errorf("%s: %w", *config, err)
		}
		if c.Backend != "" {
			beName = c.Backend
		}
		if c.Quiet != nil {
			wantQuiet = *c.Quiet
		}
	}
	var sizeErr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "method":
			opts.Method = strings.ToLower(*method)
		case "base":
			opts.Base = *base
		case "task":
			opts.Tasks = tasks
		case "alpha":
			opts.Alpha = *alpha
		case "k":
			opts.K = *k
		case "lambda":
			opts.Lambdas = lambdas
		case "min-agree":
			opts.MinAgree = *minAgree
		case "drop":
			opts.Drop = *drop
		case "seed":
			opts.Seed = *seed
		case "common-fraction":
			opts.CommonFraction = *common
		case "dtype":
			opts.OutDType = *dtype
		case "shard-size":
			opts.ShardSize, sizeErr = distac.ParseSize(*shard)
		case "workers":
			opts.Workers = *workers
		case "chunk":
			opts.ChunkElems = *chunk
		case "force":
			opts.Force = *force
		case "out":
			opts.Out = *out
		case "backend":
			beName = *backend
		case "quiet":
			wantQuiet = *quiet
		}
	})
	if sizeErr != nil {
		return fmt.Errorf("--shard-size: %w", sizeErr)
	}
	if opts.Base == "" || len(opts.Tasks) == 0 || opts.Out == "" {
		fs.Usage()
		return errors.New("--base, at least one --task and --out are required")
	}
	// Ops run one thread each: the merge itself runs --workers chunks at once.
	be, err := ffi.Open(beName, 1)
	if err != nil {
		return err
	}
	opts.Backend = be
	var bar *progressBar
	if !wantQuiet && isTerminal(os.Stderr) {
		bar = &progressBar{desc: opts.Method}
		opts.Progress = bar.update
	}
	rep, err := distac.Merge(opts)
	bar.finish()
	if err != nil {
		return err
	}
	printMergeReport(os.Stdout, &opts, rep)
	return nil
}

func printMergeReport(w io.Writer, o *distac.MergeOptions, rep *distac.MergeReport) {
	secs := rep.Elapsed.Seconds()
	fmt.Fprintf(w, "merged %d models into %s with %s (alpha %g): %d tensors (%d integer, copied from the base)\n",
		len(o.Tasks), o.Base, o.Method, o.Alpha, rep.Tensors, rep.Carried)
	fmt.Fprintf(w, "read %s of tensors in %.2f s (%s/s)\n", humanBytes(float64(rep.BytesIn)), secs, humanBytes(float64(rep.BytesIn)/max(secs, 1e-9)))
	if rep.Thresholds != nil && rep.ThresholdPasses > 0 {
		fmt.Fprintf(w, "ties thresholds: exact, from a sample and %d full pass(es) over the task vectors\n", rep.ThresholdPasses)
	}
	for t, n := range rep.TaskNorms {
		line := fmt.Sprintf("  task %d %-40s ||tau|| = %.6g", t, o.Tasks[t], n)
		if rep.Thresholds != nil {
			line += fmt.Sprintf("  ties threshold %.6g", rep.Thresholds[t])
		}
		fmt.Fprintln(w, line)
	}
	for _, p := range rep.Outputs {
		fmt.Fprintln(w, "wrote", p)
	}
}

// humanBytes formats a byte count with a decimal unit.
func humanBytes(b float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for b >= 1000 && i < len(units)-1 {
		b /= 1000
		i++
	}
	return fmt.Sprintf("%.3g %s", b, units[i])
}

// progressBar draws on stderr once the merge reports its total.
type progressBar struct {
	desc string
	once sync.Once
	mu   sync.Mutex
	bar  *progressbar.ProgressBar
}

func (p *progressBar) update(done, total int64) {
	p.once.Do(func() {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.bar.State().CurrentNum; done > cur { // workers report out of order
		_ = p.bar.Set64(done)
	}
}

func (p *progressBar) finish() {
	if p == nil || p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Finish()
}

// isTerminal reports whether f is a terminal (the bar is off otherwise).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
