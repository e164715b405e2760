// Package testutil holds helpers the engine's tests share: the backends
// every test runs on, opening checkpoints, reading golden tensors and the
// README (readme.go).
package testutil

import (
	"math"
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/ffi/conformance"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Backends is the module's one list of test backends (conformance.Backends):
// the reference and every CPU path this machine and build run, two kernel
// threads each, the ones it lacks logged as skipped.
func Backends(t testing.TB) []ffi.Backend { return conformance.Backends(t, 2) }

// Open opens the checkpoint at path (a file, a folder or an index) for the
// rest of the test, closed when it ends, or fails the test.
func Open(t testing.TB, path string) *checkpoint.Checkpoint {
	t.Helper()
	ck, err := checkpoint.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	return ck
}

// F32 reads an F32 tensor of a checkpoint (a golden file).
func F32(t testing.TB, ck *checkpoint.Checkpoint, name string) []float32 {
	t.Helper()
	tn, ok := ck.Tensor(name)
	if !ok {
		t.Fatalf("%s has no tensor %s", ck.Path, name)
	}
	out := make([]float32, tn.Numel)
	copy(ffi.F32Bytes(out), tn.Bytes(0, tn.Numel))
	return out
}

// ApproxDiff is cmp.Diff(want, got) up to tol: each element may differ by
// tol relative to itself or tol times want's root mean square, whichever is
// larger (cmpopts.EquateApprox(tol, tol*rms)), so elements near zero are
// held to the scale of the whole vector, as a norm-wise relative error
// would hold them. "" means close enough; NaN never is.
func ApproxDiff[T float32 | float64](want, got []T, tol float64) string {
	var ss float64
	for _, w := range want {
		ss += float64(w) * float64(w)
	}
	rms := 0.0
	if len(want) > 0 {
		rms = math.Sqrt(ss / float64(len(want)))
	}
	return cmp.Diff(want, got, cmpopts.EquateApprox(tol, tol*rms))
}

// Tensors returns every tensor of the checkpoint at path with a copy of its
// bytes, in the file's order: what WriteTensors takes.
func Tensors(t testing.TB, path string) ([]checkpoint.OutTensor, [][]byte) {
	t.Helper()
	ck := Open(t, path)
	var outs []checkpoint.OutTensor
	var data [][]byte
	for _, tn := range ck.Tensors {
		outs = append(outs, checkpoint.OutTensor{Name: tn.Name, DType: tn.DType, Shape: tn.Shape})
		data = append(data, append([]byte(nil), tn.Bytes(0, tn.Numel)...))
	}
	return outs, data
}

// WriteTensors writes a safetensors file of the tensors and their bytes, no
// metadata, over an existing file when force.
func WriteTensors(t testing.TB, path string, outs []checkpoint.OutTensor, data [][]byte, force bool) {
	t.Helper()
	w, err := checkpoint.Create(path, outs, nil, 0, force, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range data {
		if err := w.WriteAt(i, 0, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}
