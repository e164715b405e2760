//go:build cgo

#include "../kernels/avx/ties.c"
