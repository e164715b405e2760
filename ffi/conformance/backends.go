package conformance

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/distac/distac/ffi"
)

// The flags (and environment variables) that turn the upper CPU paths off,
// so one machine tests every path below its best (reedsolomon-style). Every
// test binary that imports this package has them.
var (
	noAVX512 = flag.Bool("no-avx512", os.Getenv("DISTAC_TEST_NO_AVX512") != "", "skip the AVX-512 path")
	noAVX2   = flag.Bool("no-avx2", os.Getenv("DISTAC_TEST_NO_AVX2") != "", "skip the AVX2 and AVX-512 paths")
)

// PathStatus says whether the tests run the CPU path isa here ("runs"), and
// if not, why.
func PathStatus(isa string) string {
	switch {
	case !ffi.KernelsBuilt():
		return "skipped: built without cgo, so without the C kernels"
	case isa == ffi.ISAAVX512 && (*noAVX512 || *noAVX2):
		return "skipped: disabled by -no-avx512/-no-avx2"
	case isa == ffi.ISAAVX2 && *noAVX2:
		return "skipped: disabled by -no-avx2"
	case !ffi.CPUHas(isa):
		return "skipped: this CPU/OS lacks it"
	case ffi.CPUHas(isa) != ffi.KernelsSupport(isa):
		return "MISMATCH: cpuid and the kernels disagree"
	}
	return "runs"
}

// PrintPaths prints one line per CPU path saying whether it runs here: a
// testMain calls it, so every test log starts by saying what it covered.
func PrintPaths(pkg string) {
	for _, isa := range ffi.ISAs {
		fmt.Printf("%s: %-7s %s\n", pkg, isa, PathStatus(isa))
	}
	fmt.Printf("%s: %-7s %s\n", pkg, "cuda", CUDAStatus())
}

// names lists the backends in test order: the reference, then the CPU
// paths from the slowest, then the GPU.
var names = []string{"ref", ffi.ISAScalar, ffi.ISAAVX2, ffi.ISAAVX512, "cuda"}

// noCUDA turns the CUDA backend off in the tests of a machine that has one.
var noCUDA = flag.Bool("no-cuda", os.Getenv("DISTAC_TEST_NO_CUDA") != "", "skip the CUDA backend")

// CUDAStatus says whether the tests run the CUDA backend here ("runs"), and
// if not, why (no driver, no device, ...: the backend's own one line).
func CUDAStatus() string {
	switch {
	case *noCUDA:
		return "skipped: disabled by -no-cuda"
	case !ffi.CUDABuilt():
		return "skipped: built without cgo on Linux, so without the CUDA backend"
	}
	if _, err := ffi.NewCUDA(); err != nil {
		return "skipped: " + err.Error()
	}
	return "runs"
}

// open returns the backend called name with threads threads, or the reason
// it does not run here.
func open(name string, threads int) (ffi.Backend, string, error) {
	if name == "ref" {
		return ffi.NewRef(), "", nil
	}
	if name == "cuda" {
		if s := CUDAStatus(); s != "runs" {
			return nil, s, nil
		}
		be, err := ffi.NewCUDA()
		return be, "", err
	}
	if s := PathStatus(name); s != "runs" {
		return nil, s, nil
	}
	be, err := ffi.NewCPU(name, threads)
	return be, "", err
}

// Backends opens every backend this machine and build run, with threads
// kernel threads each (<= 0: one per CPU), logging the ones it skips.
func Backends(t testing.TB, threads int) []ffi.Backend {
	t.Helper()
	var out []ffi.Backend
	for _, name := range names {
		be, skip, err := open(name, threads)
		switch {
		case err != nil:
			t.Fatalf("backend %s: %v", name, err)
		case skip != "":
			t.Logf("backend %s %s", name, skip)
		default:
			out = append(out, be)
		}
	}
	return out
}

// ForEachBackend runs fn as a subtest on every backend of Backends (one
// thread per CPU); a path this machine cannot run is a skipped subtest with
// the reason, never a pass.
func ForEachBackend(t *testing.T, fn func(t *testing.T, be ffi.Backend)) {
	t.Helper()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			be, skip, err := open(name, 0)
			if err != nil {
				t.Fatal(err)
			}
			if skip != "" {
				t.Skip(skip)
			}
			fn(t, be)
		})
	}
}
