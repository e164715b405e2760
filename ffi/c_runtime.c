//go:build cgo

// Compiles the kernel runtime into package ffi (cgo builds only C files of
// this directory; the sources live in kernels/avx for CMake and C++ hosts).
#include "../kernels/avx/runtime.c"
