/*
 * distac_train.h — the C ABI of distac's training ops: layernorm, GELU and
 * QuickGELU, row softmax, bias, the fused multi-head attention core, row L2
 * normalization, and the fused Adam step with the DisTaC anchor.
 * They are the per-layer forward/backward pieces of the ViT and MLP training
 * step (llm.c style: no autodiff, every backward written out).
 *
 * Conventions are those of distac_kernels.h (status codes, five forms per op,
 * row-major with leading dimensions in elements, writes nothing on error,
 * threads <= 0 = one per online CPU). All data is fp32.
 *
 * Gradient accumulators (dgamma, dbeta, db) are added to, never overwritten,
 * and have the same bits for any thread count: rows are cut into fixed
 * blocks of DISTAC_TRAIN_ROW_BLOCK, each block is summed in fp32 in row
 * order, and block sums are added in float64 in block order before the one
 * final += (results may differ between ISAs in the last bits).
 */
#ifndef DISTAC_TRAIN_H
#define DISTAC_TRAIN_H

#include "distac_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DISTAC_TRAIN_ROW_BLOCK 32

/* ------------------------------------------------------------- layernorm ---
 * kernels/avx/layernorm.c
 * Per row r of x (rows x cols), as torch.nn.LayerNorm (biased variance):
 *   mu_r   = 1/cols * sum_c x[r][c]
 *   var_r  = 1/cols * sum_c (x[r][c] - mu_r)^2
 *   rstd_r = 1 / sqrt(var_r + eps)
 *   y[r][c] = (x[r][c] - mu_r) * rstd_r * gamma[c] + beta[c]
 * mean[r] = mu_r and rstd[r] = rstd_r for the backward (each may be NULL: not
 * written). y may equal x when ldy == ldx. rows >= 0, cols >= 1, eps >= 0,
 * ldx, ldy >= cols, else DISTAC_EINVAL. */
DISTAC_OP(layernorm_forward, int64_t rows, int64_t cols, const float *x, int64_t ldx,
          const float *gamma, const float *beta, float eps, float *y, int64_t ldy, float *mean,
          float *rstd, int threads)

/* The backward of layernorm_forward, from x and its saved mean and rstd.
 * With xhat = (x[r][c] - mean[r]) * rstd[r] and g = dy[r][c] * gamma[c]:
 *   d = rstd[r] * (g - 1/cols * sum_c g - xhat * 1/cols * sum_c g * xhat)
 *   dx[r][c] = d               (accumulate == 0: dx is written without being read)
 *   dx[r][c] += d              (accumulate != 0: e.g. into a residual gradient)
 *   dgamma[c] += sum_r dy[r][c] * xhat[r][c]    (NULL: not computed)
 *   dbeta[c]  += sum_r dy[r][c]                 (NULL: not computed)
 * dx may equal dy when lddx == lddy. Needs rows/DISTAC_TRAIN_ROW_BLOCK * 2 *
 * cols floats of scratch when dgamma or dbeta is given (DISTAC_ENOMEM). */
DISTAC_OP(layernorm_backward, int64_t rows, int64_t cols, const float *dy, int64_t lddy,
          const float *x, int64_t ldx, const float *mean, const float *rstd, const float *gamma,
          float *dx, int64_t lddx, int accumulate, float *dgamma, float *dbeta, int threads)

/* ------------------------------------------------------ GELU / QuickGELU ---
 * kernels/avx/gelu.c — elementwise over n values.
 *   DISTAC_GELU_ERF:   f(x) = x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))   (torch nn.GELU())
 *                      f'(x) = Phi(x) + x * exp(-x^2/2) / sqrt(2 pi)
 *   DISTAC_GELU_QUICK: f(x) = x * s, s = sigmoid(1.702 x)                     (open_clip QuickGELU)
 *                      f'(x) = s + 1.702 x s (1 - s)
 * The SIMD erf path is within 1e-6 relative of the exact value per element
 * for normal results, including the negative tail (Phi(x) comes from
 * erfc, not 1 + erf); values below FLT_MIN may lose their last bits. NaN in
 * gives NaN out; inputs should be finite (f(-inf) is NaN). */
typedef enum distac_gelu_kind {
  DISTAC_GELU_ERF = 0,
  DISTAC_GELU_QUICK = 1
} distac_gelu_kind;

/* y[i] = f(x[i]). y may equal x. */
DISTAC_OP(gelu_forward, distac_gelu_kind kind, int64_t n, const float *x, float *y, int threads)

