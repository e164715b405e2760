//go:build cgo

#include "../kernels/avx/gelu.c"
