#include "../kernels/avx/l2norm.c"
