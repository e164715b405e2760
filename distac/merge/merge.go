package merge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
)

// Options configures Run.
type Options struct {
	Method string   // a method's name (see Methods)
	Base   string   // base checkpoint theta_0
	Tasks  []string // fine-tuned checkpoints theta_t
	Out    string   // output .safetensors (shards and an index beside it when sharded)
	Alpha  float64  // theta = theta_0 + Alpha * delta
	// Params holds the method's parameters by key, as text ("k": "20",
	// "lambda": "0.3,0.4"); those absent take their defaults. A key the
	// method does not have is an error.
	Params map[string]string

	OutDType  string // "", "f32", "f16" or "bf16" ("": each tensor keeps the base's dtype)
	ShardSize int64  // bytes per output shard; <= 0: one file
	Force     bool   // replace an existing output (never an input)
	// Mismatch is the policy for tensors some tasks lack or hold in another
	// shape than the base: MismatchError ("" too), MismatchBase or
	// MismatchCommon; Report.Mismatches says what it did.
	Mismatch string

	Backend    ffi.Backend             // where the element-wise work runs
	Threads    int                     // concurrent tensors/chunks; <= 0: GOMAXPROCS
	ChunkElems int                     // elements per streamed chunk; <= 0: the backend's choice
	Progress   func(done, total int64) // work done of total (bytes read; an SVD method's matrices also count their flops), any goroutine

	tiesSample int64 // tests: entries sampled per task for the TIES windows (0: tiesSampleSize)
	tiesMiss   bool  // tests: place every TIES window where the threshold is not
}

// Report summarises a finished merge.
type Report struct {
	Outputs    []string      // files written (shards, then the index)
	Tensors    int           // tensors written
	Carried    int           // integer tensors copied from the base
	TaskNorms  []float64     // ||tau_t||_2 over all float tensors
	Thresholds []float32     // TIES: per-task magnitude thresholds
	BytesIn    int64         // bytes of base and task tensors (one pass)
	Elapsed    time.Duration // wall time of the merge
	Params     Values        // the method's parameters, defaults filled in
	Mismatches []string      // per tensor a mismatch policy took from the base or merged in part, what it did
	// TIES: full passes over the task vectors spent on the thresholds, besides
	// a small sample: 1 when every threshold fell in its predicted window, 3
	// when some task needed the exact radix select.
	ThresholdPasses int
	// EMR: lambda_t per task, and the modulators file ("" for RunMemory).
	Scales     []float64
	Modulators string
}

// Summary is rep as the CLI's --json and the C API give it, with o the
// options it ran with.
func (rep *Report) Summary(o *Options) Summary {
	r := Summary{Method: o.Method, Alpha: o.Alpha, Params: rep.Params, Base: o.Base, Outputs: rep.Outputs,
		Tensors: rep.Tensors, Carried: rep.Carried, BytesRead: rep.BytesIn, Seconds: rep.Elapsed.Seconds(),
		TiesPasses: rep.ThresholdPasses, Modulators: rep.Modulators}
	for t, n := range rep.TaskNorms {
		mt := SummaryTask{Norm: n}
		if t < len(o.Tasks) { // RunMemory's options name no files
			mt.Path = o.Tasks[t]
		}
		if rep.Thresholds != nil {
			mt.TiesThreshold = &rep.Thresholds[t]
		}
		if rep.Scales != nil {
			mt.EMRScale = &rep.Scales[t]
		}
		r.Tasks = append(r.Tasks, mt)
	}
	return r
}

// Summary is a finished merge in JSON form (Report.Summary).
type Summary struct {
	Method     string        `json:"method"`
	Alpha      float64       `json:"alpha"`
	Params     Values        `json:"params"`
	Base       string        `json:"base"`
	Tasks      []SummaryTask `json:"tasks"`
	Outputs    []string      `json:"outputs"`
	Tensors    int           `json:"tensors"`
	Carried    int           `json:"integer_tensors_copied"`
	BytesRead  int64         `json:"bytes_read"`
	Seconds    float64       `json:"seconds"`
	TiesPasses int           `json:"ties_threshold_passes,omitempty"`
	Modulators string        `json:"modulators,omitempty"` // EMR's per-task modulators file
}

