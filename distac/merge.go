package distac

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/distac/distac/ffi"
)

// ModelConfigKey and KeyPrefixKey are the __metadata__ keys under which
// distac's training commands record a checkpoint's model config (JSON) and
// the key prefix of its encoder tensors (package model reads them).
const (
	ModelConfigKey = "distac.model_config"
	KeyPrefixKey   = "distac.key_prefix"
)

// Merge methods, as the DisTaC paper evaluates them.
const (
	MethodMean      = "mean"      // delta = sum_t tau_t / T
	MethodTA        = "ta"        // task arithmetic: delta = sum_t tau_t
	MethodTIES      = "ties"      // trim top-k%, elect sign, disjoint mean
	MethodConsensus = "consensus" // TALL masks, agreement >= MinAgree
	MethodTSVM      = "tsvm"      // task singular vectors, merged
	MethodIsoC      = "isoc"      // isotropic: flat spectrum of the sum
	MethodIsoCTS    = "isocts"    // isotropic with common and task-specific subspaces
	MethodDARE      = "dare"      // drop rate p, rescale 1/(1-p), then sum
)

// Methods lists every merge method in the order the CLI shows them.
var Methods = []string{MethodMean, MethodTA, MethodTIES, MethodConsensus, MethodTSVM, MethodIsoC, MethodIsoCTS, MethodDARE}

// MergeOptions configures Merge. Zero values of the method parameters are
// not defaults: the CLI fills those in (see DefaultMergeOptions).
type MergeOptions struct {
	Method string
	Base   string   // base checkpoint theta_0
	Tasks  []string // fine-tuned checkpoints theta_t
	Out    string   // output .safetensors (shards and an index beside it when sharded)
	Alpha  float64  // theta = theta_0 + Alpha * delta

	K              float64   // TIES: percent of entries kept per task, in (0, 100]
	Lambdas        []float64 // Consensus: lambda_t, one for all tasks or one per task
	MinAgree       int       // Consensus: minimum number of agreeing task masks
	Drop           float64   // DARE: drop rate p in [0, 1)
	Seed           uint64    // DARE: mask seed
	CommonFraction float64   // Iso-CTS: fraction of the rank given to the common subspace

	OutDType  string // "", "f32", "f16" or "bf16" ("": each tensor keeps the base's dtype)
	ShardSize int64  // bytes per output shard; <= 0: one file
	Force     bool   // replace an existing output (never an input)

	Backend    ffi.Backend             // where the element-wise work runs
	Workers    int                     // concurrent tensors/chunks; <= 0: GOMAXPROCS
	ChunkElems int                     // elements per streamed chunk; <= 0: 1<<16
	Progress   func(done, total int64) // called with bytes processed so far (any goroutine)

	tiesSample int64 // tests: entries sampled per task for the TIES windows (0: tiesSampleSize)
	tiesMiss   bool  // tests: place every TIES window where the threshold is not
}

// DefaultMergeOptions returns the defaults of the method parameters.
func DefaultMergeOptions() MergeOptions {
	return MergeOptions{Method: MethodTA, Alpha: 1, K: 20, Lambdas: []float64{0.4}, MinAgree: 2, Drop: 0.9, CommonFraction: 0.8}
}

// MergeReport summarises a finished merge.
type MergeReport struct {
	Outputs    []string      // files written (shards, then the index)
	Tensors    int           // tensors written
	Carried    int           // integer tensors copied from the base
	TaskNorms  []float64     // ||tau_t||_2 over all float tensors
	Thresholds []float32     // TIES: per-task magnitude thresholds
	BytesIn    int64         // bytes of base and task tensors (one pass)
	Elapsed    time.Duration // wall time of the merge
	// TIES: full passes over the task vectors spent on the thresholds, besides
	// a small sample: 1 when every threshold fell in its predicted window, 3
	// when some task needed the exact radix select.
	ThresholdPasses int
}

