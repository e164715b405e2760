//go:build cgo

#include "../kernels/avx/topk.c"
