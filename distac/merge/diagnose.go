package merge

import (
	"context"
	"fmt"
	"math"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
)

// TaskStats describes the task vectors tau_t = theta_t - theta_0 of a set of
// fine-tuned models: the numbers that reveal DisTaC's norm-mismatch failure.
type TaskStats struct {
	Tasks   []string
	Norms   []float64     // ||tau_t||_2 over all float tensors
	Dots    [][]float64   // <tau_i, tau_j>
	Tensors []TensorNorms // per-tensor norms, in the base's order
	// Mismatches says, per tensor the mismatch policy handled, what it did
	// (as Report.Mismatches): one taken from the base is left out of the
	// norms, of one merged in part only the shared rows count.
	Mismatches []string
}

// TensorNorms is one tensor's ||tau_t|| for every task.
type TensorNorms struct {
	Name  string    `json:"name"`
	Norms []float64 `json:"norms"`
}

// DiagnoseReport is TaskStats as the CLI's --json and the C API give it.
type DiagnoseReport struct {
	Base         string        `json:"base"`
	Tasks        []TaskNorm    `json:"tasks"`
	MinNorm      float64       `json:"min_norm"`
	MaxNorm      float64       `json:"max_norm"`
	NormRatio    *float64      `json:"norm_ratio"` // null when a task vector is zero
	NormMismatch bool          `json:"norm_mismatch"`
	Cosines      [][]float64   `json:"cosines"`
	Tensors      []TensorNorms `json:"tensors,omitempty"`
	Mismatches   []string      `json:"mismatches,omitempty"` // what the mismatch policy did, per tensor
}

// TaskNorm is one task of a DiagnoseReport.
type TaskNorm struct {
	Path string  `json:"path"`
	Norm float64 `json:"norm"`
}

// Report summarises s against base: NormMismatch when the max/min norm
// ratio exceeds warnRatio; the per-tensor norms only with perTensor.
func (s *TaskStats) Report(base string, warnRatio float64, perTensor bool) DiagnoseReport {
	d := DiagnoseReport{Base: base, MinNorm: math.Inf(1)}
	for t, n := range s.Norms {
		d.Tasks = append(d.Tasks, TaskNorm{s.Tasks[t], n})
		d.MinNorm, d.MaxNorm = min(d.MinNorm, n), max(d.MaxNorm, n)
	}
	r := s.NormRatio()
	if !math.IsInf(r, 0) && !math.IsNaN(r) {
		d.NormRatio = &r
	}
	d.NormMismatch = r > warnRatio
	for i := range s.Tasks {
		row := make([]float64, len(s.Tasks))
		for j := range row {
			row[j] = s.Cosine(i, j)
		}
		d.Cosines = append(d.Cosines, row)
	}
	if perTensor {
		d.Tensors = s.Tensors
	}
	d.Mismatches = s.Mismatches
	return d
}

// NormRatio is max_t ||tau_t|| / min_t ||tau_t|| (+Inf if a task vector is 0).
func (s *TaskStats) NormRatio() float64 {
	lo, hi := math.Inf(1), 0.0
	for _, n := range s.Norms {
		lo, hi = math.Min(lo, n), math.Max(hi, n)
	}
	if lo == 0 {
		return math.Inf(1)
	}
	return hi / lo
}

// Cosine is cos(tau_i, tau_j) (0 if either is 0).
func (s *TaskStats) Cosine(i, j int) float64 {
	if s.Norms[i] == 0 || s.Norms[j] == 0 {
		return 0
	}
	return s.Dots[i][j] / (s.Norms[i] * s.Norms[j])
}

// DiagnoseOptions say where and how Diagnose runs.
type DiagnoseOptions struct {
	Backend  ffi.Backend             // where the sums run
	Threads  int                     // chunks reduced at once; <= 0: GOMAXPROCS
	Progress func(done, total int64) // bytes read so far of total (any goroutine); nil: none
	// Mismatch is the merge's policy (Options.Mismatch) for tensors some
	// tasks lack or hold in another shape: MismatchError ("" too) stops,
	// MismatchBase leaves them out, MismatchCommon measures the shared rows.
	Mismatch string
}

