#include "../kernels/avx/attention_avx2.c"
