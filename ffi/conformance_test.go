package ffi_test

import (
	"flag"
	"os"
	"testing"

	"github.com/distac/distac/ffi"
	"github.com/distac/distac/ffi/conformance"
)

func TestMain(m *testing.M) {
	flag.Parse()
	conformance.PrintPaths("ffi")
	os.Exit(m.Run())
}

// TestConformance runs the exported suite on every backend this machine
// and build run: ref, scalar, avx2, avx512 (a path the CPU lacks is a
// skipped subtest with the reason).
func TestConformance(t *testing.T) {
	conformance.ForEachBackend(t, func(t *testing.T, be ffi.Backend) { conformance.Run(t, be) })
}
