//go:build cgo

#include "../kernels/avx/gemm_bf16.c"
