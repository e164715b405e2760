//go:build cgo

package ffi

/*
#cgo CFLAGS: -O3 -std=c11 -I${SRCDIR}/../kernels/include -I${SRCDIR}/../kernels/avx
#cgo LDFLAGS: -lm -lpthread
#include <stdlib.h>
#include <string.h>
#include "distac_kernels.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// The header and KernelsABI agree, or this does not compile.
var (
	_ [C.DISTAC_KERNELS_ABI_VERSION - KernelsABI]struct{}
	_ [KernelsABI - C.DISTAC_KERNELS_ABI_VERSION]struct{}
)

// CPU runs the C kernels of one instruction set on host memory (C memory,
// shared by every CPU backend: a buffer of one serves another).
type CPU struct {
	*host
	isa     C.distac_isa
	threads int
}

// cHost owns the CPU backends' buffers.
var cHost = &host{kind: "c"}

// kernelsBuilt reports whether this build holds the C kernels (it does with cgo).
const kernelsBuilt = true

var isaByName = map[string]C.distac_isa{
	ISAScalar: C.DISTAC_ISA_SCALAR,
	ISAAVX2:   C.DISTAC_ISA_AVX2,
	ISAAVX512: C.DISTAC_ISA_AVX512,
}

// NewCPU returns the CPU backend for isa ("scalar", "avx2", "avx512") using
// threads threads for the multi-threaded ops (<= 0: one per CPU). It fails if
// this CPU or OS cannot run isa.
func NewCPU(isa string, threads int) (*CPU, error) {
	v, ok := isaByName[isa]
	if !ok {
		return nil, fmt.Errorf("cpu backend: unknown instruction set %q (want scalar, avx2 or avx512)", isa)
	}
	if C.distac_isa_supported(v) == 0 {
		return nil, fmt.Errorf("cpu backend: this CPU/OS cannot run %s", isa)
	}
	if threads <= 0 {
		// Resolved here once: the kernels' own default asks the OS on every call.
		threads = runtime.NumCPU()
	}
	return &CPU{host: cHost, isa: v, threads: threads}, nil
}

// KernelsSupport reports what the C kernels' own check says of isa; it must
// agree with the cpuid-based choice.
func KernelsSupport(isa string) bool {
	v, ok := isaByName[isa]
	return ok && C.distac_isa_supported(v) != 0
}

// Threads is the thread count the backend passes to the kernels.
func (cpu *CPU) Threads() int { return cpu.threads }

func (cpu *CPU) Name() string { return C.GoString(C.distac_isa_name(cpu.isa)) }

// WithThreads returns the same backend passing threads to the kernels.
func (cpu *CPU) WithThreads(threads int) (Backend, error) {
	return NewCPU(cpu.Name(), threads)
}

func (cpu *CPU) Alloc(dt DType, n int) (Buffer, error) {
	if err := checkAlloc(dt, n); err != nil {
		return nil, err
	}
	size := (n*dt.Size() + 63) &^ 63
	if size == 0 {
		size = 64
	}
	p := C.aligned_alloc(64, C.size_t(size))
	if p == nil {
		return nil, fmt.Errorf("alloc: %w for %d x %s", ErrOutOfMemory, n, dt)
	}
	C.memset(p, 0, C.size_t(size))
	return cpu.newBuffer(unsafe.Slice((*byte)(p), size)[:n*dt.Size()], n, dt, false), nil
}

func (cpu *CPU) Free(b Buffer) {
	h, ok := b.(*hostBuffer)
	if !ok || h.owner != cpu.host || h.freed {
		return
	}
	if h.view { // the caller's memory
		h.freed, h.mem = true, nil
		return
	}
	C.free(unsafe.Pointer(unsafe.SliceData(h.mem)))
	h.freed, h.mem = true, nil
}

// ptr is the C address of element v.Off of a host buffer (checked beforehand).
func ptr(v Vec) unsafe.Pointer {
	h := v.Buf.(*hostBuffer)
	return unsafe.Pointer(uintptr(unsafe.Pointer(unsafe.SliceData(h.mem))) + uintptr(v.Off*h.dt.Size()))
}

func fptr(v Vec) *C.float { return (*C.float)(ptr(v)) }

// matPtr is the C address of a Mat's first element.
func matPtr(m Mat) *C.float {
	if m.Buf == nil {
		return nil
	}
	return fptr(Vec{Buf: m.Buf, Off: m.Off})
}

// status turns a kernel status into an error, in the kernels' own words
// (distac_status_string).
func status(op string, rc C.int) error {
	switch rc {
	case C.DISTAC_OK:
		return nil
	case C.DISTAC_ENOMEM:
		return fmt.Errorf("%s: %w", op, ErrOutOfMemory)
	case C.DISTAC_EINVAL, C.DISTAC_EISA:
		return fmt.Errorf("%s: %s", op, C.GoString(C.distac_status_string(rc)))
	}
	return fmt.Errorf("%s: %s (kernel status %d)", op, C.GoString(C.distac_status_string(rc)), int(rc))
}

// ptrArray copies the C addresses of xs into C memory (cgo forbids Go memory
// holding pointers being passed to C); the caller frees it.
func ptrArray(xs []Vec) **C.float {
	arr := (**C.float)(C.malloc(C.size_t(len(xs)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	s := unsafe.Slice(arr, len(xs))
	for i, x := range xs {
		s[i] = fptr(x)
	}
	return arr
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

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

var (
	_ Backend    = (*CPU)(nil)
	_ HostMemory = (*CPU)(nil)
	_ Trainer    = (*CPU)(nil)
)

// statusOf is status("op", rc) for tests, which cannot use cgo.
func statusOf(rc int) error { return status("op", C.int(rc)) }
