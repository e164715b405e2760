#include "../kernels/avx/bias.c"
