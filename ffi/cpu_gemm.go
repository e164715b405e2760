//go:build cgo

package ffi

/*
#include "distac_kernels.h"
*/
import "C"

// Sgemm runs distac_sgemm of the backend's instruction set on cpu.threads threads.
func (cpu *CPU) Sgemm(transA, transB bool, m, n, k int, alpha float32, a, b Mat, beta float32, c Mat) error {
	if err := cpu.check(checkGemm(transA, transB, m, n, k, 1, a, 0, b, 0, c, 0)); err != nil {
		return err
	}
	rc := C.distac_sgemm_isa(cpu.isa, cbool(transA), cbool(transB),
		C.int64_t(m), C.int64_t(n), C.int64_t(k), C.float(alpha),
		matPtr(a), C.int64_t(a.LD), matPtr(b), C.int64_t(b.LD),
		C.float(beta), matPtr(c), C.int64_t(c.LD), C.int(cpu.threads))
	return status("sgemm", rc)
}

// SgemmBF16 runs distac_sgemm_bf16 of the backend's instruction set: on
// AVX512_BF16 instructions where the avx512 path finds them
// (BF16GemmNative), else the fp32 GEMM on rounded copies of A and B.
func (cpu *CPU) SgemmBF16(transA, transB bool, m, n, k int, alpha float32, a, b Mat, beta float32, c Mat) error {
	if err := cpu.check(checkGemm(transA, transB, m, n, k, 1, a, 0, b, 0, c, 0)); err != nil {
		return err
	}
	rc := C.distac_sgemm_bf16_isa(cpu.isa, cbool(transA), cbool(transB),
		C.int64_t(m), C.int64_t(n), C.int64_t(k), C.float(alpha),
		matPtr(a), C.int64_t(a.LD), matPtr(b), C.int64_t(b.LD),
		C.float(beta), matPtr(c), C.int64_t(c.LD), C.int(cpu.threads))
	return status("sgemm bf16", rc)
}

// BF16GemmNative reports whether SgemmBF16 runs on bf16 instructions (the
// avx512 path on a CPU with AVX512_BF16); elsewhere it gives the same
// numbers at fp32 speed.
func (cpu *CPU) BF16GemmNative() bool {
	return cpu.Name() == "avx512" && C.distac_sgemm_bf16_native() != 0
}

// SgemmStridedBatched runs distac_sgemm_strided_batched: the batch runs in
// parallel when its entries are small, else entry by entry, each threaded.
func (cpu *CPU) SgemmStridedBatched(transA, transB bool, m, n, k, batch int, alpha float32,
	a Mat, strideA int, b Mat, strideB int, beta float32, c Mat, strideC int) error {
	if err := cpu.check(checkGemm(transA, transB, m, n, k, batch, a, strideA, b, strideB, c, strideC)); err != nil {
		return err
	}
	rc := C.distac_sgemm_strided_batched_isa(cpu.isa, cbool(transA), cbool(transB),
		C.int64_t(m), C.int64_t(n), C.int64_t(k), C.int64_t(batch), C.float(alpha),
		matPtr(a), C.int64_t(a.LD), C.int64_t(strideA), matPtr(b), C.int64_t(b.LD), C.int64_t(strideB),
		C.float(beta), matPtr(c), C.int64_t(c.LD), C.int64_t(strideC), C.int(cpu.threads))
	return status("sgemm strided batched", rc)
}
