package merge_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/distac/merge"
	"github.com/distac/distac/ffi"
	"github.com/nlpodyssey/safetensors"
)

// writeModel writes one F32 tensor "w" of values as a checkpoint.
func writeModel(path string, values []float32) {
	w, err := checkpoint.Create(path, []checkpoint.OutTensor{{Name: "w", DType: safetensors.F32, Shape: []uint64{uint64(len(values))}}},
		nil, 0, true, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.WriteAt(0, 0, ffi.F32Bytes(values)); err != nil {
		log.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}
}

// A base and two fine-tuned models in a temporary directory.
func exampleModels() (dir, base string, tasks []string) {
	dir, err := os.MkdirTemp("", "distac-example")
	if err != nil {
		log.Fatal(err)
	}
	base = filepath.Join(dir, "base.safetensors")
	writeModel(base, []float32{1, 2, 3, 4})
	for i, v := range [][]float32{{1.4, 2, 3, 4.3}, {1, 1.2, 3, 4}} {
		p := filepath.Join(dir, fmt.Sprintf("task%d.safetensors", i))
		writeModel(p, v)
		tasks = append(tasks, p)
	}
	return dir, base, tasks
}

// Task arithmetic: theta = theta_0 + alpha * sum_t (theta_t - theta_0).
func ExampleRun() {
	dir, base, tasks := exampleModels()
	defer os.RemoveAll(dir)
	be, err := ffi.Open("auto", 1)
	if err != nil {
		log.Fatal(err)
	}
	out := filepath.Join(dir, "merged.safetensors")
	rep, err := merge.Run(context.Background(), merge.Options{
		Method: merge.MethodTA, Base: base, Tasks: tasks, Alpha: 0.5, Out: out, Backend: be,
	})
	if err != nil {
		log.Fatal(err)
	}
	ck, err := checkpoint.Open(out)
	if err != nil {
		log.Fatal(err)
	}
	defer ck.Close()
	w, _ := ck.Tensor("w")
	var merged []float32
	if err := w.View(0, 4, func(raw []byte) (err error) {
		merged, err = checkpoint.DecodeFloats(w.DType, raw)
		return err
	}); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("task vector norms %.2f %.2f\n", rep.TaskNorms[0], rep.TaskNorms[1])
	fmt.Printf("merged %.2f\n", merged)
	// Output:
	// task vector norms 0.50 0.80
	// merged [1.20 1.60 3.00 4.15]
}

// The task vectors' norms, their ratio and cosines: the check for DisTaC's
// norm mismatch before a merge.
func ExampleDiagnose() {
	dir, base, tasks := exampleModels()
	defer os.RemoveAll(dir)
	be, err := ffi.Open("auto", 1)
	if err != nil {
		log.Fatal(err)
	}
	st, err := merge.Diagnose(context.Background(), base, tasks, merge.DiagnoseOptions{Backend: be})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("norms %.2f %.2f, ratio %.2f, cosine %.2f\n", st.Norms[0], st.Norms[1], st.NormRatio(), st.Cosine(0, 1))
	// Output:
	// norms 0.50 0.80, ratio 1.60, cosine 0.00
}
