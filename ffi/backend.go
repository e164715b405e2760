// Package ffi holds distac's compute backends: the pure-Go reference, the CPU
// kernels (scalar, AVX2, AVX-512) reached through cgo, and later CUDA. It is the
// only package that uses cgo; everything above it talks to the Backend interface.
// Built without cgo (CGO_ENABLED=0) it holds the reference backend alone.
//
// Buffers are owned by a backend (host memory for the CPU backends, device memory
// for CUDA) and reached only through views (Vec, Mat) and Upload/Download, so the
// code above never assumes it can touch the bytes. Where it can (a backend that
// computes on host memory), it asks: HostView and HostBytes say yes only for
// host memory, and the caller falls back to Upload/Download otherwise.
package ffi

//go:generate go run gen_kernelhash.go

import "fmt"

// DType is an element type of a Buffer.
type DType uint8

// Element types. F16 is IEEE binary16, BF16 is bfloat16; I32 holds labels, U8
// mask counts, F64 the results of reductions (SumSq) and U64 histogram counts.
const (
	F32 DType = iota
	F16
	BF16
	I32
	U8
	F64
	U64
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
	case F64, U64:
		return 8
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
	case F64:
		return "f64"
	case U64:
		return "u64"
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// IsFloat reports whether d is one of the floating-point types of tensors
// (F32, F16, BF16).
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 }

// Buffer is backend-owned memory of Len elements of one DType.
type Buffer interface {
	Len() int
	DType() DType
}