// Diagnose streams the task vectors of tasks against base once and returns
// their norms and pairwise inner products. Inner products come from the
// polarisation identity <a, b> = (|a|^2 + |b|^2 - |a - b|^2) / 2 with the
// backend's deterministic float64 sums of squares, each chunk's into its own
// slot on the backend, added in chunk order: the result does not depend on
// the number of threads. Cancelling ctx stops it between chunks.
func Diagnose(ctx context.Context, base string, tasks []string, opts DiagnoseOptions) (*TaskStats, error) {
	be := opts.Backend
	if len(tasks) == 0 {
		return nil, fmt.Errorf("diagnose: no task models")
	}
	if be == nil {
		return nil, fmt.Errorf("diagnose: no backend")
	}
	bc, err := checkpoint.Open(base)
	if err != nil {
		return nil, fmt.Errorf("diagnose: base: %w", err)
	}
	defer bc.Close()
	tcs := make([]*checkpoint.Checkpoint, len(tasks))
	defer func() {
		for _, c := range tcs {
			c.Close()
		}
	}()
	for i, p := range tasks {
		if tcs[i], err = checkpoint.Open(p); err != nil {
			return nil, fmt.Errorf("diagnose: task %d: %w", i, err)
		}
	}
	m, _, err := newPlan(&Options{Backend: be, Threads: opts.Threads, Mismatch: opts.Mismatch}, nil, bc, tcs)
	if err != nil {
		return nil, fmt.Errorf("diagnose: %w", err)
	}
	T := len(tasks)
	var jobs []job
	for _, j := range m.jobs() {
		if j.it.kind == kindElem && j.hi > j.lo {
			jobs = append(jobs, j)
		}
	}
	m.ctx, m.progress = ctx, &progress{fn: opts.Progress}
	m.progress.total.Store(jobsWork(jobs))
	// Slots per chunk: |tau_t|^2 for every t, then |tau_a - tau_b|^2 for a < b.
	pairs := pairIndex(T)
	p, err := m.newPass(jobs, true, T*(T-1)/2)
	if err != nil {
		return nil, fmt.Errorf("diagnose: %w", err)
	}
	err = m.parallel(p, func(wk *worker, j job) error { return wk.diagnose(p, j, pairs) }, nil)
	if err != nil {
		return nil, fmt.Errorf("diagnose: %w", err)
	}
	st := &TaskStats{Tasks: tasks, Norms: make([]float64, T), Dots: make([][]float64, T), Mismatches: m.notes}
	sq := make([]float64, T)
	diff := make([]float64, p.slots-T)
	for k, it := range m.items {
		if it.kind == kindCarry || it.kind == kindBase { // no task vector: an integer buffer, or what a mismatch policy took as it is
			continue
		}
		d := p.done[k]
		if d == nil { // an empty tensor
			d = make([]float64, p.slots)
		}
		tn := TensorNorms{Name: it.base.Name, Norms: make([]float64, T)}
		for t := range T {
			sq[t] += d[t]
			tn.Norms[t] = math.Sqrt(d[t])
		}
		for q := range diff {
			diff[q] += d[T+q]
		}
		st.Tensors = append(st.Tensors, tn)
	}
	for i := range st.Dots {
		st.Norms[i] = math.Sqrt(sq[i])
		st.Dots[i] = make([]float64, T)
		for j := range st.Dots[i] {
			switch {
			case i == j:
				st.Dots[i][j] = sq[i]
			case i < j:
				st.Dots[i][j] = (sq[i] + sq[j] - diff[pairs[i][j]]) / 2
			default:
				st.Dots[i][j] = (sq[i] + sq[j] - diff[pairs[j][i]]) / 2
			}
		}
	}
	return st, nil
}

// pairIndex numbers the pairs a < b of T tasks: pairs[a][b] is the pair's
// slot after the T per-task ones.
func pairIndex(T int) [][]int {
	pairs := make([][]int, T)
	q := 0
	for a := range T {
		pairs[a] = make([]int, T)
		for b := a + 1; b < T; b++ {
			pairs[a][b] = q
			q++
		}
	}
	return pairs
}

// diagnose writes one chunk's sums of squares of every tau_t and
// tau_a - tau_b into its slots.
func (wk *worker) diagnose(p *pass, j job, pairs [][]int) error {
	it, lo, hi := j.it, j.lo, j.hi
	T := len(it.tasks)
	baseRaw, err := wk.load(roleBase, 0, it.base, lo, hi)
	if err != nil {
		return err
	}
	taus := make([]ffi.Vec, T)
	for t := range it.tasks {
		if taus[t], err = wk.taskVector(p, j, t, t, baseRaw, true, true); err != nil {
			return err
		}
	}
	p.pages.Consumed(it.base, lo, hi)
	d, err := wk.vec(bufKey{roleDelta, 0, ffi.F32}, hi-lo)
	if err != nil {
		return err
	}
	for a := 0; a < T; a++ {
		for b := a + 1; b < T; b++ {
			if err := wk.be.WeightedSum(d, []ffi.Vec{taus[a], taus[b]}, []float32{1, -1}); err != nil {
				return fmt.Errorf("tensor %q: %w", it.base.Name, err)
			}
			if err := wk.be.SumSq(d, p.slot(j, T+pairs[a][b])); err != nil {
				return fmt.Errorf("tensor %q: %w", it.base.Name, err)
			}
		}
	}
	return nil
}
