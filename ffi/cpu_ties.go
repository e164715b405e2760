package ffi

/*
#include <stdlib.h>
#include "distac_kernels.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// streamGrain is the fewest elements worth a thread of their own in the
// streaming merge ops.
const streamGrain = 1 << 18

// workers is how many threads to give n elements, at least grain each.
func (cpu *CPU) workers(n, grain int) int {
	w := cpu.threads
	if w <= 0 {
		w = runtime.NumCPU()
	}
	return max(1, min(w, n/grain))
}

// parallelRange runs fn over [0, n) cut into one run per thread, on
// 64-byte boundaries. The merge kernels stream many inputs, and one core
// cannot keep enough cache misses in flight to use the memory bandwidth
// (eight-input TIES merge at 64 MiB: 18 GB/s on one Zen 4 core, 33 on two);
// the kernels are safe to call concurrently on disjoint outputs.
func (cpu *CPU) parallelRange(n int, fn func(off, n int) C.int) C.int {
	w := cpu.workers(n, streamGrain)
	if w == 1 {
		return fn(0, n)
	}
	rcs := make([]C.int, w)
	var wg sync.WaitGroup
	for k := range w {
		lo, hi := n*k/w&^15, n*(k+1)/w&^15
		if k == w-1 {
			hi = n
		}
		wg.Go(func() { rcs[k] = fn(lo, hi-lo) })
	}
	wg.Wait()
	for _, rc := range rcs {
		if rc != C.DISTAC_OK {
			return rc
		}
	}
	return C.DISTAC_OK
}

// ptrArrayAt is ptrArray of xs advanced by off elements (the caller frees it).
func ptrArrayAt(xs []Vec, off int) **C.float {
	at := make([]Vec, len(xs))
	for t, x := range xs {
		at[t] = Vec{Buf: x.Buf, Off: x.Off + off, N: x.N - off}
	}
	return ptrArray(at)
}

func (cpu *CPU) AbsHistogram(x Vec, shift, bits int, prefix uint32, hist []uint64) error {
	if err := checkAbsHistogram("c", x, shift, bits, hist); err != nil {
		return err
	}
	// hist is Go memory without pointers, which cgo lets C write during the call.
	rc := C.distac_abs_histogram_isa(cpu.isa, fptr(x), C.int64_t(x.N), C.int32_t(shift),
		C.int32_t(bits), C.uint32_t(prefix), (*C.uint64_t)(unsafe.Pointer(&hist[0])))
	return status("abs histogram", rc)
}

func (cpu *CPU) TiesTrim(dst, x Vec, threshold float32) error {
	if err := checkTiesTrim("c", dst, x); err != nil {
		return err
	}
	rc := cpu.parallelRange(x.N, func(off, n int) C.int {
		return C.distac_ties_trim_isa(cpu.isa, fptr(Vec{Buf: dst.Buf, Off: dst.Off + off}),
			fptr(Vec{Buf: x.Buf, Off: x.Off + off}), C.int64_t(n), C.float(threshold))
	})
	return status("ties trim", rc)
}

func (cpu *CPU) TiesMerge(dst Vec, xs []Vec, thresholds []float32) error {
	if err := checkTiesMerge("c", dst, xs, thresholds); err != nil {
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
	n, err := checkTallConsensus("c", dst, counts, xs, lambdas)
	if err != nil {
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
