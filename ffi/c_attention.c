#include "../kernels/avx/attention.c"
