package merge

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/ffi/conformance"
	"github.com/distac/distac/internal/half"
	"github.com/distac/distac/internal/testutil"
	"github.com/nlpodyssey/safetensors"
)

// testTensor is a tensor of a test model: float values (as stored, already
// rounded to the dtype) or raw integer bytes.
type testTensor struct {
	name  string
	dtype checkpoint.DType
	shape []uint64
	vals  []float64 // float tensors
	raw   []byte    // integer tensors
}

// testModel is a model as an ordered list of tensors.
type testModel []*testTensor

func (m testModel) get(name string) *testTensor {
	for _, t := range m {
		if t.name == name {
			return t
		}
	}
	return nil
}

// roundTo rounds x to what dtype dt stores.
func roundTo(dt checkpoint.DType, x float64) float64 {
	f := float32(x)
	switch dt {
	case safetensors.F16:
		return float64(half.F16ToF32(half.F32ToF16(f)))
	case safetensors.BF16:
		return float64(half.BF16ToF32(half.F32ToBF16(f)))
	}
	return float64(f)
}

// encode returns the little-endian bytes of t.
func (t *testTensor) encode() []byte {
	if t.raw != nil || !checkpoint.IsComputeFloat(t.dtype) {
		return t.raw
	}
	sz := int(t.dtype.Size())
	b := make([]byte, len(t.vals)*sz)
	for i, v := range t.vals {
		f := float32(v)
		switch t.dtype {
		case safetensors.F32:
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		case safetensors.F16:
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToF16(f))
		case safetensors.BF16:
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToBF16(f))
		}
	}
	return b
}

// decodeFloats reads float tensor bytes of dt as float64.
func decodeFloats(dt checkpoint.DType, b []byte) []float64 {
	sz := int(dt.Size())
	out := make([]float64, len(b)/sz)
	for i := range out {
		switch dt {
		case safetensors.F32:
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		case safetensors.F16:
			out[i] = float64(half.F16ToF32(binary.LittleEndian.Uint16(b[2*i:])))
		case safetensors.BF16:
			out[i] = float64(half.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:])))
		}
	}
	return out
}

