//go:build cgo && linux

// Compiles the CUDA driver loader and launchers into package ffi (the
// source lives in kernels/cuda; the device code is embedded PTX).
#include "../kernels/cuda/driver.c"
#include "../kernels/cuda/taskvec.c"
#include "../kernels/cuda/merge.c"
#include "../kernels/cuda/loss.c"
#include "../kernels/cuda/gemm.c"
#include "../kernels/cuda/train.c"
