package ffi

import "fmt"

// CUDAInfo describes the GPU the CUDA backend runs on.
type CUDAInfo struct {
	Name            string `json:"name"`
	Ordinal         int    `json:"ordinal"`
	CCMajor         int    `json:"cc_major"`
	CCMinor         int    `json:"cc_minor"`
	Multiprocessors int    `json:"multiprocessors"`
	DriverVersion   int    `json:"driver_version"` // e.g. 12040 for CUDA 12.4
	MemoryPools     bool   `json:"memory_pools"`
	TotalMemory     uint64 `json:"total_memory_bytes"`
	PTXArch         string `json:"ptx_arch"` // the PTX set loaded: sm_90a or sm_80
	Library         string `json:"library"`  // the driver library opened
}

// Driver is the CUDA version the driver supports, as "12.4".
func (i CUDAInfo) Driver() string {
	return fmt.Sprintf("%d.%d", i.DriverVersion/1000, i.DriverVersion%1000/10)
}

// CUDABuilt reports whether this binary holds the CUDA backend (it does on
// Linux with cgo; it needs no CUDA library to build or to start).
func CUDABuilt() bool { return cudaBuilt }

// EnvBackend names the environment variable that picks the backend "auto"
// (every command's default) opens: any name Open takes.
const EnvBackend = "DISTAC_BACKEND"

// EnvLibCUDA names the environment variable with the path of the CUDA
// driver library to open instead of libcuda.so.1 (the C loader reads it).
const EnvLibCUDA = "DISTAC_LIBCUDA"

// autoPicksCUDA says whether "auto" opens the CUDA backend when a GPU is
// there. It is off until the CUDA kernels have passed scripts/gpu-check.sh
// on a GPU: none of them has run on one yet, so by default a GPU machine
// keeps the verified CPU path and --backend cuda (or DISTAC_BACKEND=cuda)
// opts in.
var autoPicksCUDA = false
