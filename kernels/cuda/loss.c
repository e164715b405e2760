/*
 * loss.c — launchers of kl.cu and xent.cu: one thread block per row writes
 * the row's loss (and gradient) into float64 scratch, then one thread adds
 * the rows in order into *loss. Argument rules of kernels/avx/kl.c, xent.c.
 */
#include <math.h>

#include "driver.h"

int distac_cuda_kl_distill(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr zt,
                           int64_t ldt, CUdeviceptr zs, int64_t lds, float t_tcr, float t_stu,
                           CUdeviceptr loss, CUdeviceptr grad, int64_t ldg, CUstream s) {
  if (!c || rows < 1 || cols < 1 || !zt || !zs || !loss || ldt < cols || lds < cols ||
      (grad && ldg < cols) || !(t_tcr > 0) || !(t_stu > 0) || !isfinite(t_tcr) || !isfinite(t_stu) ||
      rows > 2147483647)
    return DISTAC_EINVAL;
  CUdeviceptr row_kl = 0;
  int rc = dc_scratch(c, (size_t)rows * sizeof(double), s, &row_kl);
  if (rc != DISTAC_OK) return rc;
  float it = 1.0f / t_tcr, is = 1.0f / t_stu;
  double gscale = (double)t_tcr / (double)rows;
  void *p[] = {&cols, &zt, &ldt, &zs, &lds, &it, &is, &gscale, &grad, &ldg, &row_kl};
  rc = dc_launch(c, K_KL_ROWS, (unsigned)rows, 1, 1, 256, 1, 1, 0, s, p);
  if (rc == DISTAC_OK) {
    double scale = (double)t_tcr * (double)t_stu / (double)rows;
    void *f[] = {&row_kl, &rows, &scale, &loss};
    rc = dc_launch(c, K_KL_FINISH, 1, 1, 1, 32, 1, 1, 0, s, f);
  }
  dc_scratch_free(c, row_kl, s);
  return rc;
}

int distac_cuda_xent_ls(distac_cuda *c, int64_t rows, int64_t cols, CUdeviceptr z, int64_t ldz,
                        CUdeviceptr labels, float eps, CUdeviceptr loss, CUdeviceptr grad,
                        int64_t ldg, CUstream s) {
  if (!c || rows < 1 || cols < 1 || !z || !labels || !loss || ldz < cols || (grad && ldg < cols) ||
      !(eps >= 0 && eps <= 1) || rows > 2147483647)
    return DISTAC_EINVAL;
  /* Labels are device data: the range check is the caller's (ffi checks on
   * the host copy it uploads); a label out of range reads out of the row. */
  CUdeviceptr row_loss = 0;
  int rc = dc_scratch(c, (size_t)rows * sizeof(double), s, &row_loss);
  if (rc != DISTAC_OK) return rc;
  void *p[] = {&rows, &cols, &z, &ldz, &labels, &eps, &grad, &ldg, &row_loss};
  rc = dc_launch(c, K_XENT_ROWS, (unsigned)rows, 1, 1, 256, 1, 1, 0, s, p);
  if (rc == DISTAC_OK) {
    void *f[] = {&row_loss, &rows, &loss};
    rc = dc_launch(c, K_XENT_FINISH, 1, 1, 1, 32, 1, 1, 0, s, f);
  }
  dc_scratch_free(c, row_loss, s);
  return rc;
}
