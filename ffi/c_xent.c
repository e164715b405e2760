//go:build cgo

// Compiles the label-smoothed cross-entropy kernels into package ffi.
#include "../kernels/avx/xent.c"
