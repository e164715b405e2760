#include "../kernels/avx/adam.c"