/* dx[i] = dy[i] * f'(x[i]). dx may equal dy or x. */
DISTAC_OP(gelu_backward, distac_gelu_kind kind, int64_t n, const float *x, const float *dy,
          float *dx, int threads)

/* --------------------------------------------------------------- softmax ---
 * kernels/avx/softmax.c — per row, e.g. attention probabilities (the caller
 * folds 1/sqrt(d_head) into the GEMM's alpha).
 *   y[r][c] = exp(x[r][c] - max_r) / sum_c' exp(x[r][c'] - max_r)
 * -inf entries get probability 0; a row with NaN, +inf or only -inf gives
 * NaN. y may equal x when ldy == ldx. rows >= 0, cols >= 1. */
DISTAC_OP(softmax_forward, int64_t rows, int64_t cols, const float *x, int64_t ldx, float *y,
          int64_t ldy, int threads)

/* From the forward's output y:
 *   dx[r][c] = y[r][c] * (dy[r][c] - sum_c' dy[r][c'] * y[r][c'])
 * dx may equal dy when lddx == lddy. */
DISTAC_OP(softmax_backward, int64_t rows, int64_t cols, const float *y, int64_t ldy,
          const float *dy, int64_t lddy, float *dx, int64_t lddx, int threads)

/* ------------------------------------------------------------------ bias ---
 * kernels/avx/bias.c. rows, cols >= 0, ld >= max(1, cols).
 *   bias_add:  y[r][c] += b[c]
 *   bias_grad: db[c] += sum_r dy[r][c]   (row blocks as above: same bits for
 *              any thread count; needs rows/DISTAC_TRAIN_ROW_BLOCK * cols
 *              floats of scratch, DISTAC_ENOMEM) */
DISTAC_OP(bias_add, int64_t rows, int64_t cols, float *y, int64_t ldy, const float *b, int threads)

DISTAC_OP(bias_grad, int64_t rows, int64_t cols, const float *dy, int64_t lddy, float *db,
          int threads)

/* ------------------------------------------------------------- attention ---
 * kernels/avx/attention.c — multi-head self-attention without the in/out
 * projections (GEMMs done by the caller), in the torch/open_clip layout.
 * qkv is the in-projection's output: (batch*seq) rows, token r = b*seq + i;
 * columns [0,D) are Q, [D,2D) K, [2D,3D) V, D = heads*head_dim, and head h
 * owns columns h*head_dim .. (h+1)*head_dim-1 of each. Writing
 * Q_i = qkv[b*seq+i][h*dh ...], K_j = qkv[b*seq+j][D + h*dh ...],
 * V_j = qkv[b*seq+j][2D + h*dh ...], for every batch item b and head h:
 *   S[i][j] = scale * <Q_i, K_j>                       (seq x seq)
 *   P[i][j] = exp(S[i][j] - max_j S[i]) / sum_j' exp(S[i][j'] - max_j S[i])
 *   out[b*seq+i][h*dh + c] = sum_j P[i][j] * V_j[c]
 * P is stored at probs[((b*heads + h)*seq + i)*seq + j] for the backward
 * (probs NULL: not stored, for inference; out has the same bits).
 * batch >= 0, seq >= 1, heads >= 1, head_dim >= 1, scale finite,
 * ldqkv >= 3*D, ldout >= D, else DISTAC_EINVAL. out must not overlap qkv or
 * probs. Columns past 3D of qkv and past D of out are neither read nor
 * written. Inputs should be finite (NaN in gives NaN out).
 *
 * Work is split over the batch*heads (b, h) pairs; each pair is computed by
 * one thread start to end and writes entries no other pair touches, so the
 * results have the same bits for any thread count (they may differ between
 * ISAs in the last bits). The forward needs 4*seq floats of per-thread
 * scratch when probs is NULL, the backward seq*seq: on the stack up to 16
 * KiB (seq <= 64 for the backward), else allocated (DISTAC_ENOMEM before
 * anything is written). */
DISTAC_OP(attention_forward, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
          float scale, const float *qkv, int64_t ldqkv, float *probs, float *out, int64_t ldout,
          int threads)

/* The backward of attention_forward from qkv and its saved probs, with
 * dout = dL/dout ((batch*seq) x D, leading dimension lddout). Per (b, h):
 *   dP[i][j] = <dout_i, V_j>     (dout_i: row b*seq+i, columns h*dh ...)
 *   dS[i][j] = P[i][j] * (dP[i][j] - sum_j' dP[i][j'] * P[i][j'])
 *   dQ_i = scale * sum_j dS[i][j] K_j
 *   dK_j = scale * sum_i dS[i][j] Q_i
 *   dV_j = sum_i P[i][j] dout_i
 * written (not accumulated) into the Q, K and V columns of dqkv: every
 * column [0,3D) of every row [0, batch*seq) is written, without being read.
 * lddout >= D, lddqkv >= 3*D, probs and dout non-NULL. dqkv must not overlap
 * qkv, probs or dout. Same bits for any thread count, as the forward. */