// Params returns the method's parameters as recorded in the output's
// __metadata__.
func (o *MergeOptions) Params() map[string]string {
	p := map[string]string{"alpha": fmtFloat(o.Alpha)}
	switch o.Method {
	case MethodTIES:
		p["k"] = fmtFloat(o.K)
	case MethodConsensus:
		ls := make([]string, len(o.Lambdas))
		for i, l := range o.Lambdas {
			ls[i] = fmtFloat(l)
		}
		p["lambda"] = strings.Join(ls, ",")
		p["min_agree"] = strconv.Itoa(o.MinAgree)
	case MethodDARE:
		p["drop"] = fmtFloat(o.Drop)
		p["seed"] = strconv.FormatUint(o.Seed, 10)
	case MethodIsoCTS:
		p["common_fraction"] = fmtFloat(o.CommonFraction)
	}
	return p
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// validate checks the options that do not need the files.
func (o *MergeOptions) validate() error {
	known := false
	for _, m := range Methods {
		known = known || o.Method == m
	}
	switch {
	case !known:
		return fmt.Errorf("unknown method %q (want one of %s)", o.Method, strings.Join(Methods, ", "))
	case o.Base == "":
		return errors.New("no base model")
	case len(o.Tasks) == 0:
		return errors.New("no task models")
	case o.Out == "":
		return errors.New("no output file")
	case o.Backend == nil:
		return errors.New("no backend")
	case math.IsNaN(o.Alpha) || math.IsInf(o.Alpha, 0):
		return fmt.Errorf("alpha %v is not finite", o.Alpha)
	}
	if _, _, err := ParseOutDType(o.OutDType); err != nil {
		return err
	}
	switch o.Method {
	case MethodTIES:
		if !(o.K > 0 && o.K <= 100) {
			return fmt.Errorf("ties: k = %v, want a percentage in (0, 100]", o.K)
		}
	case MethodConsensus:
		if len(o.Tasks) > 255 {
			return fmt.Errorf("consensus: %d tasks, at most 255", len(o.Tasks))
		}
		if len(o.Lambdas) != 1 && len(o.Lambdas) != len(o.Tasks) {
			return fmt.Errorf("consensus: %d lambdas for %d tasks (give one, or one per task)", len(o.Lambdas), len(o.Tasks))
		}
		for _, l := range o.Lambdas {
			if !(l >= 0) || math.IsInf(l, 0) {
				return fmt.Errorf("consensus: lambda %v, want a finite value >= 0", l)
			}
		}
		if o.MinAgree < 1 {
			return fmt.Errorf("consensus: min agreement %d, want >= 1", o.MinAgree)
		}
	case MethodDARE:
		if !(o.Drop >= 0 && o.Drop < 1) {
			return fmt.Errorf("dare: drop rate %v, want 0 <= p < 1", o.Drop)
		}
	case MethodIsoCTS:
		if !(o.CommonFraction >= 0 && o.CommonFraction <= 1) {
			return fmt.Errorf("isocts: common fraction %v, want [0, 1]", o.CommonFraction)
		}
	}
	return nil
}

// lambdas expands Lambdas to one per task.
func (o *MergeOptions) lambdas() []float32 {
	ls := make([]float32, len(o.Tasks))
	for t := range ls {
		if len(o.Lambdas) == 1 {
			ls[t] = float32(o.Lambdas[0])
		} else {
			ls[t] = float32(o.Lambdas[t])
		}
	}
	return ls
}

// isSVDMethod reports whether the method treats 2-D weights as matrices.
func isSVDMethod(m string) bool { return m == MethodTSVM || m == MethodIsoC || m == MethodIsoCTS }

// isMatrixWeight reports whether an SVD method merges t as a matrix: every
// 2-D float tensor except embeddings (biases, norms, embeddings
// and conv kernels are averaged).
func isMatrixWeight(t *Tensor) bool {
	return len(t.Shape) == 2 && t.Shape[0] > 0 && t.Shape[1] > 0 &&
		!strings.Contains(strings.ToLower(t.Name), "embed")
}

// Merge merges the task models into the base with opts.Method and writes
// the result to opts.Out. On any error nothing is left at the output paths
// (an existing output replaced with Force stays as it was).
func Merge(opts MergeOptions) (*MergeReport, error) {
	start := time.Now()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	base, err := OpenCheckpoint(opts.Base)
	if err != nil {
		return nil, fmt.Errorf("merge: base: %w", err)
	}
	defer base.Close()
	tasks := make([]*Checkpoint, len(opts.Tasks))
	defer func() {
		for _, c := range tasks {
			c.Close()
		}
	}()
	for i, p := range opts.Tasks {
		if tasks[i], err = OpenCheckpoint(p); err != nil {
			return nil, fmt.Errorf("merge: task %d: %w", i, err)
		}
	}
	m, err := newMerger(&opts, base, tasks)
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
