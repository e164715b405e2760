#include "../kernels/avx/gelu.c"
