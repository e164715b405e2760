// Package stubcuda builds the stub CUDA driver of ffi/testdata/fakecuda.c
// into a shared library, so tests without a GPU can load it in place of
// libcuda.so.1 (its DISTAC_FAKE_CUDA modes say which driver it plays).
package stubcuda

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// Build compiles src (the path of fakecuda.c from the test's package) into
// a libcuda.so.1 in a temporary directory of t and returns its path. A
// machine without a C compiler skips the test, saying so.
func Build(t testing.TB, src string) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		if cc, err = exec.LookPath("gcc"); err != nil {
			t.Skip("no C compiler to build the stub CUDA driver")
		}
	}
	lib := filepath.Join(t.TempDir(), "libcuda.so.1")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-O1", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("building the stub driver: %v\n%s", err, out)
	}
	return lib
}
