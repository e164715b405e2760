package ffi

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// EnvCPU names the environment variable that forces a CPU instruction set.
const EnvCPU = "DISTAC_CPU"

// ISA names accepted by NewCPU, Open and DISTAC_CPU.
const (
	ISAScalar = "scalar"
	ISAAVX2   = "avx2"
	ISAAVX512 = "avx512"
)

// ISAs lists the instruction sets in order of preference, fastest first.
var ISAs = []string{ISAAVX512, ISAAVX2, ISAScalar}

// KernelsBuilt reports whether this binary holds the C kernels: it does when
// built with cgo. Without them the reference backend is the only one.
func KernelsBuilt() bool { return kernelsBuilt }

// CPUHas reports whether this CPU and OS can run isa, as cpuid sees it
// (cpuid reports AVX-512 only where the OS saves ZMM state; off x86 it
// reports neither AVX2 nor AVX-512).
func CPUHas(isa string) bool {
	switch isa {
	case ISAScalar:
		return true
	case ISAAVX2:
		return cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3, cpuid.F16C)
	case ISAAVX512:
		return CPUHas(ISAAVX2) && cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512VL)
	}
	return false
}

// BestISA is the fastest instruction set this CPU runs.
func BestISA() string {
	for _, isa := range ISAs {
		if CPUHas(isa) {
			return isa
		}
	}
	return ISAScalar
}

// ChooseISA picks the instruction set: the value of DISTAC_CPU if set
// (scalar, avx2, avx512; an error if this CPU lacks it), else the best.
func ChooseISA() (string, error) {
	want := strings.TrimSpace(strings.ToLower(os.Getenv(EnvCPU)))
	if want == "" || want == "auto" {
		return BestISA(), nil
	}
	if !slices.Contains(ISAs, want) {
		return "", fmt.Errorf("%s=%q: want scalar, avx2, avx512 or auto", EnvCPU, want)
	}
	if !CPUHas(want) {
		return "", fmt.Errorf("%s=%s: this CPU (%s) cannot run %s", EnvCPU, want, cpuid.CPU.BrandName, want)
	}
	return want, nil
}

// Open returns a backend by name: "ref", "scalar", "avx2", "avx512", "cpu"
// for the CPU backend that ChooseISA picks, "cuda" for the GPU (an error
// saying why where there is none), or "auto"/"" for $DISTAC_BACKEND if set,
// else the best this binary and machine have (the CPU backend, or the
// reference one in a build without the C kernels; see autoPicksCUDA).
// threads <= 0 uses every CPU.
func Open(name string, threads int) (Backend, error) {
	switch name {
	case "ref":
		return NewRef(), nil
	case "cuda":
		be, err := NewCUDA()
		if err != nil {
			return nil, err
		}
		return be, nil
	case "", "auto":
		if env := strings.TrimSpace(strings.ToLower(os.Getenv(EnvBackend))); env != "" && env != "auto" {
			be, err := Open(env, threads)
			if err != nil {
				return nil, fmt.Errorf("%s=%s: %w", EnvBackend, env, err)
			}
			return be, nil
		}
		if autoPicksCUDA && cudaBuilt {
			if be, err := NewCUDA(); err == nil {
				return be, nil
			}
		}
		if !kernelsBuilt {
			return NewRef(), nil
		}
		fallthrough
	case "cpu":
		isa, err := ChooseISA()
		if err != nil {
			return nil, err
		}
		return openCPU(isa, threads)
	}
	if slices.Contains(ISAs, name) {
		if !CPUHas(name) {
			return nil, fmt.Errorf("backend %s: this CPU (%s) cannot run it", name, cpuid.CPU.BrandName)
		}
		return openCPU(name, threads)
	}
	return nil, fmt.Errorf("unknown backend %q (want auto, cpu, cuda, ref, scalar, avx2 or avx512)", name)
}

// openCPU is NewCPU as a Backend (a nil one on error, not a nil *CPU).
func openCPU(isa string, threads int) (Backend, error) {
	cpu, err := NewCPU(isa, threads)
	if err != nil {
		return nil, err
	}
	return cpu, nil
}
