package distac

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/distac/distac/ffi"
)

// itemKind says how a tensor is merged.
type itemKind uint8

const (
	kindCarry  itemKind = iota // integer buffer: copied from the base
	kindElem                   // float tensor merged element-wise, in chunks
	kindMatrix                 // 2-D float weight of an SVD method, whole
)

// item is one output tensor and its inputs.
type item struct {
	kind  itemKind
	idx   int // position in merger.items
	base  *Tensor
	tasks []*Tensor // same name in every task (nil for kindCarry)
	out   int       // index in the writer
	outDT DType
}

// merger holds one merge's inputs, plan and output.
type merger struct {
	opts    *MergeOptions
	be      ffi.Backend
	base    *Checkpoint
	tasks   []*Checkpoint
	items   []*item
	w       *Writer
	workers int
	chunk   int

	alpha      float32
	thresholds []float32 // TIES, per task
	tiesPasses int       // TIES: full threshold passes run
	lambdas    []float32 // Consensus, per task
	progress   *progress
	pages      *pageTracker // the current pass's page release
	sumsq      []float64    // per task: sum of squares of tau_t, from the checking pass
}

// newMerger plans the merge (newPlan) and creates the output.
func newMerger(opts *MergeOptions, base *Checkpoint, tasks []*Checkpoint) (*merger, error) {
	m, outs, err := newPlan(opts, base, tasks)
	if err != nil {
		return nil, err
	}
	meta := map[string]string{
		"format":        "pt",
		"distac.method": opts.Method,
		"distac.base":   displayName(opts.Base),
	}
	// The merged model has the base's architecture: carry its description,
	// so the training commands load the result without a config file.
	for _, k := range []string{ModelConfigKey, KeyPrefixKey} {
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
	for k, v := range opts.Params() {
		meta["distac."+k] = v
	}
	w, err := CreateOutput(opts.Out, outs, meta, opts.ShardSize, opts.Force, m.inputPaths())
	if err != nil {
		return nil, err
	}
	m.w = w
	return m, nil
}

// newPlan checks that every task has the base's float tensors with the same
// dtypes and shapes, and plans one item per base tensor.
func newPlan(opts *MergeOptions, base *Checkpoint, tasks []*Checkpoint) (*merger, []OutTensor, error) {
	outDT, keep, _ := ParseOutDType(opts.OutDType)
	m := &merger{opts: opts, be: opts.Backend, base: base, tasks: tasks, alpha: float32(opts.Alpha),
		workers: opts.Workers, chunk: opts.ChunkElems, sumsq: make([]float64, len(tasks))}
	if m.workers <= 0 {
		m.workers = runtime.GOMAXPROCS(0)
	}
	if m.chunk <= 0 {
		m.chunk = 1 << 16
	}
	if opts.Method == MethodConsensus {
		m.lambdas = opts.lambdas()
	}
	var outs []OutTensor
	for _, bt := range base.Tensors {
		it := &item{idx: len(m.items), base: bt, out: len(outs), outDT: bt.DType}
		switch {
		case isCarried(bt.DType):
			it.kind = kindCarry
		case isComputeFloat(bt.DType):
			it.kind = kindElem
			if isSVDMethod(opts.Method) && isMatrixWeight(bt) {
				it.kind = kindMatrix
			}
			if !keep {
				it.outDT = outDT
			}
		default:
			return nil, nil, fmt.Errorf("base %s: tensor %q has dtype %s (want F32, F16, BF16 or an integer type)", bt.Path(), bt.Name, bt.DType)
		}
		if it.kind != kindCarry {
			for _, tc := range tasks {
				tt, ok := tc.Tensor(bt.Name)
				if !ok {
					return nil, nil, fmt.Errorf("task %s: tensor %q is missing (it is in the base %s)", tc.Path, bt.Name, base.Path)
				}
				if tt.DType != bt.DType {
					return nil, nil, fmt.Errorf("task %s: tensor %q has dtype %s, the base %s has %s", tc.Path, bt.Name, tt.DType, base.Path, bt.DType)
				}
				if !sameShape(tt.Shape, bt.Shape) {
					return nil, nil, fmt.Errorf("task %s: tensor %q has shape %v, the base %s has %v", tc.Path, bt.Name, tt.Shape, base.Path, bt.Shape)
				}
				it.tasks = append(it.tasks, tt)
			}
		}
		m.items = append(m.items, it)
		outs = append(outs, OutTensor{Name: bt.Name, DType: it.outDT, Shape: bt.Shape})
	}
	for _, tc := range tasks {
		for _, tt := range tc.Tensors {
			if _, ok := base.Tensor(tt.Name); !ok {
				return nil, nil, fmt.Errorf("task %s: tensor %q is not in the base %s", tc.Path, tt.Name, base.Path)
			}
		}
	}
	return m, outs, nil
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
	for _, c := range append([]*Checkpoint{m.base}, m.tasks...) {
		ps = append(ps, c.Path)
		for _, f := range c.Files {
			ps = append(ps, f.Path)
		}
	}
	return ps
}
