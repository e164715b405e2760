//go:build cgo && linux

package ffi

/*
#include "distac_cuda.h"
*/
import "C"

// The training ops of the CUDA backend (ffi.Trainer), on the launchers of
// kernels/cuda/train.c. Never run on a GPU.

func cudaGELU(quick bool) C.distac_gelu_kind {
	if quick {
		return C.DISTAC_GELU_QUICK
	}
	return C.DISTAC_GELU_ERF
}

// SgemmBF16 runs the SIMT GEMM on operands rounded to bf16 as it loads
// them (kernels/cuda/gemm.cu; no tensor cores yet).
func (be *CUDA) SgemmBF16(transA, transB bool, m, n, k int, alpha float32, a, b Mat, beta float32, c Mat) error {
	if err := be.check(checkGemm(transA, transB, m, n, k, 1, a, 0, b, 0, c, 0)); err != nil {
		return err
	}
	return be.status("sgemm bf16", C.distac_cuda_sgemm_bf16(be.c, cb(transA), cb(transB), C.int64_t(m), C.int64_t(n),
		C.int64_t(k), C.float(alpha), mptr(a), C.int64_t(a.LD), mptr(b), C.int64_t(b.LD), C.float(beta), mptr(c),
		C.int64_t(c.LD), be.stream))
}

func (be *CUDA) LayerNormForward(rows, cols int, x Mat, gamma, beta Vec, eps float32, y Mat, mean, rstd Vec) error {
	if err := be.check(checkLayerNormForward(rows, cols, x, gamma, beta, eps, y, mean, rstd)); err != nil {
		return err
	}
	return be.status("layernorm forward", C.distac_cuda_layernorm_forward(be.c, C.int64_t(rows), C.int64_t(cols),
		mptr(x), C.int64_t(x.LD), dptr(gamma), dptr(beta), C.float(eps), mptr(y), C.int64_t(y.LD),
		dptr(mean), dptr(rstd), be.stream))
}

func (be *CUDA) LayerNormBackward(rows, cols int, dy, x Mat, mean, rstd, gamma Vec, dx Mat, accumulate bool, dgamma, dbeta Vec) error {
	if err := be.check(checkLayerNormBackward(rows, cols, dy, x, mean, rstd, gamma, dx, dgamma, dbeta)); err != nil {
		return err
	}
	return be.status("layernorm backward", C.distac_cuda_layernorm_backward(be.c, C.int64_t(rows), C.int64_t(cols),
		mptr(dy), C.int64_t(dy.LD), mptr(x), C.int64_t(x.LD), dptr(mean), dptr(rstd), dptr(gamma),
		mptr(dx), C.int64_t(dx.LD), cb(accumulate), dptr(dgamma), dptr(dbeta), be.stream))
}

func (be *CUDA) GELUForward(x, y Vec, quick bool) error {
	if err := be.check(checkGELUForward(x, y)); err != nil {
		return err
	}
	return be.status("gelu forward", C.distac_cuda_gelu_forward(be.c, cudaGELU(quick), C.int64_t(x.N), dptr(x), dptr(y), be.stream))
}

func (be *CUDA) GELUBackward(x, dy, dx Vec, quick bool) error {
	if err := be.check(checkGELUBackward(x, dy, dx)); err != nil {
		return err
	}
	return be.status("gelu backward", C.distac_cuda_gelu_backward(be.c, cudaGELU(quick), C.int64_t(x.N), dptr(x),
		dptr(dy), dptr(dx), be.stream))
}

func (be *CUDA) SoftmaxForward(rows, cols int, x, y Mat) error {
	if err := be.check(checkSoftmaxForward(rows, cols, x, y)); err != nil {
		return err
	}
	return be.status("softmax forward", C.distac_cuda_softmax_forward(be.c, C.int64_t(rows), C.int64_t(cols),
		mptr(x), C.int64_t(x.LD), mptr(y), C.int64_t(y.LD), be.stream))
}

func (be *CUDA) SoftmaxBackward(rows, cols int, y, dy, dx Mat) error {
	if err := be.check(checkSoftmaxBackward(rows, cols, y, dy, dx)); err != nil {
		return err
	}
	return be.status("softmax backward", C.distac_cuda_softmax_backward(be.c, C.int64_t(rows), C.int64_t(cols),
		mptr(y), C.int64_t(y.LD), mptr(dy), C.int64_t(dy.LD), mptr(dx), C.int64_t(dx.LD), be.stream))
}