// HostBuffer is a Buffer in host memory, whose bytes code above the backend
// may read (and, unless ReadOnly, write) directly. Device buffers do not
// implement it.
type HostBuffer interface {
	Buffer
	HostBytes() []byte // the elements' bytes; nil once freed
	ReadOnly() bool    // a HostView of the caller's memory: an input only
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

// Backend runs distac's ops on buffers it owns. Every method validates its
// views (bounds, dtypes, ownership) and returns an error without writing
// anything when they are wrong: the shape rules are shared by every backend
// (check*.go), ownership is each backend's own. Semantics of each op are those
// of the C ABI in kernels/include/distac_kernels.h, which is the specification.
//
// A backend may queue work (a device stream): results that a method writes
// into a buffer are then ready for later ops at once, and for the host after
// Download or Sync. Reductions write their results into backend buffers (F64
// sums, U64 counts), so a pass over many chunks leaves them on the device and
// reads them back once. Methods that return a number (the losses) wait for it.
type Backend interface {
	// Name is "ref", "scalar", "avx2", "avx512" or "cuda".
	Name() string
	// Alloc returns n zeroed elements of dt.
	Alloc(dt DType, n int) (Buffer, error)
	// Free releases b; b must not be used afterwards. Freeing twice is a no-op.
	Free(b Buffer)
	// Upload copies src (little-endian elements of dst's dtype, len N*size) into dst.
	Upload(dst Vec, src []byte) error
	// Download copies src into dst (len N*size), after the work queued so far.
	Download(dst []byte, src Vec) error
	// Zero sets every element of v, of any dtype, to 0.
	Zero(v Vec) error
	// Sync waits for the work queued so far and returns the first error it
	// met. Host backends finish every op within its call (a no-op for them);
	// callers sync at the end of a pass, before trusting its results.
	Sync() error
	// ChunkElems is how many elements of a tensor a streamed pass (a merge)
	// should give each op call on this backend: enough to amortise a call
	// (a kernel launch on a device), few enough that a chunk of every input
	// stays in cache on a CPU.
	ChunkElems() int

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
	// SubAccumulate is Sub, one input's step of WeightedSum and SumSq in one
	// pass over a task's chunk: with t = f32(ft) - f32(base), it writes
	// tau = t, acc = w*t (first) or acc + w*t (else: after first, WeightedSum
	// over the tasks' calls in order), and into sumsq (one F64) SumSq of t,
	// each with the bits of the op it fuses. tau, acc and sumsq are optional
	// (nil Buf: not computed); tau may be ft or base. A backend without it
	// returns an error wrapping ErrNotImplemented before touching anything,
	// and the caller runs the three ops.
	SubAccumulate(tau, acc, ft, base Vec, w float32, first bool, sumsq Vec) error
	// SumSq writes the deterministic float64 sum of squares of an F32 Vec
	// into out, one F64 element (see SumSqValue for a number on the host).
	SumSq(x, out Vec) error
	// Scale does x *= a.
	Scale(x Vec, a float32) error
	// Axpy does y += a*x.
	Axpy(a float32, x, y Vec) error
	// WeightedSum writes dst = sum_t w[t]*xs[t].
	WeightedSum(dst Vec, xs []Vec, w []float32) error
	// AbsHistogram adds the radix histogram of |x| bits to hist (U64, 1<<bits).
	AbsHistogram(x Vec, shift, bits int, prefix uint32, hist Vec) error
	// AbsWindow adds to hist[u-lo] (U64, one count per u of the window
	// [lo, lo+hist.N)) for each |x| bit pattern u inside the window, and to
	// above (one U64) the number of those above it.
	AbsWindow(x Vec, lo uint32, hist, above Vec) error
	// TiesTrim writes dst = |x| < threshold ? 0 : x.
	TiesTrim(dst, x Vec, threshold float32) error
	// TiesMerge writes the TIES elect + disjoint mean of xs trimmed at thresholds.
	TiesMerge(dst Vec, xs []Vec, thresholds []float32) error
	// TallConsensus writes TALL agreement counts (U8, optional) and the
	// consensus merge (F32, optional) of xs.
	TallConsensus(dst, counts Vec, xs []Vec, lambdas []float32, minAgree int) error
	// DareDrop zeroes the entries of x (F32) that DARE's seeded mask drops at
	// rate p: entry i of x is position first+i of the stream keyed by key
	// (see DareKeep, which defines the mask).
	DareDrop(x Vec, key, first uint64, p float64) error
}

// HostMemory is implemented by backends whose buffers are host memory.
type HostMemory interface {
	Backend
	// HostView returns a read-only Vec over b, which holds len(b)/dt.Size()
	// elements of dt in host memory, for the backend to read in place where
	// a copy would otherwise go in with Upload (a memory-mapped checkpoint,
	// say). ok is false when b is not aligned to dt's size. b must stay valid
	// and unchanged while the view is in use, and must not be Go heap memory:
	// the CPU backend passes its address to C inside pointer arrays, which
	// cgo allows only for memory Go does not manage (a mapping, C memory).
	// Ops accept a view only as an input (every input of the task-vector
	// ops, and Download); anything that writes rejects it. Free of a view
	// releases nothing.
	HostView(dt DType, b []byte) (v Vec, ok bool)
}

// HostView returns a read-only view of b if be computes on host memory
// (HostMemory), else ok = false and the caller uploads b instead.
func HostView(be Backend, dt DType, b []byte) (Vec, bool) {
	if h, ok := be.(HostMemory); ok {
		return h.HostView(dt, b)
	}
	return Vec{}, false
}

// HostBytes returns the bytes of v without copying when its buffer is host
// memory (a live HostBuffer), else false. Writes through it are visible to
// the backend; a read-only view must not be written.
func HostBytes(v Vec) ([]byte, bool) {
	h, ok := v.Buf.(HostBuffer)
	if !ok {
		return nil, false
	}
	b := h.HostBytes()
	if b == nil && v.N > 0 {
		return nil, false
	}
	s := v.Buf.DType().Size()
	if v.Off < 0 || v.N < 0 || (v.Off+v.N)*s > len(b) {
		return nil, false
	}
	return b[v.Off*s : (v.Off+v.N)*s], true
}

// IsHostView reports whether v is a read-only view made by HostView.
func IsHostView(v Vec) bool {
	h, ok := v.Buf.(HostBuffer)
	return ok && h.ReadOnly()
}
