#include "../kernels/avx/topk.c"