// SummaryTask is one task of a Summary.
type SummaryTask struct {
	Path          string   `json:"path"`
	Norm          float64  `json:"norm"`
	TiesThreshold *float32 `json:"ties_threshold,omitempty"`
	EMRScale      *float64 `json:"emr_scale,omitempty"`
}

// ErrCancelled is wrapped by the error of a merge stopped by its context.
var ErrCancelled = errors.New("cancelled")

// ErrMismatch is wrapped by the error for inputs that are not one model:
// a tensor of the base missing from a task (or the other way round), or of
// another dtype or shape, a float type a merge cannot compute in, tasks
// normalising their inputs unlike the base.
var ErrMismatch = errors.New("inputs do not match")

// ErrNonFinite is wrapped by the error for a NaN or an infinity: in a task
// vector or the base, or a merged value that the output dtype cannot hold.
var ErrNonFinite = errors.New("not finite")

// validate checks the options that do not need the files, and resolves the
// method and its parameters. A merge in memory (files false) takes no
// paths.
func (o *Options) validate(files bool) (*Method, Values, error) {
	method, err := Lookup(o.Method)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case files && o.Base == "":
		return nil, nil, errors.New("no base model")
	case len(o.Tasks) == 0:
		return nil, nil, errors.New("no task models")
	case files && o.Out == "":
		return nil, nil, errors.New("no output file")
	case o.Backend == nil:
		return nil, nil, errors.New("no backend")
	case math.IsNaN(o.Alpha) || math.IsInf(o.Alpha, 0):
		return nil, nil, fmt.Errorf("alpha %v is not finite", o.Alpha)
	}
	if _, _, err := checkpoint.ParseOutDType(o.OutDType); err != nil {
		return nil, nil, err
	}
	v, err := method.Resolve(o.Params, len(o.Tasks))
	if err != nil {
		return nil, nil, err
	}
	return method, v, nil
}

// Run merges the task models into the base with opts.Method and writes the
// result to opts.Out. Cancelling ctx stops it between chunks (the error
// wraps ErrCancelled). On any error nothing is left at the output paths (an
// existing output replaced with Force stays as it was).
func Run(ctx context.Context, opts Options) (*Report, error) {
	start := time.Now()
	method, values, err := opts.validate(true)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	base, err := checkpoint.Open(opts.Base)
	if err != nil {
		return nil, fmt.Errorf("merge: base: %w", err)
	}
	defer base.Close()
	tasks := make([]*checkpoint.Checkpoint, len(opts.Tasks))
	defer func() {
		for _, c := range tasks {
			c.Close()
		}
	}()
	for i, p := range opts.Tasks {
		if tasks[i], err = checkpoint.Open(p); err != nil {
			return nil, fmt.Errorf("merge: task %d: %w", i, err)
		}
	}
	return run(ctx, &opts, method, values, base, tasks, createFiles(&opts), start)
}

// RunMemory merges as Run does, reading base and tasks (checkpoint.FromMemory
// gives them from a caller's buffers, with no copy) and writing every output
// tensor into out[name], which must hold it in the output dtype (OutDType,
// or the base tensor's). opts.Base, Tasks and Out are not used: the report
// names the checkpoints by their Path. The results have the same bits as
// Run's on files holding the same tensors, for every method. On error the
// buffers of out hold an unfinished result.
func RunMemory(ctx context.Context, opts Options, base *checkpoint.Checkpoint, tasks []*checkpoint.Checkpoint, out map[string][]byte) (*Report, error) {
	start := time.Now()
	opts.Base, opts.Tasks, opts.Out = base.Path, nil, ""
	for _, t := range tasks {
		opts.Tasks = append(opts.Tasks, t.Path)
	}
	method, values, err := opts.validate(false)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return run(ctx, &opts, method, values, base, tasks, func(outs []checkpoint.OutTensor, _ map[string]string, _ []string) (output, error) {
		return checkpoint.NewMemoryWriter(outs, out)
	}, start)
}

// run plans and runs a merge over open checkpoints into the output create
// makes (see newMerger).
func run(ctx context.Context, opts *Options, method *Method, values Values, base *checkpoint.Checkpoint, tasks []*checkpoint.Checkpoint,
	create func([]checkpoint.OutTensor, map[string]string, []string) (output, error), start time.Time) (*Report, error) {
	m, err := newMerger(ctx, opts, method, values, base, tasks, create)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	rep, err := m.run()
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}
