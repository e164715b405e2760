//go:build cgo

package ffi

/*
#include "distac_train.h"
*/
import "C"

// The CPU attention, L2-normalize and zero ops: validate in Go (errors name
// the bad view), then call the checked C entry point of the backend's ISA.

func (cpu *CPU) AttentionForward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, out Mat) error {
	const op = "attention forward"
	if err := cpu.check(checkAttentionForward(batch, seq, heads, headDim, scale, qkv, probs, out)); err != nil {
		return err
	}
	return status(op, C.distac_attention_forward_isa(cpu.isa, C.int64_t(batch), C.int64_t(seq),
		C.int64_t(heads), C.int64_t(headDim), C.float(scale), matPtr(qkv), C.int64_t(qkv.LD),
		optPtr(probs), matPtr(out), C.int64_t(out.LD), C.int(cpu.threads)))
}

func (cpu *CPU) AttentionBackward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, dout, dqkv Mat) error {
	const op = "attention backward"
	if err := cpu.check(checkAttentionBackward(batch, seq, heads, headDim, scale, qkv, probs, dout, dqkv)); err != nil {
		return err
	}
	return status(op, C.distac_attention_backward_isa(cpu.isa, C.int64_t(batch), C.int64_t(seq),
		C.int64_t(heads), C.int64_t(headDim), C.float(scale), matPtr(qkv), C.int64_t(qkv.LD),
		fptr(probs), matPtr(dout), C.int64_t(dout.LD), matPtr(dqkv), C.int64_t(dqkv.LD),
		C.int(cpu.threads)))
}

func (cpu *CPU) L2NormForward(rows, cols int, x Mat, eps float32, y Mat, norm Vec) error {
	const op = "l2norm forward"
	if err := cpu.check(checkL2NormForward(rows, cols, x, eps, y, norm)); err != nil {
		return err
	}
	return status(op, C.distac_l2norm_forward_isa(cpu.isa, C.int64_t(rows), C.int64_t(cols), matPtr(x),
		C.int64_t(x.LD), C.float(eps), matPtr(y), C.int64_t(y.LD), optPtr(norm), C.int(cpu.threads)))
}

func (cpu *CPU) L2NormBackward(rows, cols int, dy, y Mat, norm Vec, eps float32, dx Mat) error {
	const op = "l2norm backward"
	if err := cpu.check(checkL2NormBackward(rows, cols, dy, y, norm, eps, dx)); err != nil {
		return err
	}
	return status(op, C.distac_l2norm_backward_isa(cpu.isa, C.int64_t(rows), C.int64_t(cols), matPtr(dy),
		C.int64_t(dy.LD), matPtr(y), C.int64_t(y.LD), fptr(norm), C.float(eps), matPtr(dx),
		C.int64_t(dx.LD), C.int(cpu.threads)))
}
