package merge

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
)

// TestGolden reruns the merges of scripts/golden/merge_golden.py (PyTorch,
// float64, torch.linalg.svd) on its committed inputs and compares with its
// committed outputs: relative error <= 1e-5 per tensor, on both backends.
func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	for _, tag := range []string{"f32", "bf16"} {
		var tasks []string
		for i := 0; i < 3; i++ {
			tasks = append(tasks, filepath.Join(dir, tag+"-task"+strconv.Itoa(i)+".safetensors"))
		}
		basePath := filepath.Join(dir, tag+"-base.safetensors")
		base := readModel(t, basePath)
		for _, method := range []string{MethodTIES, MethodTSVM, MethodIsoC, MethodIsoCTS} {
			goldPath := filepath.Join(dir, tag+"-"+method+".safetensors")
			f, err := checkpoint.OpenFile(goldPath)
			if err != nil {
				t.Fatal(err)
			}
			meta := f.Metadata
			f.Close()
			gold := readModel(t, goldPath)
			for _, be := range backends(t) {
				t.Run(tag+"/"+method+"/"+be.Name(), func(t *testing.T) {
					o := Options{Method: MethodTA, Alpha: 1}
					o.Method, o.Base, o.Tasks, o.Backend, o.OutDType = method, basePath, tasks, be, "f32"
					o.Out = filepath.Join(t.TempDir(), "out.safetensors")
					if meta["method"] != method {
						t.Fatalf("golden %s is for method %q", goldPath, meta["method"])
					}
					if o.Alpha, err = strconv.ParseFloat(meta["alpha"], 64); err != nil {
						t.Fatalf("golden alpha: %v", err)
					}
					if k, ok := meta["k"]; ok {
						o.Params = map[string]string{"k": k}
					}
					if _, err := Run(context.Background(), o); err != nil {
						t.Fatal(err)
					}
					got := readModel(t, o.Out)
					for _, gt := range gold {
						out, bt := got.get(gt.name), base.get(gt.name)
						if out == nil {
							t.Fatalf("%s missing", gt.name)
						}
						if gt.raw != nil {
							if string(out.raw) != string(gt.raw) {
								t.Errorf("%s: integer tensor differs", gt.name)
							}
							continue
						}
						if d := updateDiff(gt.vals, out.vals, bt.vals, 1e-5); d != "" {
							t.Errorf("%s: update vs PyTorch (-torch +distac):\n%s", gt.name, d)
						}
					}
				})
			}
		}
	}
}
