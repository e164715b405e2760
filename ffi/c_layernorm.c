#include "../kernels/avx/layernorm.c"
