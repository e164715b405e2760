//go:build cgo

#include "../kernels/avx/adam.c"
