package merge

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/internal/errmark"
	"github.com/nlpodyssey/safetensors"
)

// badCase sets up a base and two tasks in dir, breaks something, and names
// what the error must say.
type badCase struct {
	name  string
	setup func(t *testing.T, dir string, base testModel, tasks []testModel) (bp string, tps []string)
	want  []string // substrings of the error
}

func cloneModel(m testModel) testModel {
	var out testModel
	for _, t := range m {
		c := *t
		c.vals = append([]float64(nil), t.vals...)
		c.raw = append([]byte(nil), t.raw...)
		if t.raw == nil {
			c.raw = nil
		}
		out = append(out, &c)
	}
	return out
}

func without(m testModel, name string) testModel {
	var out testModel
	for _, t := range m {
		if t.name != name {
			out = append(out, t)
		}
	}
	return out
}

// TestBadInputs: every malformed or mismatched input fails with an error
// naming the file and the tensor, and leaves no output behind.
func TestBadInputs(t *testing.T) {
	breakFile := func(mut func(b []byte) []byte, which int) func(*testing.T, string, testModel, []testModel) (string, []string) {
		return func(t *testing.T, dir string, base testModel, tasks []testModel) (string, []string) {
			bp, tps := writeSet(t, dir, base, tasks)
			p := append([]string{bp}, tps...)[which]
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, mut(b), 0o644); err != nil {
				t.Fatal(err)
			}
			return bp, tps
		}
	}
	writeTask1 := func(edit func(m testModel) testModel) func(*testing.T, string, testModel, []testModel) (string, []string) {
		return func(t *testing.T, dir string, base testModel, tasks []testModel) (string, []string) {
			tasks = append([]testModel(nil), tasks...)
			tasks[1] = edit(cloneModel(tasks[1]))
			return writeSet(t, dir, base, tasks)
		}
	}
	rawTask1 := func(header string, data []byte) func(*testing.T, string, testModel, []testModel) (string, []string) {
		return func(t *testing.T, dir string, base testModel, tasks []testModel) (string, []string) {
			bp, tps := writeSet(t, dir, base, tasks)
			if err := os.WriteFile(tps[1], rawFile(header, data), 0o644); err != nil {
				t.Fatal(err)
			}
			return bp, tps
		}
	}
	cases := []badCase{
		{"truncated", breakFile(func(b []byte) []byte { return b[:len(b)-10] }, 2),
			[]string{"taskb.safetensors", "truncated"}},
		{"truncated-to-4-bytes", breakFile(func(b []byte) []byte { return b[:4] }, 0),
			[]string{"base.safetensors", "truncated: 4 bytes"}},
		{"header-beyond-file", breakFile(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b, uint64(len(b)))
			return b
		}, 1), []string{"taska.safetensors", "header length", "runs past the end of the file"}},
		{"overlapping-offsets", rawTask1(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)),
			[]string{"taskb.safetensors", `"a"`, `"b"`, "overlap"}},
		{"out-of-range-offsets", rawTask1(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, make([]byte, 8)),
			[]string{"taskb.safetensors", `tensor "w"`, "data_offsets [0, 16] run past the data section of 8 bytes"}},
		{"size-mismatch", rawTask1(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)),
			[]string{"taskb.safetensors", `tensor "w"`, "needs 12 bytes"}},
		{"unknown-dtype", rawTask1(`{"w":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}`, make([]byte, 8)),
			[]string{"taskb.safetensors", `tensor "w"`, `unknown dtype "F8_E4M3"`}},
		{"unsupported-float-dtype", func(t *testing.T, dir string, base testModel, tasks []testModel) (string, []string) {
			bp, tps := writeSet(t, dir, base, tasks)
			if err := os.WriteFile(bp, rawFile(`{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8)), 0o644); err != nil {
				t.Fatal(err)
			}
			return bp, tps
		}, []string{"base.safetensors", `tensor "w" has dtype F64`}},
		{"not-json", rawTask1(`{"w":`, nil), []string{"taskb.safetensors", "not a JSON object"}},
		{"gap-between-tensors", rawTask1(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)),
			[]string{"taskb.safetensors", "invalid safetensors layout", `"w"`}},
		{"missing-tensor", writeTask1(func(m testModel) testModel { return without(m, "long") }),
			[]string{"taskb.safetensors", `tensor "long" is missing`, "base.safetensors"}},
		{"extra-tensor", writeTask1(func(m testModel) testModel {
			return append(m, &testTensor{name: "extra", dtype: safetensors.F32, shape: []uint64{1}, vals: []float64{1}})
		}), []string{"taskb.safetensors", `tensor "extra" is not in the base`}},
		{"shape-mismatch", writeTask1(func(m testModel) testModel {
			m.get("blocks.0.attn.in_proj_weight").shape = []uint64{16, 24}
			return m
		}), []string{"taskb.safetensors", `tensor "blocks.0.attn.in_proj_weight" has shape [16 24]`, "[24 16]"}},
		{"dtype-mismatch", writeTask1(func(m testModel) testModel {
			m.get("ln_post.weight").dtype = safetensors.BF16
			return m
		}), []string{"taskb.safetensors", `tensor "ln_post.weight" has dtype BF16`, "F32"}},
		{"nan-in-task-vector", writeTask1(func(m testModel) testModel {
			m.get("long").vals[200] = math.NaN()
			return m
		}), []string{"taskb.safetensors", `tensor "long"`, "NaN at element 200"}},
		{"inf-in-task-vector", writeTask1(func(m testModel) testModel {
			m.get("blocks.0.mlp.c_proj.weight").vals[3] = math.Inf(-1)
			return m
		}), []string{"taskb.safetensors", `tensor "blocks.0.mlp.c_proj.weight"`, "-Inf at element 3"}},
		{"nan-in-base", func(t *testing.T, dir string, base testModel, tasks []testModel) (string, []string) {
			base = cloneModel(base)
			base.get("long").vals[7] = math.NaN()
			return writeSet(t, dir, base, tasks)
		}, []string{"base", "base.safetensors", `tensor "long" is NaN at element 7`}},
		{"integer-tensor-missing", writeTask1(func(m testModel) testModel { return without(m, "num_batches_tracked") }),
			[]string{"taskb.safetensors", `tensor "num_batches_tracked" is missing`}},
		{"integer-tensor-shape", writeTask1(func(m testModel) testModel {
			m.get("num_batches_tracked").shape = []uint64{1, 3}
			return m
		}), []string{"taskb.safetensors", `tensor "num_batches_tracked" has shape [1 3]`}},
		{"integer-tensor-dtype", writeTask1(func(m testModel) testModel {
			it := m.get("num_batches_tracked")
			it.dtype, it.shape = safetensors.I32, []uint64{6}
			return m
		}), []string{"taskb.safetensors", `tensor "num_batches_tracked" has dtype I32`}},
		{"float-stored-as-integer-in-base", func(t *testing.T, dir string, base testModel, tasks []testModel) (string, []string) {
			base = cloneModel(base)
			l := base.get("ln_post.weight") // 16 floats become 16 I32s
			l.raw, l.vals, l.dtype = make([]byte, 64), nil, safetensors.I32
			return writeSet(t, dir, base, tasks)
		}, []string{"taska.safetensors", `tensor "ln_post.weight" has dtype F32`, "I32"}},
		{"index-missing-shard", func(t *testing.T, dir string, base testModel, tasks []testModel) (string, []string) {
			bp, tps := writeSet(t, dir, base, tasks)
			idx := filepath.Join(dir, "sharded.index.json")
			js := `{"metadata":{},"weight_map":{"a":"gone-00001-of-00002.safetensors","b":"taska.safetensors"}}`
			if err := os.WriteFile(idx, []byte(js), 0o644); err != nil {
				t.Fatal(err)
			}
			return bp, []string{tps[0], idx}
		}, []string{"sharded.index.json", "shard gone-00001-of-00002.safetensors is missing"}},
		{"index-tensor-not-in-shard", func(t *testing.T, dir string, base testModel, tasks []testModel) (string, []string) {
			bp, tps := writeSet(t, dir, base, tasks)
			idx := filepath.Join(dir, "sharded.index.json")
			js := `{"weight_map":{"nope":"taska.safetensors"}}`
			if err := os.WriteFile(idx, []byte(js), 0o644); err != nil {
				t.Fatal(err)
			}
			return bp, []string{tps[0], idx}
		}, []string{"sharded.index.json", `tensor "nope" is not in shard taska.safetensors`}},
	}
	// What errors.Is finds in each error: the class a caller (the C API)
	// reports.
	classes := map[string]error{
		"missing-tensor": ErrMismatch, "extra-tensor": ErrMismatch, "shape-mismatch": ErrMismatch, "dtype-mismatch": ErrMismatch,
		"unsupported-float-dtype": ErrMismatch, "integer-tensor-missing": ErrMismatch, "integer-tensor-shape": ErrMismatch,
		"integer-tensor-dtype": ErrMismatch, "float-stored-as-integer-in-base": ErrMismatch,
		"nan-in-task-vector": ErrNonFinite, "inf-in-task-vector": ErrNonFinite, "nan-in-base": ErrNonFinite,
	}
	be := best(t)
	base, tasks := makeModels(21, 2, safetensors.F32)
	for _, c := range cases {
		class, ok := classes[c.name]
		if !ok {
			class = checkpoint.ErrMalformed // every other case is a broken file or index
		}
		for _, method := range []string{MethodTA, MethodTIES, MethodTSVM, MethodIsoC} {
			t.Run(c.name+"/"+method, func(t *testing.T) {
				in, out := t.TempDir(), t.TempDir()
				bp, tps := c.setup(t, in, base, tasks)
				o := mergeOpts(method, bp, tps, filepath.Join(out, "merged.safetensors"), be)
				_, err := Run(context.Background(), o)
				if err == nil {
					t.Fatal("merge succeeded")
				}
				t.Log(err)
				for _, e := range []error{checkpoint.ErrMalformed, ErrMismatch, ErrNonFinite} {
					if errors.Is(err, e) != (e == class) {
						t.Errorf("errors.Is(err, %q) = %v", e, errors.Is(err, e))
					}
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				onlyFiles(t, out)
			})
		}
	}
}

// TestOutputSafety: an existing output needs Force, an input is never
// overwritten, and a failed merge leaves a forced output as it was.
func TestOutputSafety(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(4, 2, safetensors.F32)
	bp, tps := writeSet(t, dir, base, tasks)
	be := best(t)
	out := filepath.Join(dir, "out.safetensors")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := mergeOpts(MethodTA, bp, tps, out, be)
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "already exists (use --force") {
		t.Fatalf("existing output without force: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Fatal("existing output was modified")
	}
	// A failing forced merge keeps the old output.
	bad := cloneModel(tasks[0])
	bad.get("long").vals[0] = math.NaN()
	badPath := filepath.Join(dir, "bad.safetensors")
	writeModel(t, badPath, bad, nil)
	o.Force, o.Tasks = true, []string{badPath, tps[1]}
	if _, err := Run(context.Background(), o); err == nil {
		t.Fatal("merge with a NaN task succeeded")
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Fatal("failed forced merge modified the existing output")
	}
	o.Tasks = tps
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if got := readModel(t, out); len(got) != len(base) {
		t.Fatalf("forced output has %d tensors", len(got))
	}
	for _, victim := range []string{bp, tps[1]} {
		before, _ := os.ReadFile(victim)
		o.Out = victim
		if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "is an input") {
			t.Fatalf("output = input %s: %v", victim, err)
		}
		if after, _ := os.ReadFile(victim); string(after) != string(before) {
			t.Fatalf("input %s was modified", victim)
		}
	}
	onlyFiles(t, dir, "base.safetensors", "taska.safetensors", "taskb.safetensors", "bad.safetensors", "out.safetensors")
}

// rawFile is a safetensors file with the given header JSON and data bytes.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// TestCancel: a cancelled context stops the merge (element-wise or matrix
// methods) and Diagnose with ErrCancelled, and the merge leaves nothing.
func TestCancel(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(4, 2, safetensors.F32)
	bp, tps := writeSet(t, dir, base, tasks)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, method := range []string{MethodTA, MethodTIES, MethodTSVM, MethodIsoC} {
		o := mergeOpts(method, bp, tps, filepath.Join(dir, method+".safetensors"), best(t))
		if _, err := Run(ctx, o); !errors.Is(err, ErrCancelled) {
			t.Errorf("%s: err = %v, want ErrCancelled", method, err)
		}
	}
	if _, err := Diagnose(ctx, bp, tps, DiagnoseOptions{Backend: best(t), Threads: 2}); !errors.Is(err, ErrCancelled) {
		t.Errorf("diagnose: err = %v, want ErrCancelled", err)
	}
	onlyFiles(t, dir, filepath.Base(bp), filepath.Base(tps[0]), filepath.Base(tps[1]))
}

// TestWorkerPanic: a panic in a merge's work (a bug) is an error naming the
// tensor, wrapping errmark.ErrPanic, and the process goes on: a host of the
// C API keeps running.
func TestWorkerPanic(t *testing.T) {
	broken := &Method{Name: "broken", Doc: "panics", chunk: func(c *chunk) error {
		if c.tensor == "long" {
			var m map[string]int
			m[c.tensor]++
		}
		return c.weightedSum(1)
	}}
	Methods = append(Methods, broken)
	defer func() { Methods = Methods[:len(Methods)-1] }()
	dir := t.TempDir()
	base, tasks := makeModels(4, 2, safetensors.F32)
	bp, tps := writeSet(t, dir, base, tasks)
	_, err := Run(context.Background(), mergeOpts("broken", bp, tps, filepath.Join(dir, "out.safetensors"), best(t)))
	if !errors.Is(err, errmark.ErrPanic) || !strings.Contains(err.Error(), `on tensor "long"`) {
		t.Fatalf("err %v, want errmark.ErrPanic naming the tensor", err)
	}
	onlyFiles(t, dir, "base.safetensors", "taska.safetensors", "taskb.safetensors")
}
