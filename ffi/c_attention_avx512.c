//go:build cgo

#include "../kernels/avx/attention_avx512.c"
