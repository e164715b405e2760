//go:build cgo

#include "../kernels/avx/bias.c"
