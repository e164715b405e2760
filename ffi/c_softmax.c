#include "../kernels/avx/softmax.c"
