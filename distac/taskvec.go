package distac

import (
	"fmt"
	"math"

	"github.com/distac/distac/ffi"
)

// TaskStats describes the task vectors tau_t = theta_t - theta_0 of a set of
// fine-tuned models: the numbers that reveal DisTaC's norm-mismatch failure.
type TaskStats struct {
	Tasks   []string
	Norms   []float64     // ||tau_t||_2 over all float tensors
	Dots    [][]float64   // <tau_i, tau_j>
	Tensors []TensorNorms // per-tensor norms, in the base's order
}

// TensorNorms is one tensor's ||tau_t|| for every task.
type TensorNorms struct {
	Name  string
	Norms []float64
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

// Diagnose streams the task vectors of tasks against base once and returns
// their norms and pairwise inner products. Inner products come from the
// polarisation identity <a, b> = (|a|^2 + |b|^2 - |a - b|^2) / 2 with the
// backend's deterministic float64 sums of squares.
func Diagnose(base string, tasks []string, be ffi.Backend, workers int) (*TaskStats, error) {
	if len(tasks) == 0 {
		return nil, fmt.Errorf("diagnose: no task models")
	}
	bc, err := OpenCheckpoint(base)
	if err != nil {
		return nil, fmt.Errorf("diagnose: base: %w", err)
	}
	defer bc.Close()
	tcs := make([]*Checkpoint, len(tasks))
	defer func() {
		for _, c := range tcs {
			c.Close()
		}
	}()
	for i, p := range tasks {
		if tcs[i], err = OpenCheckpoint(p); err != nil {
			return nil, fmt.Errorf("diagnose: task %d: %w", i, err)
		}
	}
	opts := &MergeOptions{Method: "diagnose", Backend: be, Workers: workers}
	m, _, err := newPlan(opts, bc, tcs)
	if err != nil {
		return nil, fmt.Errorf("diagnose: %w", err)
	}
	m.progress = &progress{}
	T := len(tasks)
	var jobs []job
	for _, j := range m.jobs() {
		if j.it.kind == kindElem && j.hi > j.lo {
			jobs = append(jobs, j)
		}
	}
	perTensor := make([][]float64, len(m.items)) // [item][t] sum of squares
	diff := make([][]float64, T)                 // [i][j] sum of |tau_i - tau_j|^2
	for i := range diff {
		diff[i] = make([]float64, T)
	}
	err = m.parallel(jobs, func(wk *worker, j job) error {
		return wk.diagnose(j)
	}, func(wk *worker) {
		if wk.diag.diff == nil {
			return // this worker got no job
		}
		for k, ss := range wk.diag.perTensor {
			if ss == nil {
				continue
			}
			if perTensor[k] == nil {
				perTensor[k] = make([]float64, T)
			}
			for t, v := range ss {
				perTensor[k][t] += v
			}
		}
		for i := range diff {
			for j, v := range wk.diag.diff[i] {
				diff[i][j] += v
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("diagnose: %w", err)
	}
	st := &TaskStats{Tasks: tasks, Norms: make([]float64, T), Dots: make([][]float64, T)}
	sq := make([]float64, T)
	for k, it := range m.items {
		if perTensor[k] == nil {
			if it.kind == kindCarry {
				continue
			}
			perTensor[k] = make([]float64, T) // an empty tensor
		}
		tn := TensorNorms{Name: it.base.Name, Norms: make([]float64, T)}
		for t, v := range perTensor[k] {
			sq[t] += v
			tn.Norms[t] = math.Sqrt(v)
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
				st.Dots[i][j] = (sq[i] + sq[j] - diff[i][j]) / 2
			default:
				st.Dots[i][j] = (sq[i] + sq[j] - diff[j][i]) / 2
			}
		}
	}
	return st, nil
}

// diagAcc is a worker's share of Diagnose's sums.
type diagAcc struct {
	perTensor [][]float64 // [item][t]
	diff      [][]float64 // [i][j], i < j
}

// diagnose adds one chunk's sums of squares of every tau_t and tau_i - tau_j.
func (wk *worker) diagnose(j job) error {
	it, lo, hi := j.it, j.lo, j.hi
	T := len(it.tasks)
	if wk.diag.perTensor == nil {
		wk.diag.perTensor = make([][]float64, len(wk.m.items))
		wk.diag.diff = make([][]float64, T)
		for i := range wk.diag.diff {
			wk.diag.diff[i] = make([]float64, T)
		}
	}
	if wk.diag.perTensor[it.idx] == nil {
		wk.diag.perTensor[it.idx] = make([]float64, T)
	}
	baseRaw, err := wk.load(roleBase, 0, it.base, lo, hi)
	if err != nil {
		return err
	}
	taus := make([]ffi.Vec, T)
	for t := range it.tasks {
		before := wk.sumsq[t]
		if taus[t], err = wk.taskVector(t, t, it, baseRaw, lo, hi, true, true); err != nil {
			return err
		}
		wk.diag.perTensor[it.idx][t] += wk.sumsq[t] - before
	}
	wk.m.pages.consumed(it.base, lo, hi)
	d, err := wk.vec(bufKey{roleDelta, 0, ffi.F32}, hi-lo)
	if err != nil {
		return err
	}
	for a := 0; a < T; a++ {
		for b := a + 1; b < T; b++ {
			if err := wk.be.WeightedSum(d, []ffi.Vec{taus[a], taus[b]}, []float32{1, -1}); err != nil {
				return fmt.Errorf("tensor %q: %w", it.base.Name, err)
			}
			ss, err := wk.be.SumSq(d)
			if err != nil {
				return fmt.Errorf("tensor %q: %w", it.base.Name, err)
			}
			wk.diag.diff[a][b] += ss
		}
	}
	return nil
}
