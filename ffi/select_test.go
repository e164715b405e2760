package ffi

import (
	"strings"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// A CPU without AVX-512 must never get the AVX-512 path: with the feature
// masked out of cpuid, the choice falls back and forcing it is an error.
func TestSelectionWithoutAVX512(t *testing.T) {
	skipWithoutKernels(t)
	had := cpuid.CPU.Supports(cpuid.AVX512F)
	cpuid.CPU.Disable(cpuid.AVX512F)
	defer func() {
		if had {
			cpuid.CPU.Enable(cpuid.AVX512F)
		}
	}()
	if CPUHas(ISAAVX512) {
		t.Fatal("CPUHas(avx512) with AVX512F masked")
	}
	if got := BestISA(); got == ISAAVX512 {
		t.Fatalf("BestISA = %s with AVX512F masked", got)
	}
	t.Setenv(EnvCPU, "")
	be, err := Open("cpu", 0)
	if err != nil {
		t.Fatal(err)
	}
	if be.Name() == ISAAVX512 {
		t.Fatal("auto backend chose avx512 with AVX512F masked")
	}
	t.Setenv(EnvCPU, ISAAVX512)
	if _, err := Open("cpu", 0); err == nil || !strings.Contains(err.Error(), "cannot run avx512") {
		t.Fatalf("forcing avx512 without it: err = %v", err)
	}
	if _, err := Open(ISAAVX512, 0); err == nil {
		t.Fatal("Open(avx512) succeeded with AVX512F masked")
	}
}

func TestSelectionEnv(t *testing.T) {
	skipWithoutKernels(t)
	for _, isa := range []string{ISAScalar, ISAAVX2, ISAAVX512} {
		t.Setenv(EnvCPU, strings.ToUpper(isa))
		be, err := Open("cpu", 0)
		if !CPUHas(isa) {
			if err == nil {
				t.Errorf("%s forced on a CPU without it: no error", isa)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if be.Name() != isa {
			t.Errorf("%s=%s chose %s", EnvCPU, isa, be.Name())
		}
	}
	t.Setenv(EnvCPU, "neon")
	if _, err := Open("cpu", 0); err == nil || !strings.Contains(err.Error(), "want scalar, avx2, avx512") {
		t.Errorf("unknown path: err = %v", err)
	}
	t.Setenv(EnvCPU, "")
	if _, err := Open("tpu", 0); err == nil {
		t.Error("unknown backend accepted")
	}
}

// The kernels' own CPU check must agree with cpuid on this machine.
func TestKernelCheckAgreesWithCPUID(t *testing.T) {
	skipWithoutKernels(t)
	for _, isa := range []string{ISAScalar, ISAAVX2, ISAAVX512} {
		if CPUHas(isa) != KernelsSupport(isa) {
			t.Errorf("%s: cpuid says %v, kernels say %v", isa, CPUHas(isa), KernelsSupport(isa))
		}
	}
}

// skipWithoutKernels skips a test of the CPU paths in a build without cgo.
func skipWithoutKernels(t *testing.T) {
	t.Helper()
	if !KernelsBuilt() {
		t.Skip("built without cgo: no C kernels to select")
	}
}

// Without the kernels, auto is the reference backend and cpu says why not.
func TestOpenWithoutKernels(t *testing.T) {
	if KernelsBuilt() {
		t.Skip("built with the C kernels")
	}
	be, err := Open("auto", 0)
	if err != nil || be.Name() != "ref" {
		t.Fatalf("auto without kernels: %v, %v", be, err)
	}
	if _, err := Open("cpu", 0); err == nil || !strings.Contains(err.Error(), "without cgo") {
		t.Fatalf("cpu without kernels: %v", err)
	}
}
