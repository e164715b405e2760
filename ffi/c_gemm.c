#include "../kernels/avx/gemm.c"
