//go:build cgo

#include "../kernels/avx/attention_avx2.c"
