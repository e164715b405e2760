//go:build cgo

package ffi

/*
#include "distac_kernels.h"
*/
import "C"

// KLDistill runs distac_kl_distill (kernels/avx/kl.c) on this backend's ISA.
func (cpu *CPU) KLDistill(rows, cols int, zt, zs Mat, tTcr, tStu float32, grad Mat) (float64, error) {
	if err := cpu.check(checkKL(rows, cols, zt, zs, tTcr, tStu, grad)); err != nil {
		return 0, err
	}
	var loss C.double
	rc := C.distac_kl_distill_isa(cpu.isa, C.int64_t(rows), C.int64_t(cols),
		matPtr(zt), C.int64_t(zt.LD), matPtr(zs), C.int64_t(zs.LD),
		C.float(tTcr), C.float(tStu), &loss, matPtr(grad), C.int64_t(grad.LD), C.int(cpu.threads))
	if err := status("kl distill", rc); err != nil {
		return 0, err
	}
	return float64(loss), nil
}

// CrossEntropyLS runs distac_xent_ls (kernels/avx/xent.c) on this backend's ISA.
func (cpu *CPU) CrossEntropyLS(rows, cols int, z Mat, labels Vec, eps float32, grad Mat) (float64, error) {
	if err := cpu.check(checkXent(rows, cols, z, labels, eps, grad)); err != nil {
		return 0, err
	}
	var loss C.double
	rc := C.distac_xent_ls_isa(cpu.isa, C.int64_t(rows), C.int64_t(cols),
		matPtr(z), C.int64_t(z.LD), (*C.int32_t)(ptr(labels)), C.float(eps),
		&loss, matPtr(grad), C.int64_t(grad.LD), C.int(cpu.threads))
	if err := status("cross-entropy", rc); err != nil {
		return 0, err
	}
	return float64(loss), nil
}
