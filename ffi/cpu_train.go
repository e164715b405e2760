//go:build cgo

package ffi

/*
#include "distac_train.h"
*/
import "C"

// The CPU training ops: validate in Go (so errors name the bad view), then
// call the checked C entry point of the backend's instruction set.

// optPtr is the C address of an optional Vec (nil Buf: NULL).
func optPtr(v Vec) *C.float {
	if v.Buf == nil {
		return nil
	}
	return fptr(v)
}

func geluKind(quick bool) C.distac_gelu_kind {
	if quick {
		return C.DISTAC_GELU_QUICK
	}
	return C.DISTAC_GELU_ERF
}

func (cpu *CPU) LayerNormForward(rows, cols int, x Mat, gamma, beta Vec, eps float32, y Mat, mean, rstd Vec) error {
	const op = "layernorm forward"
	if err := cpu.check(checkLayerNormForward(rows, cols, x, gamma, beta, eps, y, mean, rstd)); err != nil {
		return err
	}
	return status(op, C.distac_layernorm_forward_isa(cpu.isa, C.int64_t(rows), C.int64_t(cols),
		matPtr(x), C.int64_t(x.LD), fptr(gamma), fptr(beta), C.float(eps), matPtr(y), C.int64_t(y.LD),
		optPtr(mean), optPtr(rstd), C.int(cpu.threads)))
}

func (cpu *CPU) LayerNormBackward(rows, cols int, dy, x Mat, mean, rstd, gamma Vec, dx Mat, accumulate bool, dgamma, dbeta Vec) error {
	const op = "layernorm backward"
	if err := cpu.check(checkLayerNormBackward(rows, cols, dy, x, mean, rstd, gamma, dx, dgamma, dbeta)); err != nil {
		return err
	}
	return status(op, C.distac_layernorm_backward_isa(cpu.isa, C.int64_t(rows), C.int64_t(cols),
		matPtr(dy), C.int64_t(dy.LD), matPtr(x), C.int64_t(x.LD), fptr(mean), fptr(rstd), fptr(gamma),
		matPtr(dx), C.int64_t(dx.LD), cbool(accumulate), optPtr(dgamma), optPtr(dbeta), C.int(cpu.threads)))
}

func (cpu *CPU) GELUForward(x, y Vec, quick bool) error {
	const op = "gelu forward"
	if err := cpu.check(checkGELUForward(x, y)); err != nil {
		return err
	}
	return status(op, C.distac_gelu_forward_isa(cpu.isa, geluKind(quick), C.int64_t(x.N), fptr(x), fptr(y),
		C.int(cpu.threads)))
}

func (cpu *CPU) GELUBackward(x, dy, dx Vec, quick bool) error {
	const op = "gelu backward"
	if err := cpu.check(checkGELUBackward(x, dy, dx)); err != nil {
		return err
	}
	return status(op, C.distac_gelu_backward_isa(cpu.isa, geluKind(quick), C.int64_t(x.N), fptr(x), fptr(dy),
		fptr(dx), C.int(cpu.threads)))
}

func (cpu *CPU) SoftmaxForward(rows, cols int, x, y Mat) error {
	const op = "softmax forward"
	if err := cpu.check(checkSoftmaxForward(rows, cols, x, y)); err != nil {
		return err
	}
	return status(op, C.distac_softmax_forward_isa(cpu.isa, C.int64_t(rows), C.int64_t(cols),
		matPtr(x), C.int64_t(x.LD), matPtr(y), C.int64_t(y.LD), C.int(cpu.threads)))
}

func (cpu *CPU) SoftmaxBackward(rows, cols int, y, dy, dx Mat) error {
	const op = "softmax backward"
	if err := cpu.check(checkSoftmaxBackward(rows, cols, y, dy, dx)); err != nil {
		return err
	}
	return status(op, C.distac_softmax_backward_isa(cpu.isa, C.int64_t(rows), C.int64_t(cols),
		matPtr(y), C.int64_t(y.LD), matPtr(dy), C.int64_t(dy.LD), matPtr(dx), C.int64_t(dx.LD),
		C.int(cpu.threads)))
}

func (cpu *CPU) BiasAdd(rows, cols int, y Mat, b Vec) error {
	const op = "bias add"
	if err := cpu.check(checkBiasAdd(rows, cols, y, b)); err != nil {
		return err
	}
	return status(op, C.distac_bias_add_isa(cpu.isa, C.int64_t(rows), C.int64_t(cols), matPtr(y),
		C.int64_t(y.LD), fptr(b), C.int(cpu.threads)))
}

func (cpu *CPU) BiasGrad(rows, cols int, dy Mat, db Vec) error {
	const op = "bias grad"
	if err := cpu.check(checkBiasGrad(rows, cols, dy, db)); err != nil {
		return err
	}
	return status(op, C.distac_bias_grad_isa(cpu.isa, C.int64_t(rows), C.int64_t(cols), matPtr(dy),
		C.int64_t(dy.LD), fptr(db), C.int(cpu.threads)))
}

func (cpu *CPU) AdamStep(theta, grad, m, v, thetaInit Vec, p AdamParams) error {
	const op = "adam"
	if err := cpu.check(checkAdam(theta, grad, m, v, thetaInit, p)); err != nil {
		return err
	}
	var init *C.float
	if p.Anchor != 0 {
		init = fptr(thetaInit)
	}
	return status(op, C.distac_adam_step_isa(cpu.isa, C.int64_t(theta.N), fptr(theta), fptr(grad),
		fptr(m), fptr(v), init, C.float(p.LR), C.float(p.Beta1), C.float(p.Beta2), C.float(p.Eps),
		C.float(p.Anchor), C.float(p.ClipScale), C.int64_t(p.Step), C.int(cpu.threads)))
}

func (cpu *CPU) AnchoredGradSumSq(grad, theta, thetaInit Vec, anchor float32) (float64, error) {
	const op = "anchored sumsq"
	if err := cpu.check(checkAnchoredSumSq(grad, theta, thetaInit, anchor)); err != nil {
		return 0, err
	}
	var th, init *C.float
	if anchor != 0 {
		th, init = fptr(theta), fptr(thetaInit)
	}
	var out C.double
	if err := status(op, C.distac_anchored_sumsq_isa(cpu.isa, C.int64_t(grad.N), fptr(grad), th, init,
		C.float(anchor), &out, C.int(cpu.threads))); err != nil {
		return 0, err
	}
	return float64(out), nil
}
