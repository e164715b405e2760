//go:build cgo

// Compiles distac_convert into package ffi (the source lives in kernels/avx).
#include "../kernels/avx/convert.c"
