//go:build !cgo || !linux

package ffi

import "errors"

// Without cgo on Linux this build holds no CUDA backend.

const cudaBuilt = false

// CUDA would run the CUDA kernels; this build has none, and NewCUDA never
// returns one.
type CUDA struct{ Backend }

var errNoCUDA = errors.New("cuda backend: this binary was built without cgo on Linux and holds no CUDA backend " +
	"(build with CGO_ENABLED=1 on Linux; no CUDA toolkit is needed)")

// NewCUDA fails: the backend is not in this build.
func NewCUDA() (*CUDA, error) { return nil, errNoCUDA }

// CUDADeviceCount fails: the backend is not in this build.
func CUDADeviceCount() (int, error) { return 0, errNoCUDA }

// Info is empty: there is no device.
func (*CUDA) Info() CUDAInfo { return CUDAInfo{} }
