package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/distac/distac/distac/merge"
)

func init() {
	register("diagnose", "print task-vector norms, their max/min ratio and pairwise cosines; warn on norm mismatch", runDiagnose)
}

const diagnoseUsage = `usage: distac diagnose --base FILE --task FILE [--task FILE ...] [flags]

Prints ||tau_t|| for every task vector tau_t = theta_t - theta_0 (all float
tensors as one vector), the max/min norm ratio and the pairwise cosines. A
ratio above --warn-ratio signals DisTaC's norm-mismatch failure: the longest
task vector swamps the others in the merge (if tau_1 is orthogonal to tau_2
and |tau_1|/|tau_2| = d << 1, cos(merge, tau_1) <= d). Shrink the long ones
with 'distac condition' before merging. --json prints one object instead:
base, tasks (path, norm), min_norm, max_norm, norm_ratio (null if a task
vector is zero), norm_mismatch, cosines and, with --per-tensor, tensors.

Tensors some tasks lack or hold in another shape than the base stop it
(--mismatch error), as they stop a merge; --mismatch base leaves them out
of the norms, --mismatch common measures the leading rows every model has
(what merge --mismatch merges). Each such tensor is reported on stderr (and
under mismatches in --json) as merge reports it.

flags:
`

func runDiagnose(args []string) error {
	fs := newFlagSet("diagnose", diagnoseUsage)
	var tasks listFlag
	base := fs.String("base", "", "base model theta_0")
	fs.Var(&tasks, "task", "fine-tuned model theta_t (repeat for each task)")
	perTensor := fs.Bool("per-tensor", false, "also print every tensor's task-vector norms")
	warnRatio := floatFlag(fs, "warn-ratio", 2, nonNegative, "warn when max/min norm exceeds this")
	backend := addBackendFlag(fs)
	threads := addThreadsFlag(fs, "workers", "chunks read and reduced at once")
	mismatch := fs.String("mismatch", merge.MismatchError, "tensors some tasks lack or have resized: error, base (leave them out) or common (measure the rows all share)")
	asJSON := addJSONFlag(fs)
	quiet := addQuietFlag(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *base == "" || len(tasks) == 0 {
		fs.Usage()
		return errors.New("--base and at least one --task are required")
	}
	be, err := merge.OpenBackend(*backend)
	if err != nil {
		return err
	}
	bar := newProgress("diagnose", "", []string{"diagnose"}, *quiet)
	st, err := merge.Diagnose(context.Background(), *base, tasks,
		merge.DiagnoseOptions{Backend: be, Threads: *threads, Progress: bar.workFn(), Mismatch: strings.ToLower(*mismatch)})
	bar.finish()
	if err != nil {
		return err
	}
	for _, n := range st.Mismatches {
		fmt.Fprintf(os.Stderr, "distac diagnose: --mismatch %s: %s\n", strings.ToLower(*mismatch), n)
	}
	if *asJSON {
		return writeJSON(os.Stdout, st.Report(*base, *warnRatio, *perTensor))
	}
	printDiagnosis(os.Stdout, *base, st, *perTensor, *warnRatio)
	return nil
}

func printDiagnosis(w io.Writer, base string, st *merge.TaskStats, perTensor bool, warnRatio float64) {
	T := len(st.Tasks)
	fmt.Fprintf(w, "task vectors against %s\n\n", base)
	minNorm := st.Norms[0]
	for _, n := range st.Norms {
		minNorm = min(minNorm, n)
	}
	width := len("model")
	for _, p := range st.Tasks {
		width = max(width, len(p))
	}
	fmt.Fprintf(w, "%4s  %-*s %14s %9s\n", "task", width, "model", "||tau||", "/ min")
	for t, n := range st.Norms {
		rel := "-"
		if minNorm > 0 {
			rel = fmt.Sprintf("%.3f", n/minNorm)
		}
		fmt.Fprintf(w, "%4d  %-*s %14.6g %9s\n", t, width, st.Tasks[t], n, rel)
	}
	ratio := st.NormRatio()
	fmt.Fprintf(w, "\nmax/min norm ratio: %.3f\n", ratio)
	if ratio > warnRatio {
		fmt.Fprintf(w, "WARNING: norm ratio %.2f > %g: the longest task vector will dominate the merge (norm mismatch).\n"+
			"         Condition the tasks with DisTaC (shrink the long ones toward the others' mean norm) before merging.\n", ratio, warnRatio)
	}
	if T > 1 {
		fmt.Fprintf(w, "\npairwise cosine\n%4s", "")
		for j := 0; j < T; j++ {
			fmt.Fprintf(w, " %7d", j)
		}
		fmt.Fprintln(w)
		for i := 0; i < T; i++ {
			fmt.Fprintf(w, "%4d", i)
			for j := 0; j < T; j++ {
				fmt.Fprintf(w, " %7.4f", st.Cosine(i, j))
			}
			fmt.Fprintln(w)
		}
	}
	if perTensor {
		tw := len("tensor")
		for _, tn := range st.Tensors {
			tw = max(tw, len(tn.Name))
		}
		fmt.Fprintf(w, "\nper-tensor ||tau||\n%-*s", tw, "tensor")
		for t := 0; t < T; t++ {
			fmt.Fprintf(w, " %12d", t)
		}
		fmt.Fprintln(w)
		for _, tn := range st.Tensors {
			fmt.Fprintf(w, "%-*s", tw, tn.Name)
			for _, n := range tn.Norms {
				fmt.Fprintf(w, " %12.6g", n)
			}
			fmt.Fprintln(w)
		}
	}
}
