package ffi

import (
	"testing"

	"github.com/distac/distac/internal/srchash"
)

// The compiled package must match the kernel sources on disk; otherwise Go's
// cache may hold an old build of an edited kernel.
func TestKernelSourcesHashCurrent(t *testing.T) {
	sum, err := srchash.Kernels("..")
	if err != nil {
		t.Fatal(err)
	}
	if sum != kernelSourcesHash {
		t.Fatal("kernel sources changed since ffi/kernelhash.go was generated: run `go generate ./ffi` " +
			"(scripts/test.sh does) so the package is rebuilt with them")
	}
}
