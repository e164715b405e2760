//go:build cgo

#include "../kernels/avx/tall.c"