// writeModel writes m with the safetensors package's own serializer, so the
// reader is tested against an independent writer.
func writeModel(t testing.TB, path string, m testModel, meta map[string]string) {
	t.Helper()
	views := map[string]safetensors.TensorView{}
	for _, tt := range m {
		v, err := safetensors.NewTensorView(tt.dtype, tt.shape, tt.encode())
		if err != nil {
			// NewTensorView rejects 0-d shapes; build scalars through a 1-element view.
			t.Fatalf("tensor view %s: %v", tt.name, err)
		}
		views[tt.name] = v
	}
	b, err := safetensors.Serialize(views, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readModel reads a checkpoint back with Open.
func readModel(t testing.TB, path string) testModel {
	t.Helper()
	c := testutil.Open(t, path)
	var m testModel
	for _, tn := range c.Tensors {
		b := append([]byte(nil), tn.Bytes(0, tn.Numel)...)
		tt := &testTensor{name: tn.Name, dtype: tn.DType, shape: tn.Shape}
		if checkpoint.IsComputeFloat(tn.DType) {
			tt.vals = decodeFloats(tn.DType, b)
		} else {
			tt.raw = b
		}
		m = append(m, tt)
	}
	return m
}

// mergedFile opens a merge's single-file output (closed with the test).
func mergedFile(t testing.TB, path string) *checkpoint.File {
	t.Helper()
	return testutil.Open(t, path).Files[0]
}

// layout is the tensor list of the small test models: 2-D weights (square,
// tall, wide), biases, a norm, a conv kernel, an embedding (2-D but averaged
// by SVD methods), a long vector that spans several chunks and an integer
// buffer.
var layout = []struct {
	name  string
	shape []uint64
	int   bool
}{
	{"blocks.0.attn.in_proj_weight", []uint64{24, 16}, false},
	{"blocks.0.attn.in_proj_bias", []uint64{24}, false},
	{"blocks.0.mlp.c_proj.weight", []uint64{10, 24}, false},
	{"blocks.0.mlp.sq.weight", []uint64{12, 12}, false},
	{"ln_post.weight", []uint64{16}, false},
	{"conv1.weight", []uint64{4, 3, 2, 2}, false},
	{"positional_embedding", []uint64{5, 16}, false},
	{"long", []uint64{301}, false},
	{"num_batches_tracked", []uint64{3}, true},
}

// makeModels builds a base and T fine-tuned models of dtype dt: base ~
// N(0, 0.5^2), tau_t ~ N(0, scale_t^2) with scales spread 1..4x so that norm
// mismatch is visible, plus a low-rank component shared by the tasks.
func makeModels(seed uint64, T int, dt checkpoint.DType) (base testModel, tasks []testModel) {
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, l := range layout {
		n, _ := checkpoint.NumElements(l.shape)
		if l.int {
			raw := make([]byte, 8*n)
			for i := range raw {
				raw[i] = byte(rng.IntN(256))
			}
			base = append(base, &testTensor{name: l.name, dtype: safetensors.I64, shape: l.shape, raw: raw})
			continue
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = roundTo(dt, 0.5*rng.NormFloat64())
		}
		base = append(base, &testTensor{name: l.name, dtype: dt, shape: l.shape, vals: v})
	}
	shared := make([]float64, 1024)
	for i := range shared {
		shared[i] = rng.NormFloat64()
	}
	for t := 0; t < T; t++ {
		scale := 0.05 * (1 + 3*float64(t)/float64(max(T-1, 1)))
		var m testModel
		for _, bt := range base {
			tt := &testTensor{name: bt.name, dtype: bt.dtype, shape: bt.shape}
			if bt.raw != nil {
				tt.raw = append([]byte(nil), bt.raw...)
				tt.raw[0]++ // integer buffers differ per task; the merge keeps the base's
			} else {
				tt.vals = make([]float64, len(bt.vals))
				for i, b := range bt.vals {
					tt.vals[i] = roundTo(dt, b+scale*(rng.NormFloat64()+0.5*shared[i%len(shared)]))
				}
			}
			m = append(m, tt)
		}
		tasks = append(tasks, m)
	}
	return base, tasks
}

// writeSet writes base and tasks into dir and returns their paths.
func writeSet(t testing.TB, dir string, base testModel, tasks []testModel) (string, []string) {
	t.Helper()
	bp := filepath.Join(dir, "base.safetensors")
	writeModel(t, bp, base, map[string]string{"format": "pt"})
	var tps []string
	for i, m := range tasks {
		p := filepath.Join(dir, "task"+string(rune('a'+i))+".safetensors")
		writeModel(t, p, m, nil)
		tps = append(tps, p)
	}
	return bp, tps
}

// backends are the backends every merge test runs on: the reference and
// the best CPU path of the module's test list (conformance.Backends), one
// kernel thread each (the merge runs its workers in parallel); the
// reference alone in a build without the C kernels.
func backends(t testing.TB) []ffi.Backend {
	t.Helper()
	all := conformance.Backends(t, 1)
	if len(all) == 1 {
		return all
	}
	return []ffi.Backend{all[0], all[len(all)-1]}
}

// best is the last of backends: the fastest this machine and build run.
func best(t testing.TB) ffi.Backend {
	t.Helper()
	bs := backends(t)
	return bs[len(bs)-1]
}

// noFiles fails unless dir holds exactly the names in keep.
func onlyFiles(t testing.TB, dir string, keep ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, k := range keep {
		want[k] = true
	}
	for _, e := range ents {
		if !want[e.Name()] {
			t.Errorf("unexpected file left in %s: %s", dir, e.Name())
		}
	}
}
