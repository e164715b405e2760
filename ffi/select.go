package ffi

import (
	"fmt"
	"os"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// EnvCPU names the environment variable that forces a CPU instruction set.
const EnvCPU = "DISTAC_CPU"

// CPUHas reports whether this CPU and OS can run isa, as cpuid sees it
// (cpuid reports AVX-512 only where the OS saves ZMM state).
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
	switch {
	case CPUHas(ISAAVX512):
		return ISAAVX512
	case CPUHas(ISAAVX2):
		return ISAAVX2
	}
	return ISAScalar
}

// ISAs lists the instruction sets in order of preference, fastest first.
var ISAs = []string{ISAAVX512, ISAAVX2, ISAScalar}

// ChooseISA picks the instruction set: the value of DISTAC_CPU if set
// (scalar, avx2, avx512; an error if this CPU lacks it), else the best.
func ChooseISA() (string, error) {
	want := strings.TrimSpace(strings.ToLower(os.Getenv(EnvCPU)))
	if want == "" || want == "auto" {
		return BestISA(), nil
	}
	if _, ok := isaByName[want]; !ok {
		return "", fmt.Errorf("%s=%q: want scalar, avx2, avx512 or auto", EnvCPU, want)
	}
	if !CPUHas(want) {
		return "", fmt.Errorf("%s=%s: this CPU (%s) cannot run %s", EnvCPU, want, cpuid.CPU.BrandName, want)
	}
	return want, nil
}

// Open returns a backend by name: "ref", "scalar", "avx2", "avx512", or
// "cpu"/"" for the CPU backend that ChooseISA picks. threads <= 0 uses every CPU.
func Open(name string, threads int) (Backend, error) {
	switch name {
	case "ref":
		return NewRef(), nil
	case "", "cpu", "auto":
		isa, err := ChooseISA()
		if err != nil {
			return nil, err
		}
		return NewCPU(isa, threads)
	}
	if _, ok := isaByName[name]; ok {
		if !CPUHas(name) {
			return nil, fmt.Errorf("backend %s: this CPU (%s) cannot run it", name, cpuid.CPU.BrandName)
		}
		return NewCPU(name, threads)
	}
	return nil, fmt.Errorf("unknown backend %q (want ref, scalar, avx2, avx512 or cpu)", name)
}
