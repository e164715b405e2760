package merge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
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
