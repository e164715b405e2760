//go:build !cgo

package ffi

import "errors"

// Without cgo this build holds no C kernels: the reference backend is the
// only one, and asking for a CPU path says why it is missing.

const kernelsBuilt = false

// CPU would run the C kernels; a build without cgo has none, and NewCPU
// never returns one.
type CPU struct{ Backend }

var errNoKernels = errors.New("cpu backend: this binary was built without cgo and holds no C kernels " +
	"(build with CGO_ENABLED=1 and a C compiler, or use the ref backend)")

// NewCPU fails: the kernels are not in this build.
func NewCPU(isa string, threads int) (*CPU, error) { return nil, errNoKernels }

// KernelsSupport reports false: the kernels are not in this build.
func KernelsSupport(isa string) bool { return false }
