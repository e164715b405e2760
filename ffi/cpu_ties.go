//go:build cgo

package ffi

/*
#include <stdlib.h>
#include "distac_kernels.h"
*/
import "C"

import (
	"unsafe"
)

func (cpu *CPU) AbsHistogram(x Vec, shift, bits int, prefix uint32, hist Vec) error {
	if err := cpu.check(checkAbsHistogram(x, shift, bits, hist)); err != nil {
		return err
	}
	rc := C.distac_abs_histogram_isa(cpu.isa, fptr(x), C.int64_t(x.N), C.int32_t(shift),
		C.int32_t(bits), C.uint32_t(prefix), (*C.uint64_t)(ptr(hist)))
	return status("abs histogram", rc)
}

func (cpu *CPU) AbsWindow(x Vec, lo uint32, hist, above Vec) error {
	if err := cpu.check(checkAbsWindow(x, lo, hist, above)); err != nil {
		return err
	}
	rc := C.distac_abs_window_isa(cpu.isa, fptr(x), C.int64_t(x.N), C.uint32_t(lo), C.uint32_t(hist.N),
		(*C.uint64_t)(ptr(hist)), (*C.uint64_t)(ptr(above)))
	return status("abs window", rc)
}

func (cpu *CPU) TiesTrim(dst, x Vec, threshold float32) error {
	if err := cpu.check(checkTiesTrim(dst, x)); err != nil {
		return err
	}
	rc := cpu.parallelRange(x.N, func(off, n int) C.int {
		return C.distac_ties_trim_isa(cpu.isa, fptr(Vec{Buf: dst.Buf, Off: dst.Off + off}),
			fptr(Vec{Buf: x.Buf, Off: x.Off + off}), C.int64_t(n), C.float(threshold))
	})
	return status("ties trim", rc)
}

func (cpu *CPU) TiesMerge(dst Vec, xs []Vec, thresholds []float32) error {
	if err := cpu.check(checkTiesMerge(dst, xs, thresholds)); err != nil {
		return err
	}
	rc := cpu.parallelRange(dst.N, func(off, n int) C.int {
		arr := ptrArrayAt(xs, off)
		defer C.free(unsafe.Pointer(arr))
		return C.distac_ties_merge_isa(cpu.isa, fptr(Vec{Buf: dst.Buf, Off: dst.Off + off}),
			C.int32_t(len(xs)), arr, (*C.float)(unsafe.Pointer(&thresholds[0])), C.int64_t(n))
	})
	return status("ties merge", rc)
}

func (cpu *CPU) TallConsensus(dst, counts Vec, xs []Vec, lambdas []float32, minAgree int) error {
	n, a, err := checkTallConsensus(dst, counts, xs, lambdas)
	if err := cpu.check(a, err); err != nil {
		return err
	}
	// At most 255 tasks agree, so clamping to [0, 256] keeps c >= minAgree
	// unchanged and fits int32.
	minAgree = min(max(minAgree, 0), 256)
	rc := cpu.parallelRange(n, func(off, n int) C.int {
		var d *C.float
		var c *C.uint8_t
		if dst.Buf != nil {
			d = fptr(Vec{Buf: dst.Buf, Off: dst.Off + off})
		}
		if counts.Buf != nil {
			c = (*C.uint8_t)(ptr(Vec{Buf: counts.Buf, Off: counts.Off + off}))
		}
		arr := ptrArrayAt(xs, off)
		defer C.free(unsafe.Pointer(arr))
		return C.distac_tall_consensus_isa(cpu.isa, d, c, C.int32_t(len(xs)), arr,
			(*C.float)(unsafe.Pointer(&lambdas[0])), C.int32_t(minAgree), C.int64_t(n))
	})
	return status("tall consensus", rc)
}
