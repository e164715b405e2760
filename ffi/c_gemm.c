//go:build cgo

#include "../kernels/avx/gemm.c"
