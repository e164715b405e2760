//go:build cgo

#include "../kernels/avx/l2norm.c"
