package merge

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/nlpodyssey/safetensors"
)

// Modulators is EMR's modulators file, open (see emr.go for its format).
type Modulators struct {
	Path   string
	Tasks  []string  // the tasks' file names, in order
	Scales []float64 // lambda_t
	ck     *checkpoint.Checkpoint
}

// OpenModulators opens a modulators file written by an EMR merge.
func OpenModulators(path string) (*Modulators, error) {
	ck, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	md := &Modulators{Path: path, ck: ck}
	var meta map[string]string
	if len(ck.Files) > 0 {
		meta = ck.Files[0].Metadata
	}
	if meta["distac.method"] != MethodEMR {
		ck.Close()
		return nil, fmt.Errorf("%s: not an EMR modulators file (its distac.method is %q)", path, meta["distac.method"])
	}
	if s := meta["distac.tasks"]; s != "" {
		md.Tasks = strings.Split(s, ",")
	}
	sc, ok := ck.Tensor("scales")
	if !ok || sc.DType != safetensors.F32 || sc.Numel != len(md.Tasks) {
		ck.Close()
		return nil, fmt.Errorf("%s: no F32 scales tensor of one value per task (%d tasks)", path, len(md.Tasks))
	}
	xs, err := md.floats(sc)
	if err != nil {
		ck.Close()
		return nil, err
	}
	for _, x := range xs {
		md.Scales = append(md.Scales, float64(x))
	}
	return md, nil
}

// Close releases the file.
func (md *Modulators) Close() error { return md.ck.Close() }

// Task resolves a task by index ("2") or by name (a task's file name, with
// or without its extension).
func (md *Modulators) Task(s string) (int, error) {
	for i, n := range md.Tasks {
		if s == n || s == strings.TrimSuffix(n, ".safetensors") {
			return i, nil
		}
	}
	var i int
	if _, err := fmt.Sscan(s, &i); err == nil && i >= 0 && i < len(md.Tasks) {
		return i, nil
	}
	return 0, fmt.Errorf("%s has no task %q (tasks 0..%d: %s)", md.Path, s, len(md.Tasks)-1, strings.Join(md.Tasks, ", "))
}

func (md *Modulators) floats(t *checkpoint.Tensor) ([]float32, error) {
	var xs []float32
	err := t.View(0, t.Numel, func(b []byte) error {
		var err error
		xs, err = checkpoint.DecodeFloats(t.DType, b)
		return err
	})
	return xs, err
}

// Delta is task t's update of one base tensor: lambda_t M_t ⊙ tau_uni.
func (md *Modulators) Delta(t int, name string, numel int) ([]float32, error) {
	if t < 0 || t >= len(md.Tasks) {
		return nil, fmt.Errorf("%s: task %d of %d", md.Path, t, len(md.Tasks))
	}
	ut, ok := md.ck.Tensor("tau_uni." + name)
	mt, ok2 := md.ck.Tensor(emrMaskName(t, name))
	if !ok || !ok2 || ut.Numel != numel || mt.Numel != (numel+7)/8 || ut.DType != safetensors.F32 || mt.DType != safetensors.U8 {
		return nil, fmt.Errorf("%s: no modulator of %d elements for tensor %q (another model's modulators?)", md.Path, numel, name)
	}
	uni, err := md.floats(ut)
	if err != nil {
		return nil, err
	}
	lam := float32(md.Scales[t])
	err = mt.View(0, mt.Numel, func(bits []byte) error {
		for i := range uni {
			if bits[i/8]&(1<<(i%8)) == 0 {
				uni[i] = 0
			} else {
				uni[i] *= lam
			}
		}
		return nil
	})
	return uni, err
}

// ApplyModulator writes task t's EMR model theta_0 + lambda_t M_t ⊙ tau_uni
// to out: the base's float tensors in F32, its other tensors as they are,
// its model description carried.
func ApplyModulator(basePath string, md *Modulators, t int, out string, force bool) error {
	base, err := checkpoint.Open(basePath)
	if err != nil {
		return fmt.Errorf("base: %w", err)
	}
	defer base.Close()
	var outs []checkpoint.OutTensor
	for _, bt := range base.Tensors {
		dt := bt.DType
		if checkpoint.IsComputeFloat(dt) {
			dt = safetensors.F32
		}
		outs = append(outs, checkpoint.OutTensor{Name: bt.Name, DType: dt, Shape: bt.Shape})
	}
	meta := map[string]string{"format": "pt", "distac.method": MethodEMR, "distac.emr_task": md.Tasks[t]}
	for _, k := range []string{checkpoint.ModelConfigKey, checkpoint.KeyPrefixKey} {
		for _, f := range base.Files {
			if v, ok := f.Metadata[k]; ok {
				meta[k] = v
				break
			}
		}
	}
	inputs := []string{basePath, md.Path}
	w, err := checkpoint.Create(out, outs, meta, 0, force, inputs)
	if err != nil {
		return err
	}
	err = func() error {
		for i, bt := range base.Tensors {
			if !checkpoint.IsComputeFloat(bt.DType) {
				if err := bt.View(0, bt.Numel, func(b []byte) error { return w.WriteAt(i, 0, b) }); err != nil {
					return err
				}
				continue
			}
			theta, err := md.floats(bt)
			if err != nil {
				return err
			}
			d, err := md.Delta(t, bt.Name, bt.Numel)
			if err != nil {
				return err
			}
			for k := range theta {
				theta[k] += d[k]
				if math.IsInf(float64(theta[k]), 0) || math.IsNaN(float64(theta[k])) {
					return errors.New("tensor " + bt.Name + ": the modulated value is not finite")
				}
			}
			if err := w.WriteAt(i, 0, ffi.F32Bytes(theta)); err != nil {
				return err
			}
		}
		return w.Commit()
	}()
	if err != nil {
		w.Abort()
		return fmt.Errorf("emr task %d: %w", t, err)
	}
	return nil
}
