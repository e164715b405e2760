package merge

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/nlpodyssey/safetensors"
)

// EMR-Merging (Huang et al. 2024, "EMR-Merging: Tuning-Free High-Performance
// Model Merging"), as FusionBench's fusion_bench/method/emr_merging computes
// it, per float tensor:
//
//	elect   gamma = sign(sum_t tau_t) (0 -> -1), M_t = [tau_t * gamma > 0],
//	        tau_uni = gamma * max_t |M_t ⊙ tau_t|
//	rescale lambda_t = sum_n mean_n|tau_t| / sum_n mean_n|M_t ⊙ tau_uni|
//	        (sums over the tensors n of per-tensor means, as FusionBench)
//
// The merge writes theta_0 + alpha * tau_uni, and beside it (ModulatorsPath)
// each task's modulator; task t's model is theta_0 + lambda_t M_t ⊙ tau_uni
// (ApplyModulator).
//
// The modulators file is a safetensors file: "tau_uni.<name>" F32, the
// tensor's shape; "mask.<t>.<name>" U8 [ceil(numel/8)], M_t's bits packed
// LSB first (element i is bit i%8 of byte i/8), t = 0..T-1 in task order;
// "scales" F32 [T], lambda_t. Its metadata names the method (distac.method
// emr), the tasks (distac.tasks, comma-separated) and the base (distac.base).

// ModulatorsPath is where a merge to out writes EMR's modulators.
func ModulatorsPath(out string) string {
	return strings.TrimSuffix(out, ".safetensors") + ".modulators.safetensors"
}

// emrState collects EMR's per-tensor sums and writes the modulators.
type emrState struct {
	mu      sync.Mutex
	absTau  [][]float64 // per item, per task: mean |tau_t|
	absUni  [][]float64 // per item, per task: mean |M_t ⊙ tau_uni|
	w       *checkpoint.Writer
	outIdx  map[string]int // tensor name in w -> index
	T       int
	scales  []float64
	outPath string
}

// emrPrepare plans the modulators file (when the merge writes files).
func emrPrepare(m *merger) (any, error) {
	T := len(m.tasks)
	s := &emrState{absTau: make([][]float64, len(m.items)), absUni: make([][]float64, len(m.items)), T: T, outIdx: map[string]int{}}
	if m.opts.Out == "" { // RunMemory: the scales go into the report only
		return s, nil
	}
	var outs []checkpoint.OutTensor
	add := func(name string, dt checkpoint.DType, shape []uint64) {
		s.outIdx[name] = len(outs)
		outs = append(outs, checkpoint.OutTensor{Name: name, DType: dt, Shape: shape})
	}
	for _, it := range m.items {
		if it.kind != kindWhole {
			continue
		}
		add("tau_uni."+it.base.Name, safetensors.F32, it.base.Shape)
		for t := 0; t < T; t++ {
			add(emrMaskName(t, it.base.Name), safetensors.U8, []uint64{uint64((it.base.Numel + 7) / 8)})
		}
	}
	add("scales", safetensors.F32, []uint64{uint64(T)})
	var names []string
	for _, p := range m.opts.Tasks {
		names = append(names, displayName(p))
	}
	meta := map[string]string{"format": "pt", "distac.method": MethodEMR, "distac.tasks": strings.Join(names, ","),
		"distac.base": displayName(m.opts.Base)}
	s.outPath = ModulatorsPath(m.opts.Out)
	w, err := checkpoint.Create(s.outPath, outs, meta, 0, m.opts.Force, m.inputPaths())
	if err != nil {
		return nil, fmt.Errorf("emr modulators: %w", err)
	}
	s.w = w
	return s, nil
}

func emrMaskName(t int, name string) string { return "mask." + strconv.Itoa(t) + "." + name }

// emrTensor is EMR's tensor function: tau_uni for one tensor, its masks and
// means recorded.
func emrTensor(w *wholeTensor) ([]float64, error) {
	s := w.state.(*emrState)
	T, n := len(w.taus), len(w.taus[0])
	uni := make([]float64, n)
	masks := make([][]byte, T)
	for t := range masks {
		masks[t] = make([]byte, (n+7)/8)
	}
	absTau, absUni := make([]float64, T), make([]float64, T)
	for i := range uni {
		var sum float64
		for _, tau := range w.taus {
			sum += float64(tau[i])
		}
		gamma := -1.0
		if sum > 0 {
			gamma = 1
		}
		var mx float64
		for t, tau := range w.taus {
			x := float64(tau[i])
			absTau[t] += math.Abs(x)
			if x*gamma > 0 {
				masks[t][i/8] |= 1 << (i % 8)
				mx = math.Max(mx, math.Abs(x))
			}
		}
		uni[i] = gamma * mx
		for t := range masks {
			if masks[t][i/8]&(1<<(i%8)) != 0 {
				absUni[t] += mx
			}
		}
	}
	for t := range absTau {
		absTau[t] /= float64(n)
		absUni[t] /= float64(n)
	}
	s.mu.Lock()
	s.absTau[w.idx], s.absUni[w.idx] = absTau, absUni
	s.mu.Unlock()
	if s.w == nil {
		return uni, nil
	}
	u32 := make([]float32, n)
	for i, x := range uni {
		u32[i] = float32(x)
	}
	if err := s.w.WriteAt(s.outIdx["tau_uni."+w.name], 0, ffi.F32Bytes(u32)); err != nil {
		return nil, err
	}
	for t, mk := range masks {
		if err := s.w.WriteAt(s.outIdx[emrMaskName(t, w.name)], 0, mk); err != nil {
			return nil, err
		}
	}
	return uni, nil
}

// commit computes lambda_t from the tensors' means, in plan order, and
// writes and commits the modulators.
func (s *emrState) commit() error {
	num, den := make([]float64, s.T), make([]float64, s.T)
	for i := range s.absTau {
		for t := range s.absTau[i] {
			num[t] += s.absTau[i][t]
			den[t] += s.absUni[i][t]
		}
	}
	s.scales = make([]float64, s.T)
	sc := make([]float32, s.T)
	for t := range num {
		if den[t] > 0 { // a zero task vector: no modulator (FusionBench: 0/0)
			s.scales[t] = num[t] / den[t]
		}
		sc[t] = float32(s.scales[t])
	}
	if s.w == nil {
		return nil
	}
	if err := s.w.WriteAt(s.outIdx["scales"], 0, ffi.F32Bytes(sc)); err != nil {
		return err
	}
	if err := s.w.Commit(); err != nil {
		return fmt.Errorf("emr modulators: %w", err)
	}
	return nil
}

func (s *emrState) abort() {
	if s.w != nil {
		s.w.Abort()
	}
}
