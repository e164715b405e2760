// Package ffi holds distac's compute backends: the pure-Go reference, the CPU
// kernels (scalar, AVX2, AVX-512) reached through cgo, and later CUDA. It is the
// only package that uses cgo; everything above it talks to the Backend interface.
//
// Buffers are owned by a backend (host memory for the CPU backends, device memory
// for CUDA) and reached only through views (Vec, Mat) and Upload/Download, so the
// code above never assumes it can touch the bytes.
package ffi

//go:generate go run gen_kernelhash.go

import (
	"errors"
	"fmt"
)

// DType is an element type of a Buffer.
type DType uint8

// Element types. F16 is IEEE binary16, BF16 is bfloat16; I32 holds labels and
// U8 holds mask counts.
const (
	F32 DType = iota
	F16
	BF16
	I32
	U8
)

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	case F16, BF16:
		return 2
	case U8:
		return 1
	}
	return 0
}

func (d DType) String() string {
	switch d {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case BF16:
		return "bf16"
	case I32:
		return "i32"
	case U8:
		return "u8"
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// IsFloat reports whether d is one of the floating-point types.
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 }

// Buffer is backend-owned memory of Len elements of one DType.
type Buffer interface {
	Len() int
	DType() DType
}

// Vec is the contiguous run Buf[Off : Off+N].
type Vec struct {
	Buf    Buffer
	Off, N int
}

// All is the whole of b as a Vec.
func All(b Buffer) Vec { return Vec{Buf: b, N: b.Len()} }

// Mat is a row-major matrix view: element (i, j) is Buf[Off + i*LD + j].
// Its shape comes from the op that uses it. A Mat with a nil Buf means "none"
// where an op's output is optional.
type Mat struct {
	Buf     Buffer
	Off, LD int
}

// ErrNotImplemented is returned by a backend for an op it does not have yet.
var ErrNotImplemented = errors.New("not implemented by this backend")

// Backend runs distac's ops on buffers it owns. Every method validates its
// views (bounds, dtypes, ownership) and returns an error without writing
// anything when they are wrong. Semantics of each op are those of the C ABI in
// kernels/include/distac_kernels.h, which is the specification.
type Backend interface {
	// Name is "ref", "scalar", "avx2", "avx512" or "cuda".
	Name() string
	// Alloc returns n zeroed elements of dt.
	Alloc(dt DType, n int) (Buffer, error)
	// Free releases b; b must not be used afterwards. Freeing twice is a no-op.
	Free(b Buffer)
	// Upload copies src (little-endian elements of dst's dtype, len N*size) into dst.
	Upload(dst Vec, src []byte) error
	// Download copies src into dst (len N*size).
	Download(dst []byte, src Vec) error
	// Sync waits for queued work (a no-op on the host).
	Sync() error

	// Sgemm: C[m x n] = alpha * op(A) * op(B) + beta * C (F32).
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a, b Mat, beta float32, c Mat) error
	// SgemmStridedBatched runs batch GEMMs at Off + q*stride of each operand.
	SgemmStridedBatched(transA, transB bool, m, n, k, batch int, alpha float32,
		a Mat, strideA int, b Mat, strideB int, beta float32, c Mat, strideC int) error

	// KLDistill returns T_tcr*T_stu/rows * sum KL(softmax(zt/T_tcr) || softmax(zs/T_stu))
	// and writes dLoss/dzs into grad unless grad.Buf is nil.
	KLDistill(rows, cols int, zt, zs Mat, tTcr, tStu float32, grad Mat) (float64, error)
	// CrossEntropyLS returns the label-smoothed cross-entropy (labels: I32 Vec of
	// length rows) and writes its gradient into grad unless grad.Buf is nil.
	CrossEntropyLS(rows, cols int, z Mat, labels Vec, eps float32, grad Mat) (float64, error)

	// Convert copies src into dst converting dtype (F32/F16/BF16, RNE).
	Convert(dst, src Vec) error
	// Sub writes dst = f32(ft) - f32(base) (dst F32; ft, base any float dtype).
	Sub(dst, ft, base Vec) error
	// SumSq is the deterministic float64 sum of squares of an F32 Vec.
	SumSq(x Vec) (float64, error)
	// Scale does x *= a.
	Scale(x Vec, a float32) error
	// Axpy does y += a*x.
	Axpy(a float32, x, y Vec) error
	// WeightedSum writes dst = sum_t w[t]*xs[t].
	WeightedSum(dst Vec, xs []Vec, w []float32) error
	// AbsHistogram adds the radix histogram of |x| bits to hist (len 1<<bits).
	AbsHistogram(x Vec, shift, bits int, prefix uint32, hist []uint64) error
	// AbsWindow adds to hist[u-lo] for each |x| bit pattern u in
	// [lo, lo+len(hist)) and returns how many lie above that window.
	AbsWindow(x Vec, lo uint32, hist []uint64) (uint64, error)
	// TiesTrim writes dst = |x| < threshold ? 0 : x.
	TiesTrim(dst, x Vec, threshold float32) error
	// TiesMerge writes the TIES elect + disjoint mean of xs trimmed at thresholds.
	TiesMerge(dst Vec, xs []Vec, thresholds []float32) error
	// TallConsensus writes TALL agreement counts (U8, optional) and the
	// consensus merge (F32, optional) of xs.
	TallConsensus(dst, counts Vec, xs []Vec, lambdas []float32, minAgree int) error
}
