//go:build cgo

// Compiles the kernels' status strings into package ffi (see c_runtime.c).
#include "../kernels/avx/status.c"