func (be *CUDA) BiasAdd(rows, cols int, y Mat, b Vec) error {
	if err := be.check(checkBiasAdd(rows, cols, y, b)); err != nil {
		return err
	}
	return be.status("bias add", C.distac_cuda_bias_add(be.c, C.int64_t(rows), C.int64_t(cols), mptr(y),
		C.int64_t(y.LD), dptr(b), be.stream))
}

func (be *CUDA) BiasGrad(rows, cols int, dy Mat, db Vec) error {
	if err := be.check(checkBiasGrad(rows, cols, dy, db)); err != nil {
		return err
	}
	return be.status("bias grad", C.distac_cuda_bias_grad(be.c, C.int64_t(rows), C.int64_t(cols), mptr(dy),
		C.int64_t(dy.LD), dptr(db), be.stream))
}

func (be *CUDA) AttentionForward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, out Mat) error {
	if err := be.check(checkAttentionForward(batch, seq, heads, headDim, scale, qkv, probs, out)); err != nil {
		return err
	}
	return be.status("attention forward", C.distac_cuda_attention_forward(be.c, C.int64_t(batch), C.int64_t(seq),
		C.int64_t(heads), C.int64_t(headDim), C.float(scale), mptr(qkv), C.int64_t(qkv.LD), dptr(probs),
		mptr(out), C.int64_t(out.LD), be.stream))
}

func (be *CUDA) AttentionBackward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, dout, dqkv Mat) error {
	if err := be.check(checkAttentionBackward(batch, seq, heads, headDim, scale, qkv, probs, dout, dqkv)); err != nil {
		return err
	}
	return be.status("attention backward", C.distac_cuda_attention_backward(be.c, C.int64_t(batch), C.int64_t(seq),
		C.int64_t(heads), C.int64_t(headDim), C.float(scale), mptr(qkv), C.int64_t(qkv.LD), dptr(probs),
		mptr(dout), C.int64_t(dout.LD), mptr(dqkv), C.int64_t(dqkv.LD), be.stream))
}

func (be *CUDA) L2NormForward(rows, cols int, x Mat, eps float32, y Mat, norm Vec) error {
	if err := be.check(checkL2NormForward(rows, cols, x, eps, y, norm)); err != nil {
		return err
	}
	return be.status("l2norm forward", C.distac_cuda_l2norm_forward(be.c, C.int64_t(rows), C.int64_t(cols),
		mptr(x), C.int64_t(x.LD), C.float(eps), mptr(y), C.int64_t(y.LD), dptr(norm), be.stream))
}

func (be *CUDA) L2NormBackward(rows, cols int, dy, y Mat, norm Vec, eps float32, dx Mat) error {
	if err := be.check(checkL2NormBackward(rows, cols, dy, y, norm, eps, dx)); err != nil {
		return err
	}
	return be.status("l2norm backward", C.distac_cuda_l2norm_backward(be.c, C.int64_t(rows), C.int64_t(cols),
		mptr(dy), C.int64_t(dy.LD), mptr(y), C.int64_t(y.LD), dptr(norm), C.float(eps), mptr(dx),
		C.int64_t(dx.LD), be.stream))
}

func (be *CUDA) AdamStep(theta, grad, m, v, thetaInit Vec, p AdamParams) error {
	if err := be.check(checkAdam(theta, grad, m, v, thetaInit, p)); err != nil {
		return err
	}
	var init C.CUdeviceptr
	if p.Anchor != 0 {
		init = dptr(thetaInit)
	}
	return be.status("adam", C.distac_cuda_adam_step(be.c, C.int64_t(theta.N), dptr(theta), dptr(grad), dptr(m),
		dptr(v), init, C.float(p.LR), C.float(p.Beta1), C.float(p.Beta2), C.float(p.Eps), C.float(p.Anchor),
		C.float(p.ClipScale), C.int64_t(p.Step), be.stream))
}

// AnchoredGradSumSq waits for its sum: the Trainer interface returns it to
// the host (one sync per tensor; a device-side clip scale would remove it).
func (be *CUDA) AnchoredGradSumSq(grad, theta, thetaInit Vec, anchor float32) (float64, error) {
	if err := be.check(checkAnchoredSumSq(grad, theta, thetaInit, anchor)); err != nil {
		return 0, err
	}
	var th, init C.CUdeviceptr
	if anchor != 0 {
		th, init = dptr(theta), dptr(thetaInit)
	}
	return be.readSlot("anchored sumsq", func(slot C.CUdeviceptr) C.int {
		return C.distac_cuda_anchored_sumsq(be.c, C.int64_t(grad.N), dptr(grad), th, init, C.float(anchor), slot, be.stream)
	})
}

var _ Trainer = (*CUDA)(nil)
