//go:build cgo

#include "../kernels/avx/layernorm.c"
