//go:build cgo && linux

// Compiles the run-time LAPACK loader into package ffi (source in kernels/lapack).
#include "../kernels/lapack/lapack.c"
