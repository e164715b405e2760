#include "../kernels/avx/tall.c"
