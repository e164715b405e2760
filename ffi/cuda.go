//go:build cgo && linux

package ffi

/*
#cgo CFLAGS: -O2 -std=c11 -I${SRCDIR}/../kernels/include -I${SRCDIR}/../kernels/cuda
#cgo LDFLAGS: -ldl -lpthread
#include <stdlib.h>
#include "distac_cuda.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/distac/distac/kernels/cuda/ptx"
)

// The CUDA backend: device buffers and the kernels of kernels/cuda, queued
// on one stream per backend, through the C launchers of distac_cuda.h (the
// driver is opened with dlopen, so this build runs where there is none).
// It implements Backend and Trainer, not HostMemory: the merge uploads.
//
// NEVER RUN ON A GPU: it builds, its loader is tested against stub driver
// libraries, and its kernels wait for scripts/gpu-check.sh on hardware.

const cudaBuilt = true

// cudaHandle is the process's one opened driver and device 0, shared by
// every CUDA backend (each has its own stream). A failed open is not kept:
// the next Open tries again (a test may point DISTAC_LIBCUDA elsewhere).
var cudaHandle struct {
	sync.Mutex
	c    *C.distac_cuda
	info CUDAInfo
}

// openCUDAHandle opens the driver and loads the PTX, once per process.
func openCUDAHandle() (*C.distac_cuda, CUDAInfo, error) {
	cudaHandle.Lock()
	defer cudaHandle.Unlock()
	if cudaHandle.c != nil {
		return cudaHandle.c, cudaHandle.info, nil
	}
	var tables [2][]C.distac_cuda_module
	var keep []unsafe.Pointer
	defer func() {
		for _, p := range keep {
			C.free(p)
		}
	}()
	for i, arch := range []string{"sm_80", "sm_90a"} {
		mods, err := ptx.Modules(arch)
		if err != nil {
			return nil, CUDAInfo{}, fmt.Errorf("cuda backend: %w", err)
		}
		for _, m := range mods {
			name, text := C.CString(m.Name), C.CString(string(m.PTX))
			keep = append(keep, unsafe.Pointer(name), unsafe.Pointer(text))
			tables[i] = append(tables[i], C.distac_cuda_module{name: name, ptx: text})
		}
	}
	// The module tables are copied into C memory: cgo forbids passing Go
	// memory that holds C pointers... which these hold; C arrays avoid it.
	arr := func(t []C.distac_cuda_module) *C.distac_cuda_module {
		p := (*C.distac_cuda_module)(C.malloc(C.size_t(len(t)) * C.size_t(unsafe.Sizeof(t[0]))))
		copy(unsafe.Slice(p, len(t)), t)
		keep = append(keep, unsafe.Pointer(p))
		return p
	}
	var c *C.distac_cuda
	errbuf := (*C.char)(C.calloc(1, 1024))
	defer C.free(unsafe.Pointer(errbuf))
	rc := C.distac_cuda_open_modules(0, arr(tables[0]), C.int(len(tables[0])), arr(tables[1]),
		C.int(len(tables[1])), &c, errbuf, 1024)
	if rc != C.DISTAC_OK {
		return nil, CUDAInfo{}, fmt.Errorf("cuda backend: %s", C.GoString(errbuf))
	}
	var in C.distac_cuda_device_info
	C.distac_cuda_info(c, &in)
	info := CUDAInfo{
		Name: C.GoString(&in.name[0]), Ordinal: int(in.ordinal),
		CCMajor: int(in.cc_major), CCMinor: int(in.cc_minor), Multiprocessors: int(in.multiprocessors),
		DriverVersion: int(in.driver_version), MemoryPools: in.memory_pools != 0,
		TotalMemory: uint64(in.total_memory), PTXArch: C.GoString(in.ptx_arch), Library: C.GoString(in.library),
	}
	cudaHandle.c, cudaHandle.info = c, info
	return c, info, nil
}

// CUDADeviceCount counts the driver's devices without loading kernels; the
// error says why there is no usable driver.
func CUDADeviceCount() (int, error) {
	var n C.int
	errbuf := (*C.char)(C.calloc(1, 1024))
	defer C.free(unsafe.Pointer(errbuf))
	if rc := C.distac_cuda_device_count(&n, errbuf, 1024); rc != C.DISTAC_OK {
		return 0, fmt.Errorf("cuda backend: %s", C.GoString(errbuf))
	}
	return int(n), nil
}

// CUDA runs the CUDA kernels on device 0 on its own stream.
type CUDA struct {
	c      *C.distac_cuda
	stream C.CUstream
	info   CUDAInfo
	mu     sync.Mutex    // guards slot
	slot   C.CUdeviceptr // one float64 for the losses and sums returned to the host
}

// NewCUDA opens the CUDA backend on device 0, or says in one line why it
// cannot: no driver library, a driver older than CUDA 12.0, no device, a
// compute capability below 8.0, or PTX the driver rejects.
func NewCUDA() (*CUDA, error) {
	c, info, err := openCUDAHandle()
	if err != nil {
		return nil, err
	}
	be := &CUDA{c: c, info: info}
	if err := be.status("stream create", C.distac_cuda_stream_create(c, &be.stream)); err != nil {
		return nil, err
	}
	if err := be.status("alloc", C.distac_cuda_alloc(c, 8, be.stream, &be.slot)); err != nil {
		return nil, err
	}
	return be, nil
}

// Info describes the device.
func (be *CUDA) Info() CUDAInfo { return be.info }

func (be *CUDA) Name() string { return "cuda" }

// cudaBuffer is device memory of a CUDA backend.
type cudaBuffer struct {
	ptr   C.CUdeviceptr
	n     int
	dt    DType
	owner *C.distac_cuda
	freed bool
}

func (b *cudaBuffer) Len() int     { return b.n }
func (b *cudaBuffer) DType() DType { return b.dt }

// status turns a launcher's status into an error: DISTAC_ECUDA names the
// driver call that failed; every other code reads as the CPU kernels' do.
func (be *CUDA) status(op string, rc C.int) error {
	if rc == C.DISTAC_ECUDA {
		buf := (*C.char)(C.calloc(1, 1024))
		defer C.free(unsafe.Pointer(buf))
		C.distac_cuda_last_error(be.c, buf, 1024)
		return fmt.Errorf("cuda %s: %s", op, C.GoString(buf))
	}
	return status("cuda "+op, rc)
}

// check passes a's error through, then refuses buffers that are not live
// buffers of this device (CUDA backends share the device's buffers).
func (be *CUDA) check(a access, err error) error {
	return a.owned(err, func(b Buffer) (mine, freed bool) {
		cb, ok := b.(*cudaBuffer)
		return ok && cb.owner == be.c, ok && cb.freed
	})
}

// dptr is the device address of element v.Off (0 for an absent view).
func dptr(v Vec) C.CUdeviceptr {
	if v.Buf == nil {
		return 0
	}
	b := v.Buf.(*cudaBuffer)
	return b.ptr + C.CUdeviceptr(v.Off*b.dt.Size())
}

// mptr is the device address of a Mat's first element (0 for none).
func mptr(m Mat) C.CUdeviceptr { return dptr(Vec{Buf: m.Buf, Off: m.Off}) }

func (be *CUDA) Alloc(dt DType, n int) (Buffer, error) {
	if err := checkAlloc(dt, n); err != nil {
		return nil, err
	}
	bytes := max(n*dt.Size(), 8)
	var p C.CUdeviceptr
	if err := be.status(fmt.Sprintf("alloc of %d x %s", n, dt), C.distac_cuda_alloc(be.c, C.size_t(bytes), be.stream, &p)); err != nil {
		return nil, err
	}
	if err := be.status("alloc", C.distac_cuda_memset0(be.c, p, C.size_t(bytes), be.stream)); err != nil {
		C.distac_cuda_free(be.c, p, be.stream)
		return nil, err
	}
	return &cudaBuffer{ptr: p, n: n, dt: dt, owner: be.c}, nil
}

func (be *CUDA) Free(b Buffer) {
	cb, ok := b.(*cudaBuffer)
	if !ok || cb.owner != be.c || cb.freed {
		return
	}
	C.distac_cuda_free(be.c, cb.ptr, be.stream) // stream-ordered: after the work that uses it
	cb.freed, cb.ptr = true, 0
}

func (be *CUDA) Upload(dst Vec, src []byte) error {
	if err := be.check(checkCopy("upload", dst, len(src), true)); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	// A pageable source is staged before the call returns, so src may be
	// Go memory (cgo pins it for the call).
	return be.status("upload", C.distac_cuda_upload(be.c, dptr(dst), unsafe.Pointer(&src[0]), C.size_t(len(src)), be.stream))
}

func (be *CUDA) Download(dst []byte, src Vec) error {
	if err := be.check(checkCopy("download", src, len(dst), false)); err != nil {
		return err
	}
	if len(dst) == 0 {
		return be.Sync()
	}
	return be.status("download", C.distac_cuda_download(be.c, unsafe.Pointer(&dst[0]), dptr(src), C.size_t(len(dst)), be.stream))
}

func (be *CUDA) Zero(v Vec) error {
	if err := be.check(checkZero(v)); err != nil {
		return err
	}
	return be.status("zero", C.distac_cuda_memset0(be.c, dptr(v), C.size_t(v.N*v.Buf.DType().Size()), be.stream))
}

func (be *CUDA) Sync() error { return be.status("sync", C.distac_cuda_sync(be.c, be.stream)) }

// ChunkElems is 16M elements: a launch costs microseconds, so a merge's
// chunks are large (64 MiB of f32 per input).
func (be *CUDA) ChunkElems() int { return 1 << 24 }

// readSlot queues fn writing the float64 slot, then waits and returns it.
func (be *CUDA) readSlot(op string, fn func(slot C.CUdeviceptr) C.int) (float64, error) {
	be.mu.Lock()
	defer be.mu.Unlock()
	if err := be.status(op, fn(be.slot)); err != nil {
		return 0, err
	}
	var v float64
	if err := be.status(op, C.distac_cuda_download(be.c, unsafe.Pointer(&v), be.slot, 8, be.stream)); err != nil {
		return 0, err
	}
	return v, nil
}

func cb(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// devTable copies the device addresses of xs into C memory (the launcher
// uploads it); the caller frees it.
func devTable(xs []Vec) *C.CUdeviceptr {
	p := (*C.CUdeviceptr)(C.malloc(C.size_t(len(xs)) * 8))
	s := unsafe.Slice(p, len(xs))
	for i, x := range xs {
		s[i] = dptr(x)
	}
	return p
}

func (be *CUDA) Sgemm(transA, transB bool, m, n, k int, alpha float32, a, b Mat, beta float32, c Mat) error {
	if err := be.check(checkGemm(transA, transB, m, n, k, 1, a, 0, b, 0, c, 0)); err != nil {
		return err
	}
	return be.status("sgemm", C.distac_cuda_sgemm(be.c, cb(transA), cb(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k),
		C.float(alpha), mptr(a), C.int64_t(a.LD), mptr(b), C.int64_t(b.LD), C.float(beta), mptr(c), C.int64_t(c.LD), be.stream))
}

func (be *CUDA) SgemmStridedBatched(transA, transB bool, m, n, k, batch int, alpha float32,
	a Mat, strideA int, b Mat, strideB int, beta float32, c Mat, strideC int) error {
	if err := be.check(checkGemm(transA, transB, m, n, k, batch, a, strideA, b, strideB, c, strideC)); err != nil {
		return err
	}
	return be.status("sgemm strided batched", C.distac_cuda_sgemm_strided_batched(be.c, cb(transA), cb(transB),
		C.int64_t(m), C.int64_t(n), C.int64_t(k), C.int64_t(batch), C.float(alpha),
		mptr(a), C.int64_t(a.LD), C.int64_t(strideA), mptr(b), C.int64_t(b.LD), C.int64_t(strideB),
		C.float(beta), mptr(c), C.int64_t(c.LD), C.int64_t(strideC), be.stream))
}

func (be *CUDA) KLDistill(rows, cols int, zt, zs Mat, tTcr, tStu float32, grad Mat) (float64, error) {
	if err := be.check(checkKL(rows, cols, zt, zs, tTcr, tStu, grad)); err != nil {
		return 0, err
	}
	return be.readSlot("kl distill", func(slot C.CUdeviceptr) C.int {
		return C.distac_cuda_kl_distill(be.c, C.int64_t(rows), C.int64_t(cols), mptr(zt), C.int64_t(zt.LD),
			mptr(zs), C.int64_t(zs.LD), C.float(tTcr), C.float(tStu), slot, mptr(grad), C.int64_t(grad.LD), be.stream)
	})
}

func (be *CUDA) CrossEntropyLS(rows, cols int, z Mat, labels Vec, eps float32, grad Mat) (float64, error) {
	if err := be.check(checkXent(rows, cols, z, labels, eps, grad)); err != nil {
		return 0, err
	}
	// Labels live on the device; the CPU kernel's range check is made on a
	// copy, before anything is written.
	host := make([]int32, labels.N)
	if err := be.Download(I32Bytes(host), labels); err != nil {
		return 0, err
	}
	for r, l := range host {
		if l < 0 || int(l) >= cols {
			return 0, fmt.Errorf("cuda cross-entropy: invalid argument (label %d of row %d outside [0, %d))", l, r, cols)
		}
	}
	return be.readSlot("cross-entropy", func(slot C.CUdeviceptr) C.int {
		return C.distac_cuda_xent_ls(be.c, C.int64_t(rows), C.int64_t(cols), mptr(z), C.int64_t(z.LD), dptr(labels),
			C.float(eps), slot, mptr(grad), C.int64_t(grad.LD), be.stream)
	})
}

func cudaDType(v Vec) C.distac_dtype { return C.distac_dtype(v.Buf.DType()) }

func (be *CUDA) Convert(dst, src Vec) error {
	if err := be.check(checkConvert(dst, src)); err != nil {
		return err
	}
	return be.status("convert", C.distac_cuda_convert(be.c, cudaDType(dst), dptr(dst), cudaDType(src), dptr(src),
		C.int64_t(dst.N), be.stream))
}

func (be *CUDA) Sub(dst, ft, base Vec) error {
	if err := be.check(checkSub(dst, ft, base)); err != nil {
		return err
	}
	return be.status("sub", C.distac_cuda_sub(be.c, dptr(dst), cudaDType(ft), dptr(ft), cudaDType(base), dptr(base),
		C.int64_t(dst.N), be.stream))
}

// SubAccumulate is not a CUDA kernel (yet): the merge runs Sub, SumSq and
// WeightedSum, which on a device chunk of 16M elements cost little more.
func (be *CUDA) SubAccumulate(tau, acc, ft, base Vec, w float32, first bool, sumsq Vec) error {
	if err := be.check(checkSubAccumulate(tau, acc, ft, base, sumsq)); err != nil {
		return err
	}
	return fmt.Errorf("cuda: sub accumulate: %w", ErrNotImplemented)
}

func (be *CUDA) SumSq(x, out Vec) error {
	if err := be.check(checkSumSq(x, out)); err != nil {
		return err
	}
	return be.status("sumsq", C.distac_cuda_sumsq(be.c, dptr(x), C.int64_t(x.N), dptr(out), be.stream))
}

func (be *CUDA) Scale(x Vec, a float32) error {
	if err := be.check(checkScale(x)); err != nil {
		return err
	}
	return be.status("scale", C.distac_cuda_scale(be.c, dptr(x), C.int64_t(x.N), C.float(a), be.stream))
}

func (be *CUDA) Axpy(a float32, x, y Vec) error {
	if err := be.check(checkAxpy(x, y)); err != nil {
		return err
	}
	return be.status("axpy", C.distac_cuda_axpy(be.c, C.int64_t(y.N), C.float(a), dptr(x), dptr(y), be.stream))
}

func (be *CUDA) WeightedSum(dst Vec, xs []Vec, w []float32) error {
	if err := be.check(checkWeightedSum(dst, xs, w)); err != nil {
		return err
	}
	t := devTable(xs)
	defer C.free(unsafe.Pointer(t))
	return be.status("wsum", C.distac_cuda_wsum(be.c, dptr(dst), C.int32_t(len(xs)), t,
		(*C.float)(unsafe.Pointer(&w[0])), C.int64_t(dst.N), be.stream))
}

func (be *CUDA) AbsHistogram(x Vec, shift, bits int, prefix uint32, hist Vec) error {
	if err := be.check(checkAbsHistogram(x, shift, bits, hist)); err != nil {
		return err
	}
	return be.status("abs histogram", C.distac_cuda_abs_histogram(be.c, dptr(x), C.int64_t(x.N), C.int32_t(shift),
		C.int32_t(bits), C.uint32_t(prefix), dptr(hist), be.stream))
}

func (be *CUDA) AbsWindow(x Vec, lo uint32, hist, above Vec) error {
	if err := be.check(checkAbsWindow(x, lo, hist, above)); err != nil {
		return err
	}
	return be.status("abs window", C.distac_cuda_abs_window(be.c, dptr(x), C.int64_t(x.N), C.uint32_t(lo),
		C.uint32_t(hist.N), dptr(hist), dptr(above), be.stream))
}

func (be *CUDA) TiesTrim(dst, x Vec, threshold float32) error {
	if err := be.check(checkTiesTrim(dst, x)); err != nil {
		return err
	}
	return be.status("ties trim", C.distac_cuda_ties_trim(be.c, dptr(dst), dptr(x), C.int64_t(x.N), C.float(threshold), be.stream))
}

func (be *CUDA) TiesMerge(dst Vec, xs []Vec, thresholds []float32) error {
	if err := be.check(checkTiesMerge(dst, xs, thresholds)); err != nil {
		return err
	}
	t := devTable(xs)
	defer C.free(unsafe.Pointer(t))
	return be.status("ties merge", C.distac_cuda_ties_merge(be.c, dptr(dst), C.int32_t(len(xs)), t,
		(*C.float)(unsafe.Pointer(&thresholds[0])), C.int64_t(dst.N), be.stream))
}

func (be *CUDA) TallConsensus(dst, counts Vec, xs []Vec, lambdas []float32, minAgree int) error {
	n, a, err := checkTallConsensus(dst, counts, xs, lambdas)
	if err := be.check(a, err); err != nil {
		return err
	}
	minAgree = min(max(minAgree, 0), 256) // as the CPU backend: c <= 255 either way
	t := devTable(xs)
	defer C.free(unsafe.Pointer(t))
	return be.status("tall consensus", C.distac_cuda_tall_consensus(be.c, dptr(dst), dptr(counts), C.int32_t(len(xs)), t,
		(*C.float)(unsafe.Pointer(&lambdas[0])), C.int32_t(minAgree), C.int64_t(n), be.stream))
}

func (be *CUDA) DareDrop(x Vec, key, first uint64, p float64) error {
	if err := be.check(checkDareDrop(x, p)); err != nil {
		return err
	}
	return be.status("dare drop", C.distac_cuda_dare_drop(be.c, dptr(x), C.int64_t(x.N), C.uint64_t(key),
		C.uint64_t(first), C.double(p), be.stream))
}

var _ Backend = (*CUDA)(nil)

// closeCUDAHandle closes the process's driver handle (tests that switch
// stub drivers call it; the backends opened on it must not be used after).
func closeCUDAHandle() {
	cudaHandle.Lock()
	defer cudaHandle.Unlock()
	if cudaHandle.c != nil {
		C.distac_cuda_close(cudaHandle.c)
		cudaHandle.c = nil
	}
}