DISTAC_OP(attention_backward, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
          float scale, const float *qkv, int64_t ldqkv, const float *probs, const float *dout,
          int64_t lddout, float *dqkv, int64_t lddqkv, int threads)

/* ---------------------------------------------------------------- l2norm ---
 * kernels/avx/l2norm.c — per row r of x (rows x cols), as
 * torch.nn.functional.normalize(x, dim=-1, eps):
 *   n_r = ||x[r]||_2,  d_r = max(n_r, eps),  y[r][c] = x[r][c] / d_r
 * norm[r] = n_r (as fp32) for the backward; norm may be NULL. The sum of
 * squares is accumulated in float64 (no square or partial sum of finite fp32
 * values overflows or underflows there), so n_r is the fp32 rounding of the
 * exact norm up to ~1e-16 relative; it is +inf only where the norm itself
 * exceeds FLT_MAX (then y = 0). y is x times the fp32 reciprocal of d_r
 * (within ~1.5 ulp of x / d_r). A row with NaN gives NaN (forward and
 * backward). y may equal x when ldy == ldx.
 * rows >= 0, cols >= 1, eps > 0 and finite, ldx, ldy >= cols, else
 * DISTAC_EINVAL. */
DISTAC_OP(l2norm_forward, int64_t rows, int64_t cols, const float *x, int64_t ldx, float eps,
          float *y, int64_t ldy, float *norm, int threads)

/* The backward from the forward's y and norm (d = max(norm[r], eps)):
 *   norm[r] > eps:  dx[r] = (dy[r] - y[r] * <dy[r], y[r]>) / d
 *   otherwise:      dx[r] = dy[r] / eps
 * <dy, y> is summed in float64. dx may equal dy when lddx == lddy. */
DISTAC_OP(l2norm_backward, int64_t rows, int64_t cols, const float *dy, int64_t lddy,
          const float *y, int64_t ldy, const float *norm, float eps, float *dx, int64_t lddx,
          int threads)

/* ------------------------------------------------- Adam with the anchor ---
 * kernels/avx/adam.c — one step of Adam on n parameters, in place.
 * The DisTaC anchor beta * ||theta - theta_init||^2 enters the gradient as a
 * coupled L2 term before clipping; clip_scale = min(1, max_norm / ||g_raw||)
 * comes from the caller (see distac_anchored_sumsq). Per element:
 *   g     = clip_scale * (grad[i] + 2 * beta_anchor * (theta[i] - theta_init[i]))
 *   m[i]  = b1 * m[i] + (1 - b1) * g
 *   v[i]  = b2 * v[i] + (1 - b2) * g * g
 *   theta[i] -= lr / (1 - b1^step) * m[i] / (sqrt(v[i]) / sqrt(1 - b2^step) + eps)
 * (the form of torch.optim.Adam; the bias corrections are computed in float64).
 * beta_anchor == 0: theta_init is not read and may be NULL.
 * step >= 1, 0 <= b1 < 1, 0 <= b2 < 1, eps >= 0, beta_anchor >= 0, lr and
 * clip_scale finite, else DISTAC_EINVAL. */
DISTAC_OP(adam_step, int64_t n, float *theta, const float *grad, float *m, float *v,
          const float *theta_init, float lr, float b1, float b2, float eps, float beta_anchor,
          float clip_scale, int64_t step, int threads)

/* The clip norm's building block: the squared L2 norm of the anchored raw
 * gradient, summed by the caller over every tensor before taking sqrt.
 *   *out = sum_i (grad[i] + 2 * beta_anchor * (theta[i] - theta_init[i]))^2
 * The term is formed in fp32 exactly as adam_step forms it, squared and
 * summed in float64 over blocks of DISTAC_SUMSQ_BLOCK as distac_sumsq (same
 * bits for any thread count). beta_anchor == 0: theta and theta_init are not
 * read and may be NULL. NaN gives NaN. */
DISTAC_OP(anchored_sumsq, int64_t n, const float *grad, const float *theta, const float *theta_init,
          float beta_anchor, double *out, int threads)

#undef DISTAC_OP /* defined in distac_kernels.h for both headers */

#ifdef __cplusplus
}
#endif
#endif /* DISTAC_TRAIN_H */
