// Package testutil holds helpers the engine's tests share: the backends
// every test runs on, and reading golden tensors.
package testutil

import (
	"testing"

	"github.com/distac/distac/distac"
	"github.com/distac/distac/ffi"
)

// Backends opens the reference backend and every CPU path this machine
// runs (two threads each), logging the paths it lacks as skipped.
func Backends(t testing.TB) []ffi.Backend {
	t.Helper()
	var out []ffi.Backend
	for _, name := range append([]string{"ref"}, ffi.ISAs...) {
		if name != "ref" && !ffi.CPUHas(name) {
			t.Logf("%s: skipped, this CPU lacks it", name)
			continue
		}
		be, err := ffi.Open(name, 2)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, be)
	}
	return out
}

// F32 reads an F32 tensor of a checkpoint (a golden file).
func F32(t testing.TB, ck *distac.Checkpoint, name string) []float32 {
	t.Helper()
	tn, ok := ck.Tensor(name)
	if !ok {
		t.Fatalf("%s has no tensor %s", ck.Path, name)
	}
	out := make([]float32, tn.Numel)
	copy(ffi.F32Bytes(out), tn.Bytes(0, tn.Numel))
	return out
}
