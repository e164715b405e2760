/*
 * xent.cu — cross-entropy with label smoothing, loss and gradient, one
 * thread block per row (kernels/avx/xent.c is the CPU twin). With
 * u = z - max z, S = sum e^u, y = (1 - eps) onehot(l) + eps/C:
 *   loss_r = log S - (1 - eps) u_l - eps/C sum_j u_j
 *   grad_j = (e^u_j / S - eps/C - [j == l] (1 - eps)) / B
 * Sums per thread in float64, a fixed reduction tree, rows added in row
 * order by the finish kernel. Never run on a GPU.
 */
#include "common.cuh"

KERNEL void __launch_bounds__(256) distac_xent_rows_k(i64 rows, i64 cols, const float *z, i64 ldz, const int *labels,
                                                      float eps, float *grad, i64 ldg, double *row_loss) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  const i64 r = blockIdx.x;
  const float *x = z + r * ldz;
  const int l = labels[r];
  if (l < 0 || (i64)l >= cols) { /* the host checks labels; never read outside the row */
    if (threadIdx.x == 0) row_loss[r] = __builtin_nan("");
    return;
  }
  float m = -__builtin_inff();
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) m = dc_fmax_nan(m, x[j]);
  m = dc_block_max(m, shf);
  double S = 0.0, U = 0.0;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
    float u = x[j] - m;
    S += (double)dc_exp(u);
    U += (double)u;
  }
  S = dc_block_sum_d(S, shd);
  U = dc_block_sum_d(U, shd);
  if (threadIdx.x == 0) {
    double loss = dc_log_d(S) - (1.0 - (double)eps) * ((double)x[l] - (double)m) - (double)eps / (double)cols * U;
    row_loss[r] = (loss - loss == 0.0) ? loss : __builtin_nan("");
  }
  if (!grad) return;
  const double f = 1.0 / (S * (double)rows), c0 = (double)eps / (double)cols / (double)rows;
  const double cl = (1.0 - (double)eps) / (double)rows;
  float *g = grad + r * ldg;
  for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
    double e = (double)dc_exp(x[j] - m);
    g[j] = (float)(f * e - c0 - (j == l ? cl : 0.0));
  }
}

/* *loss = sum of the row losses in row order / rows. */
KERNEL void distac_xent_finish_k(const double *row_loss, i64 rows, double *loss) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *loss = dc_serial_sum(row_loss, rows) / (double)rows;
}
