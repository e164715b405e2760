//go:build cgo

package ffi

/*
#include <stdlib.h>
#include "distac_kernels.h"
*/
import "C"

import "unsafe"

// Task-vector ops of the CPU backend: checked here, run by the kernels in
// kernels/avx/convert.c and taskvec.c with the backend's instruction set.

func cDType(v Vec) C.distac_dtype { return C.distac_dtype(v.Buf.DType()) }

func (cpu *CPU) Convert(dst, src Vec) error {
	if err := cpu.check(checkConvert(dst, src)); err != nil {
		return err
	}
	return status("convert", cpu.parallelRange(dst.N, func(off, n int) C.int {
		d, s := Vec{Buf: dst.Buf, Off: dst.Off + off}, Vec{Buf: src.Buf, Off: src.Off + off}
		return C.distac_convert_isa(cpu.isa, cDType(dst), ptr(d), cDType(src), ptr(s), C.int64_t(n))
	}))
}

func (cpu *CPU) Sub(dst, ft, base Vec) error {
	if err := cpu.check(checkSub(dst, ft, base)); err != nil {
		return err
	}
	return status("sub", C.distac_sub_isa(cpu.isa, fptr(dst), cDType(ft), ptr(ft), cDType(base), ptr(base),
		C.int64_t(dst.N)))
}

func (cpu *CPU) SubAccumulate(tau, acc, ft, base Vec, w float32, first bool, sumsq Vec) error {
	if err := cpu.check(checkSubAccumulate(tau, acc, ft, base, sumsq)); err != nil {
		return err
	}
	var tp, ap *C.float
	var sp *C.double
	if tau.Buf != nil {
		tp = fptr(tau)
	}
	if acc.Buf != nil {
		ap = fptr(acc)
	}
	if sumsq.Buf != nil {
		sp = (*C.double)(ptr(sumsq))
	}
	f := C.int(0)
	if first {
		f = 1
	}
	// One thread: a merge runs a chunk per worker, and sumsq's block order
	// does not depend on it.
	return status("sub accumulate", C.distac_sub_accum_isa(cpu.isa, tp, ap, cDType(ft), ptr(ft), cDType(base), ptr(base),
		C.int64_t(ft.N), C.float(w), f, sp))
}

func (cpu *CPU) SumSq(x, out Vec) error {
	if err := cpu.check(checkSumSq(x, out)); err != nil {
		return err
	}
	return status("sumsq", C.distac_sumsq_isa(cpu.isa, fptr(x), C.int64_t(x.N), (*C.double)(ptr(out)),
		C.int(cpu.threads)))
}

func (cpu *CPU) Scale(x Vec, a float32) error {
	if err := cpu.check(checkScale(x)); err != nil {
		return err
	}
	return status("scale", C.distac_scale_isa(cpu.isa, fptr(x), C.int64_t(x.N), C.float(a)))
}

func (cpu *CPU) Axpy(a float32, x, y Vec) error {
	if err := cpu.check(checkAxpy(x, y)); err != nil {
		return err
	}
	return status("axpy", C.distac_axpy_isa(cpu.isa, C.int64_t(y.N), C.float(a), fptr(x), fptr(y)))
}

func (cpu *CPU) WeightedSum(dst Vec, xs []Vec, w []float32) error {
	if err := cpu.check(checkWeightedSum(dst, xs, w)); err != nil {
		return err
	}
	// Split over threads: one core's load bandwidth caps a many-input read.
	return status("wsum", cpu.parallelRange(dst.N, func(off, n int) C.int {
		arr := ptrArrayAt(xs, off)
		defer C.free(unsafe.Pointer(arr))
		return C.distac_wsum_isa(cpu.isa, fptr(Vec{Buf: dst.Buf, Off: dst.Off + off}), C.int32_t(len(xs)), arr,
			(*C.float)(unsafe.Pointer(&w[0])), C.int64_t(n))
	}))
}
