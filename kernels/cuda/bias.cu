/*
 * bias.cu — bias add and bias gradient (kernels/avx/bias.c). The gradient
 * uses the CPU's row blocks: each block of DISTAC_TRAIN_ROW_BLOCK rows is
 * summed in fp32 in row order (partial), the blocks are added in float64 in
 * block order and then once into db (reduce). Never run on a GPU.
 */
#include "common.cuh"

#define DC_ROW_BLOCK 32

KERNEL void distac_bias_add_k(i64 rows, i64 cols, float *y, i64 ldy, const float *b) {
  for (i64 e = dc_gid(); e < rows * cols; e += dc_gstride()) {
    i64 r = e / cols, c = e % cols;
    y[r * ldy + c] += b[c];
  }
}

/* part[blockIdx.y][c] = sum of dy over the rows of row block blockIdx.y. */
KERNEL void distac_bias_partial_k(i64 rows, i64 cols, const float *dy, i64 lddy, float *part) {
  i64 c = (i64)blockIdx.x * blockDim.x + threadIdx.x, rb = blockIdx.y;
  if (c >= cols) return;
  i64 r1 = (rb + 1) * DC_ROW_BLOCK < rows ? (rb + 1) * DC_ROW_BLOCK : rows;
  float s = 0.0f;
  for (i64 r = rb * DC_ROW_BLOCK; r < r1; r++) s += dy[r * lddy + c];
  part[rb * cols + c] = s;
}

/* out[c] += sum_b part[b][c], in float64 in block order. */
KERNEL void distac_bias_reduce_k(i64 nb, i64 cols, const float *part, float *out) {
  i64 c = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  double acc = 0.0;
  for (i64 b = 0; b < nb; b++) acc += (double)part[b * cols + c];
  out[c] = (float)((double)out[c] + acc);
}
