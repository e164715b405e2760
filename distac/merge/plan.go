package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/errmark"
)

// itemKind says how a tensor is merged.
type itemKind uint8

const (
	kindCarry  itemKind = iota // integer buffer: copied from the base
	kindElem                   // float tensor merged element-wise, in chunks
	kindMatrix                 // 2-D float weight of a matrix method, whole
	kindWhole                  // float tensor of a tensor method (Method.tensor), whole
	// kindBase is copied from one tensor (the base's, or a task's) into rows
	// of the output, converted to the output dtype: what a mismatch policy
	// takes as it is. It is a kind of its own so no pass reads task vectors
	// of it.
	kindBase
)

// item is one output tensor and its inputs.
type item struct {
	kind  itemKind
	idx   int // position in merger.items
	base  *checkpoint.Tensor
	tasks []*checkpoint.Tensor // same name in every task (nil for kindCarry)
	out   int                  // index in the writer
	outDT checkpoint.DType
	// outOff is where the item's elements start in its output tensor: the
	// base's rows after those a mismatch policy merged (kindBase), else 0.
	outOff int64
}

// merger holds one merge's inputs, plan and output.
type merger struct {
	ctx     context.Context
	opts    *Options
	method  *Method
	values  Values
	be      ffi.Backend
	base    *checkpoint.Checkpoint
	tasks   []*checkpoint.Checkpoint
	items   []*item
	w       output
	workers int
	chunk   int

	// unfused is set once the backend turned SubAccumulate down
	// (ErrNotImplemented): weighted sums then run as WeightedSum.
	unfused atomic.Bool

	alpha    float32
	scale    float32 // s in theta = s * theta_0 + alpha * delta (Method.baseScale)
	state    any     // what the method's prepare returned
	checked  bool    // a pass before the merge pass checked every task vector
	passes   int     // TIES: full threshold passes run
	progress *progress
	sumsq    []float64 // per task: sum of squares of tau_t, from the checking pass

	mismatch string   // the mismatch policy (MismatchError, ...)
	notes    []string // what it did, per tensor (Report.Mismatches)
	nouts    int      // output tensors (one may be two items)
}

// output is where a merge writes its tensors: files (checkpoint.Writer)
// or a caller's buffers (checkpoint.MemoryWriter).
type output interface {
	WriteAt(ti int, off int64, b []byte) error
	ReadAt(ti int, off int64, b []byte) error
	Commit() error
	Abort()
	Paths() []string
}

// createFiles is Run's output: opts.Out, written as Create writes (never
// over an input).
func createFiles(opts *Options) func(outs []checkpoint.OutTensor, meta map[string]string, inputs []string) (output, error) {
	return func(outs []checkpoint.OutTensor, meta map[string]string, inputs []string) (output, error) {
		w, err := checkpoint.Create(opts.Out, outs, meta, opts.ShardSize, opts.Force, inputs)
		if err != nil {
			return nil, err
		}
		if w.Folder() == "" {
			return w, nil
		}
		// A folder output of a base folder is a model folder like it: its
		// config.json, tokenizer and preprocessor files come along.
		if err = copyBaseFiles(w, opts.Base); err != nil {
			w.Abort()
			return nil, err
		}
		return w, nil
	}
}

// newMerger plans the merge (newPlan) and creates the output with create,
// given the output's tensors, its metadata and the files the merge reads.
func newMerger(ctx context.Context, opts *Options, method *Method, v Values, base *checkpoint.Checkpoint, tasks []*checkpoint.Checkpoint,
	create func(outs []checkpoint.OutTensor, meta map[string]string, inputs []string) (output, error)) (*merger, error) {
	m, outs, err := newPlan(opts, method, base, tasks)
	if err != nil {
		return nil, err
	}
	m.ctx, m.values = ctx, v
	if method.baseScale != nil {
		m.scale = float32(method.baseScale(v, len(tasks)))
	}
	meta := map[string]string{
		"format":        "pt",
		"distac.method": method.Name,
		"distac.base":   displayName(opts.Base),
		"distac.alpha":  fmtFloat(opts.Alpha),
	}
	// The merged model has the base's architecture: carry its description,
	// so the training commands load the result without a config file.
	for _, k := range []string{checkpoint.ModelConfigKey, checkpoint.KeyPrefixKey} {
		for _, f := range base.Files {
			if v, ok := f.Metadata[k]; ok {
				meta[k] = v
				break
			}
		}
	}
	var taskNames []string
	for _, p := range opts.Tasks {
		taskNames = append(taskNames, displayName(p))
	}
	meta["distac.tasks"] = strings.Join(taskNames, ",")
	for k, x := range method.Metadata(v) {
		meta[k] = x
	}
	w, err := create(outs, meta, m.inputPaths())
	if err != nil {
		return nil, err
	}
	m.w = w
	return m, nil
}

