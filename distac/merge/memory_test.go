package merge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/internal/testutil"
	"github.com/google/go-cmp/cmp"
	"github.com/nlpodyssey/safetensors"
)

// memoryOf is the tensors of the checkpoint at path as a checkpoint in
// memory, in the file's order: copies of the mapped bytes, not views.
func memoryOf(t *testing.T, name, path string) *checkpoint.Checkpoint {
	t.Helper()
	c := testutil.Open(t, path)
	var ts []checkpoint.MemTensor
	for _, tn := range c.Tensors {
		ts = append(ts, checkpoint.MemTensor{Name: tn.Name, DType: tn.DType, Shape: tn.Shape, Data: append([]byte(nil), tn.Bytes(0, tn.Numel)...)})
	}
	m, err := checkpoint.FromMemory(name, ts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMemoryMatchesFiles: a merge of tensors in memory writes the bits a
// merge of the same tensors in files writes, for every method, input dtype
// and output dtype, with the same task norms and TIES thresholds.
func TestMemoryMatchesFiles(t *testing.T) {
	be := best(t)
	for _, dt := range []checkpoint.DType{safetensors.F32, safetensors.BF16, safetensors.F16} {
		dir := t.TempDir()
		base, tasks := makeModels(uint64(dt)+7, 3, dt)
		bp, tps := writeSet(t, dir, base, tasks)
		mbase := memoryOf(t, "memory:base", bp)
		var mtasks []*checkpoint.Checkpoint
		for i, p := range tps {
			mtasks = append(mtasks, memoryOf(t, fmt.Sprintf("memory:task%d", i), p))
		}
		for _, method := range MethodNames() {
			for _, odt := range []string{"", "f32", "bf16"} {
				t.Run(fmt.Sprintf("%s/%s/out-%s", dt, method, odt), func(t *testing.T) {
					out := filepath.Join(dir, fmt.Sprintf("%s-%s.safetensors", method, odt))
					o := mergeOpts(method, bp, tps, out, be)
					o.OutDType = odt
					frep, err := Run(context.Background(), o)
					if err != nil {
						t.Fatal(err)
					}
					fc := testutil.Open(t, out)
					bufs := map[string][]byte{}
					for _, tn := range fc.Tensors {
						bufs[tn.Name] = make([]byte, len(tn.Bytes(0, tn.Numel)))
					}
					mrep, err := RunMemory(context.Background(), o, mbase, mtasks, bufs)
					if err != nil {
						t.Fatal(err)
					}
					for _, tn := range fc.Tensors {
						if string(bufs[tn.Name]) != string(tn.Bytes(0, tn.Numel)) {
							t.Errorf("tensor %s: the merge in memory differs from the merge of files", tn.Name)
						}
					}
					if d := cmp.Diff(frep.TaskNorms, mrep.TaskNorms); d != "" {
						t.Errorf("task norms (-files +memory):\n%s", d)
					}
					if d := cmp.Diff(frep.Thresholds, mrep.Thresholds); d != "" {
						t.Errorf("TIES thresholds (-files +memory):\n%s", d)
					}
					if mrep.Outputs != nil {
						t.Errorf("a merge in memory reports files %v", mrep.Outputs)
					}
					if s := mrep.Summary(&o); s.Tasks[1].Path != tps[1] || s.Tensors != len(fc.Tensors) {
						t.Errorf("summary %+v", s)
					}
				})
			}
		}
	}
}

// TestMemoryErrors: a merge in memory refuses what a merge of files refuses,
// naming the checkpoint and the tensor, and buffers that do not fit the
// output.
func TestMemoryErrors(t *testing.T) {
	f32 := func(vals ...float32) []byte {
		m := &testTensor{dtype: safetensors.F32}
		for _, v := range vals {
			m.vals = append(m.vals, float64(v))
		}
		return m.encode()
	}
	mem := func(name string, ts ...checkpoint.MemTensor) *checkpoint.Checkpoint {
		c, err := checkpoint.FromMemory(name, ts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	w := func(data []byte, shape ...uint64) checkpoint.MemTensor {
		return checkpoint.MemTensor{Name: "w", DType: safetensors.F32, Shape: shape, Data: data}
	}
	nan := float32(0)
	nan = nan / nan
	base := mem("memory:base", w(f32(1, 2), 2))
	o := Options{Method: MethodTA, Alpha: 1, Backend: best(t)}
	for _, c := range []struct {
		name  string
		tasks []*checkpoint.Checkpoint
		out   map[string][]byte
		is    error
		want  string
	}{
		{"nan", []*checkpoint.Checkpoint{mem("memory:task0", w(f32(1, nan), 2))}, map[string][]byte{"w": make([]byte, 8)},
			ErrNonFinite, `task memory:task0: tensor "w": task vector is NaN at element 1`},
		{"shape", []*checkpoint.Checkpoint{mem("memory:task0", w(f32(1, 2), 1, 2))}, map[string][]byte{"w": make([]byte, 8)},
			ErrMismatch, `task memory:task0: tensor "w" has shape [1 2], the base memory:base has [2]`},
		{"short output", []*checkpoint.Checkpoint{mem("memory:task0", w(f32(1, 2), 2))}, map[string][]byte{"w": make([]byte, 4)},
			nil, `tensor "w" of shape [2] in F32 needs 8 bytes, its buffer holds 4`},
		{"no tasks", nil, map[string][]byte{"w": make([]byte, 8)}, nil, "no task models"},
	} {
		_, err := RunMemory(context.Background(), o, base, c.tasks, c.out)
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("%s: err %v, want %v saying %q", c.name, err, c.is, c.want)
		}
	}
}
