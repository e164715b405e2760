//go:build cgo

// Compiles the fused KL distillation kernels into package ffi.
#include "../kernels/avx/kl.c"
