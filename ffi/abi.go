package ffi

// KernelsABI is the version of the C kernels' ABI this package is built
// against: DISTAC_KERNELS_ABI_VERSION of kernels/include/distac_kernels.h
// (a cgo build fails if the two differ; see cpu.go).
const KernelsABI = 4
