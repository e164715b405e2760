package merge

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/half"
	"github.com/nlpodyssey/safetensors"
)

// TestShardedRoundTrip writes a sharded output, checks its layout and index,
// reads it back equal to the single-file output, and merges from sharded
// inputs to the same result.
func TestShardedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	base, tasks := makeModels(17, 2, safetensors.F32)
	bp, tps := writeSet(t, dir, base, tasks)
	be := best(t)
	single := filepath.Join(dir, "single.safetensors")
	o := mergeOpts(MethodTA, bp, tps, single, be)
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "sharded")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	o.Out, o.ShardSize = filepath.Join(outDir, "model.safetensors"), 1200
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(outDir, checkpoint.IndexName)
	if len(rep.Outputs) < 3 || rep.Outputs[len(rep.Outputs)-1] != idx {
		t.Fatalf("outputs %v: want several shards and %s", rep.Outputs, idx)
	}
	nShards := len(rep.Outputs) - 1
	for i, p := range rep.Outputs[:nShards] {
		if want := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, nShards); filepath.Base(p) != want {
			t.Errorf("shard %d is %s, want %s", i, filepath.Base(p), want)
		}
		if st, err := os.Stat(p); err != nil || st.Size() > 1200+1024 {
			t.Errorf("shard %s: %v, size %d", p, err, st.Size())
		}
	}
	want := readModel(t, single)
	for _, path := range []string{idx, outDir} {
		got := readModel(t, path)
		if len(got) != len(want) {
			t.Fatalf("%s: %d tensors, want %d", path, len(got), len(want))
		}
		for _, w := range want {
			g := got.get(w.name)
			if g == nil || fmt.Sprint(g.vals, g.raw) != fmt.Sprint(w.vals, w.raw) {
				t.Errorf("%s: tensor %s differs from the single-file output", path, w.name)
			}
		}
	}
	js, _ := os.ReadFile(idx)
	if !strings.Contains(string(js), `"total_size"`) || !strings.Contains(string(js), `"distac.method": "ta"`) {
		t.Errorf("index metadata: %s", js)
	}
	// Sharded inputs: the sharded merge as the base gives base + the same delta.
	o2 := mergeOpts(MethodTA, idx, []string{single}, filepath.Join(dir, "from-sharded.safetensors"), be)
	o2.Alpha = 1
	if _, err := Run(context.Background(), o2); err != nil {
		t.Fatal(err)
	}
	for _, g := range readModel(t, o2.Out) {
		if g.vals != nil {
			for i, v := range g.vals {
				if v != want.get(g.name).vals[i] { // tau = 0: theta = the base exactly
					t.Fatalf("%s[%d] = %v, want %v", g.name, i, v, want.get(g.name).vals[i])
				}
			}
		}
	}
	// An existing sharded output needs --force, for the index as for shards.
	o.Force = false
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("re-merge into existing shards: %v", err)
	}
}

// TestWriterLayout: files written by Writer parse with the safetensors
// package itself, including 0-d and empty tensors, and merge like any other.
func TestWriterLayout(t *testing.T) {
	dir := t.TempDir()
	outs := []checkpoint.OutTensor{
		{Name: "scalar", DType: safetensors.F32, Shape: []uint64{}},
		{Name: "empty", DType: safetensors.F16, Shape: []uint64{0, 4}},
		{Name: "half", DType: safetensors.BF16, Shape: []uint64{3}},
		{Name: "quoted \"name\"", DType: safetensors.I32, Shape: []uint64{2}},
	}
	write := func(path string, v float32) {
		w, err := checkpoint.Create(path, outs, map[string]string{"k": "v"}, 0, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(w.WriteAt(0, 0, ffi.F32Bytes([]float32{v})))
		must(w.WriteAt(2, 0, ffi.U16Bytes([]uint16{half.F32ToBF16(v), half.F32ToBF16(2 * v), half.F32ToBF16(-v)})))
		must(w.WriteAt(3, 0, ffi.I32Bytes([]int32{7, int32(v)})))
		if err := w.WriteAt(3, 4, make([]byte, 8)); err == nil {
			t.Fatal("write past a tensor's end accepted")
		}
		must(w.Commit())
	}
	base, task := filepath.Join(dir, "base.safetensors"), filepath.Join(dir, "task.safetensors")
	write(base, 1)
	write(task, 1.5)
	data, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		t.Fatalf("safetensors package rejects our file: %v", err)
	}
	if len(st.Names()) != len(outs) {
		t.Fatalf("safetensors package sees %v", st.Names())
	}
	if hdr := int(data[0]); (8+hdr)%8 != 0 {
		t.Errorf("header length %d is not 8-byte aligned", hdr)
	}
	o := mergeOpts(MethodTA, base, []string{task}, filepath.Join(dir, "out.safetensors"), best(t))
	o.OutDType, o.Alpha = "", 2
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	got := readModel(t, o.Out)
	if s := got.get("scalar"); len(s.vals) != 1 || s.vals[0] != 2 { // 1 + 2*(1.5-1)
		t.Errorf("scalar = %v, want [2]", s.vals)
	}
	if e := got.get("empty"); e == nil || len(e.vals) != 0 || e.dtype != safetensors.F16 {
		t.Errorf("empty tensor: %+v", e)
	}
	if h := got.get("half"); h.dtype != safetensors.BF16 || h.vals[0] != 2 || h.vals[1] != 4 || h.vals[2] != -2 {
		t.Errorf("bf16 tensor = %v (%s)", h.vals, h.dtype)
	}
	if q := got.get(`quoted "name"`); q == nil || string(q.raw) != string(ffi.I32Bytes([]int32{7, 1})) {
		t.Errorf("integer tensor not carried from the base: %+v", q)
	}
	if rep.Carried != 1 || rep.Tensors != 4 || math.Abs(rep.TaskNorms[0]-math.Sqrt(0.25*(1+4+1+1))) > 1e-6 {
		t.Errorf("report %+v", rep)
	}
}
