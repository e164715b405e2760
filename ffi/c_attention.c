//go:build cgo

#include "../kernels/avx/attention.c"
