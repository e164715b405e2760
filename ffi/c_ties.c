#include "../kernels/avx/ties.c"
