//go:build cgo

#include "../kernels/avx/softmax.c"
