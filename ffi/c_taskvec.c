//go:build cgo

// Compiles the task-vector kernels into package ffi (the source lives in kernels/avx).
#include "../kernels/avx/taskvec.c"
