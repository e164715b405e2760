package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/merge"
	"github.com/distac/distac/ffi"
)

func init() {
	register("merge", "merge fine-tuned models into their base (mean, ta, ties, consensus, tsvm, isoc, isocts, dare, mergekit's methods, ...)", runMerge)
}

// mergeUsage is the command's help; the methods' lines come from their
// definitions.
func mergeUsage() string {
	var b strings.Builder
	b.WriteString(`usage: distac merge --method M --base FILE --task FILE [--task FILE ...] --alpha A --out FILE [flags]
       distac merge --config merge.yaml [flags that override it]
       distac merge --config mergekit.yml --out FILE   (a config in mergekit's schema)

Writes theta = theta_0 + alpha * delta, with delta from the task vectors
tau_t = theta_t - theta_0 by --method:
`)
	for _, m := range merge.Methods {
		fmt.Fprintf(&b, "  %-10s %s\n", m.Name, m.Doc)
	}
	b.WriteString(`
Inputs are .safetensors files, *.index.json of sharded models, or directories.
The output is written beside its target and renamed into place when complete;
an existing output needs --force, and an input is never overwritten. A
parameter of another method than --method is an error on the command line;
from a --config file it is ignored with a note (one file may serve several
methods).

flags:
`)
	return b.String()
}

func runMerge(args []string) error {
	fs := newFlagSet("merge", mergeUsage())
	var tasks listFlag
	config := fs.String("config", "", "YAML or JSON file with the merge's settings, distac's or mergekit's schema (flags given as well override it)")
	method := fs.String("method", merge.MethodTA, "merge method: "+strings.Join(merge.MethodNames(), ", "))
	base := fs.String("base", "", "base model theta_0")
	fs.Var(&tasks, "task", "fine-tuned model theta_t (repeat for each task)")
	alpha := floatFlag(fs, "alpha", 1, finite, "scale of the merged task vector")
	params := map[string]*textFlag{} // flag name -> value, every method's parameters
	keyOf := map[string]string{}     // flag name -> parameter key
	for _, p := range merge.AllParams() {
		f := &textFlag{value: p.Default}
		params[p.Flag()], keyOf[p.Flag()] = f, p.Key
		fs.Var(f, p.Flag(), strings.Join(p.Methods, ", ")+": "+p.Usage)
	}
	dtype := dtypeFlag(fs, "output dtype of float tensors: f32, f16 or bf16 (default: the base model's)")
	shard := fs.String("shard-size", "0", "split the output into shards of at most this size (e.g. 5GB, 500MiB; 0: one file)")
	backend := addBackendFlag(fs)
	threads := addThreadsFlag(fs, "workers", "tensors or chunks merged at once, one kernel thread each")
	chunk := intFlag(fs, "chunk", 0, 0, "elements per streamed chunk of a tensor (0: the backend's choice, 1<<16 on a CPU)")
	mismatch := fs.String("mismatch", merge.MismatchError, "tensors some tasks lack or have resized: error, base (take the base's) or common (merge the rows all share, the rest from the base)")
	force := fs.Bool("force", false, "replace an existing output file")
	quiet := addQuietFlag(fs)
	asJSON := addJSONFlag(fs)
	out := fs.String("out", "", "output .safetensors file, or a folder (DIR: shards and index as transformers writes them, and the base folder's config and tokenizer files)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}

	// Defaults, then the config file, then the flags given on the command line.
	opts := merge.DefaultOptions()
	beName, wantQuiet := *backend, *quiet
	var c *merge.Config
	if *config != "" {
		var err error
		if c, err = merge.LoadConfig(*config); err != nil {
			return err
		}
		if err := c.Apply(&opts); err != nil {
			return fmt.Errorf("%s: %w", *config, err)
		}
		for _, n := range c.Notes {
			fmt.Fprintf(os.Stderr, "distac merge: %s: %s\n", *config, n)
		}
		if c.Backend != "" {
			beName = c.Backend
		}
		if c.Quiet != nil {
			wantQuiet = *c.Quiet
		}
	}
	var sizeErr error
	fromFlags := map[string]bool{} // parameters the flags set
	fs.Visit(func(f *flag.Flag) {
		if key, ok := keyOf[f.Name]; ok {
			if opts.Params == nil {
				opts.Params = map[string]string{}
			}
			opts.Params[key] = params[f.Name].value
			fromFlags[key] = true
			return
		}
		switch canonical(f) {
		case "method":
			opts.Method = strings.ToLower(*method)
		case "base":
			opts.Base = *base
		case "task":
			opts.Tasks = tasks
		case "alpha":
			opts.Alpha = *alpha
		case "dtype":
			opts.OutDType = *dtype
		case "shard-size":
			opts.ShardSize, sizeErr = checkpoint.ParseSize(*shard)
		case "threads":
			opts.Threads = *threads
		case "chunk":
			opts.ChunkElems = *chunk
		case "force":
			opts.Force = *force
		case "mismatch":
			opts.Mismatch = strings.ToLower(*mismatch)
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
	if c != nil {
		for _, n := range c.DropForeignParams(&opts, fromFlags) {
			fmt.Fprintf(os.Stderr, "distac merge: %s: %s\n", *config, n)
		}
	}
	if c != nil && c.Mergekit && opts.Out == "" {
		return fmt.Errorf("%s is a mergekit config, which names no output: give --out PATH (or distac's out: key in it)", *config)
	}
	if opts.Base == "" || len(opts.Tasks) == 0 || opts.Out == "" {
		fs.Usage()
		return errors.New("--base, at least one --task and --out are required")
	}
	be, err := merge.OpenBackend(beName)
	if err != nil {
		return err
	}
	opts.Backend = be
	if m, err := merge.Lookup(opts.Method); err == nil && m.UsesSVD() && be.Name() != "ref" {
		if desc, fast := merge.SVDEngine(be); !fast && os.Getenv(ffi.EnvLAPACK) == "" {
			fmt.Fprintf(os.Stderr, "distac merge: note: %s uses %s, 10-50x slower than LAPACK's path; "+
				"install libopenblas0 (Debian) for it\n", opts.Method, desc)
		}
	}
	bar := newProgress("merge", "", []string{opts.Method}, wantQuiet)
	opts.Progress = bar.workFn()
	rep, err := merge.Run(context.Background(), opts)
	bar.finish()
	if err != nil {
		return err
	}
	for _, n := range rep.Mismatches {
		fmt.Fprintf(os.Stderr, "distac merge: --mismatch %s: %s\n", opts.Mismatch, n)
	}
	if *asJSON {
		return writeJSON(os.Stdout, rep.Summary(&opts))
	}
	printMergeReport(os.Stdout, &opts, rep)
	return nil
}

func printMergeReport(w io.Writer, o *merge.Options, rep *merge.Report) {
	secs := rep.Elapsed.Seconds()
	fmt.Fprintf(w, "merged %d task models with %s (alpha %g) onto the base %s (unchanged): %d tensors (%d integer, copied from the base)\n",
		len(o.Tasks), o.Method, o.Alpha, o.Base, rep.Tensors, rep.Carried)
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
	for t, s := range rep.Scales {
		fmt.Fprintf(w, "  emr task %d scale lambda = %.6g\n", t, s)
	}
	for _, p := range rep.Outputs {
		fmt.Fprintln(w, "wrote", p)
	}
	if rep.Modulators != "" {
		fmt.Fprintln(w, "wrote", rep.Modulators, "(EMR's per-task modulators: distac eval --model BASE --modulators FILE --task-index i)")
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