// newPlan checks that every task has the base's float tensors with the same
// dtypes and shapes, and plans one item per base tensor. method may be nil
// (Diagnose): every float tensor is then element-wise.
func newPlan(opts *Options, method *Method, base *checkpoint.Checkpoint, tasks []*checkpoint.Checkpoint) (*merger, []checkpoint.OutTensor, error) {
	outDT, keep, _ := checkpoint.ParseOutDType(opts.OutDType)
	m := &merger{ctx: context.Background(), opts: opts, method: method, be: opts.Backend, base: base, tasks: tasks,
		alpha: float32(opts.Alpha), scale: 1, workers: opts.Threads, chunk: opts.ChunkElems, sumsq: make([]float64, len(tasks))}
	if m.workers <= 0 {
		m.workers = runtime.GOMAXPROCS(0)
	}
	if m.chunk <= 0 {
		m.chunk = m.be.ChunkElems()
	}
	var err error
	if m.mismatch, err = checkPolicy(opts.Mismatch); err != nil {
		return nil, nil, err
	}
	var outs []checkpoint.OutTensor
	for _, bt := range base.Tensors {
		it := &item{idx: len(m.items), base: bt, out: len(outs), outDT: bt.DType}
		switch {
		case checkpoint.IsCarried(bt.DType):
			it.kind = kindCarry
		case checkpoint.IsComputeFloat(bt.DType):
			it.kind = kindElem
			if method != nil && method.matrix != nil && isMatrixWeight(bt) {
				it.kind = kindMatrix
			}
			if method != nil && method.tensor != nil {
				it.kind = kindWhole
			}
			if !keep {
				it.outDT = outDT
			}
		default:
			return nil, nil, errmark.As(ErrMismatch, fmt.Errorf("base %s: tensor %q has dtype %s (want F32, F16, BF16 or an integer type)", bt.Path(), bt.Name, bt.DType))
		}
		// Integer buffers are copied from the base, but every task must have
		// them as the base does: another dtype (a float stored as I64, say)
		// or shape means the models are not one architecture, unless the
		// mismatch policy says what to take.
		if bad := tensorMismatch(bt, base, tasks); bad != nil {
			if err := m.planMismatch(it, bad, &outs); err != nil {
				return nil, nil, err
			}
			continue
		}
		for _, tc := range tasks {
			tt, _ := tc.Tensor(bt.Name)
			if it.kind != kindCarry {
				it.tasks = append(it.tasks, tt)
			}
		}
		m.items = append(m.items, it)
		outs = append(outs, checkpoint.OutTensor{Name: bt.Name, DType: it.outDT, Shape: bt.Shape})
	}
	if err := m.planTaskOnly(&outs, outDT, keep); err != nil {
		return nil, nil, err
	}
	m.nouts = len(outs)
	if method != nil { // a merge, not Diagnose
		if err := samePreprocessing(base, tasks); err != nil {
			return nil, nil, err
		}
	}
	return m, outs, nil
}

// samePreprocessing refuses tasks whose recorded input normalisation (the
// preprocess_cfg of their model config) differs from the base's: the merge
// carries the base's config, so it would silently feed the merged model
// images normalised for other weights. Checkpoints without a recorded
// config are not compared.
func samePreprocessing(base *checkpoint.Checkpoint, tasks []*checkpoint.Checkpoint) error {
	bp, bok := preprocessOf(base)
	for _, tc := range tasks {
		tp, tok := preprocessOf(tc)
		if bok && tok && tp != bp {
			return errmark.As(ErrMismatch, fmt.Errorf("task %s normalises its inputs with preprocess_cfg %s, the base %s with %s: merge models of one preprocessing",
				tc.Path, orNone(tp), base.Path, orNone(bp)))
		}
	}
	return nil
}

// preprocessOf is the compact JSON of the preprocess_cfg in c's model
// config ("" when the config has none), and whether c records a config.
func preprocessOf(c *checkpoint.Checkpoint) (string, bool) {
	for _, f := range c.Files {
		s, ok := f.Metadata[checkpoint.ModelConfigKey]
		if !ok {
			continue
		}
		var cfg map[string]json.RawMessage
		if json.Unmarshal([]byte(s), &cfg) != nil {
			return "", false
		}
		raw, ok := cfg["preprocess_cfg"]
		if !ok || string(raw) == "null" {
			return "", true
		}
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return string(raw), true
		}
		b, _ := json.Marshal(v) // compact, keys sorted
		return string(b), true
	}
	return "", false
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// isMatrixWeight reports whether a matrix method merges t as a matrix: every
// 2-D float tensor except embeddings (biases, norms, embeddings and conv
// kernels are averaged).
func isMatrixWeight(t *checkpoint.Tensor) bool {
	return len(t.Shape) == 2 && t.Shape[0] > 0 && t.Shape[1] > 0 &&
		!strings.Contains(strings.ToLower(t.Name), "embed")
}

func sameShape(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// inputPaths lists every file the merge reads: the output may be none of them.
func (m *merger) inputPaths() []string {
	var ps []string
	for _, c := range append([]*checkpoint.Checkpoint{m.base}, m.tasks...) {
		ps = append(ps, c.Path)
		for _, f := range c.Files {
			ps = append(ps, f.Path)
		}
	}
	return ps
}

// displayName is the file's base name, for metadata and messages.
func displayName(path string) string { return filepath.Base(path) }
