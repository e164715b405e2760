// Package testutil holds helpers the engine's tests share: the backends
// every test runs on, and reading golden tensors.
package testutil

import (
	"testing"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/ffi/conformance"
)

// Backends is the module's one list of test backends (conformance.Backends):
// the reference and every CPU path this machine and build run, two kernel
// threads each, the ones it lacks logged as skipped.
func Backends(t testing.TB) []ffi.Backend { return conformance.Backends(t, 2) }

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
