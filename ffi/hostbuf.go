package ffi

import (
	"fmt"
	"unsafe"
)

// hostBuffer is host memory: Go memory for the reference backend, C memory
// (64-byte aligned, so cgo may hold pointers to it in C arrays) for the CPU
// backends.
type hostBuffer struct {
	mem   []byte
	n     int
	dt    DType
	owner string // "go" or "c"
	freed bool
	view  bool // read-only memory of the caller's (HostView): inputs only, never freed
}

func (h *hostBuffer) Len() int     { return h.n }
func (h *hostBuffer) DType() DType { return h.dt }

// HostBytes returns the bytes of a host-resident Vec without copying, and
// false for device buffers. Writes through it are visible to the backend.
func HostBytes(v Vec) ([]byte, bool) {
	h, ok := v.Buf.(*hostBuffer)
	if !ok || h.freed {
		return nil, false
	}
	s := v.Buf.DType().Size()
	return h.mem[v.Off*s : (v.Off+v.N)*s], true
}

// f32s views a host F32 Vec as []float32.
func f32s(v Vec) []float32 {
	b, _ := HostBytes(v)
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), v.N)
}

// u16s views a host F16/BF16 Vec as []uint16.
func u16s(v Vec) []uint16 {
	b, _ := HostBytes(v)
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), v.N)
}

// i32s views a host I32 Vec as []int32.
func i32s(v Vec) []int32 {
	b, _ := HostBytes(v)
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), v.N)
}

// matVec is the Vec that spans a rows x cols Mat (empty if rows or cols is 0).
func matVec(m Mat, rows, cols int) Vec {
	if rows == 0 || cols == 0 {
		return Vec{Buf: m.Buf, Off: m.Off}
	}
	return Vec{Buf: m.Buf, Off: m.Off, N: (rows-1)*m.LD + cols}
}

// HostView returns a read-only Vec over b, which holds len(b)/dt.Size()
// elements of dt in host memory, for be to read in place where a copy would
// otherwise go in with Upload (a memory-mapped checkpoint, say). ok is false
// when be does not compute on host memory or b is not aligned to dt's size;
// the caller then uploads instead. b must stay valid and unchanged while the
// view is in use, and must not be Go heap memory: the CPU backend passes its
// address to C inside pointer arrays, which cgo allows only for memory Go does
// not manage (a mapping, C memory). Ops accept a view only as an input (Sub,
// Convert's src, the inputs of SumSq, WeightedSum, AbsHistogram, AbsWindow,
// TiesTrim, TiesMerge, TallConsensus, and Download); anything that writes
// rejects it. Free of a view releases nothing.
func HostView(be Backend, dt DType, b []byte) (Vec, bool) {
	var owner string
	switch be.(type) {
	case *CPU:
		owner = "c"
	case *Ref:
		owner = "go"
	default:
		return Vec{}, false
	}
	size := dt.Size()
	if size == 0 || len(b)%size != 0 || (len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%uintptr(size) != 0) {
		return Vec{}, false
	}
	n := len(b) / size
	return Vec{Buf: &hostBuffer{mem: b, n: n, dt: dt, owner: owner, view: true}, N: n}, true
}

// IsHostView reports whether v is a view made by HostView (read-only).
func IsHostView(v Vec) bool {
	h, ok := v.Buf.(*hostBuffer)
	return ok && h.view
}

// own checks that every buffer in bufs is a live, writable host buffer of
// this owner: what an op writes, or reads and writes.
func own(owner string, what string, bufs ...Buffer) error {
	return ownCheck(owner, what, false, bufs)
}

// ownIn is own for buffers an op only reads, which may be HostViews.
func ownIn(owner string, what string, bufs ...Buffer) error {
	return ownCheck(owner, what, true, bufs)
}

func ownCheck(owner, what string, views bool, bufs []Buffer) error {
	for _, b := range bufs {
		if b == nil {
			continue
		}
		h, ok := b.(*hostBuffer)
		if !ok || h.owner != owner {
			return fmt.Errorf("%s: buffer belongs to another backend", what)
		}
		if h.freed {
			return fmt.Errorf("%s: buffer used after Free", what)
		}
		if h.view && !views {
			return fmt.Errorf("%s: a read-only host view cannot be written", what)
		}
	}
	return nil
}

func hostUpload(owner string, dst Vec, src []byte) error {
	if err := own(owner, "upload", dst.Buf); err != nil {
		return err
	}
	if err := checkVec("upload", dst, dst.Buf.DType()); err != nil {
		return err
	}
	if len(src) != dst.N*dst.Buf.DType().Size() {
		return fmt.Errorf("upload: %d bytes for %d elements of %s", len(src), dst.N, dst.Buf.DType())
	}
	b, _ := HostBytes(dst)
	copy(b, src)
	return nil
}

func hostDownload(owner string, dst []byte, src Vec) error {
	if err := ownIn(owner, "download", src.Buf); err != nil {
		return err
	}
	if err := checkVec("download", src, src.Buf.DType()); err != nil {
		return err
	}
	if len(dst) != src.N*src.Buf.DType().Size() {
		return fmt.Errorf("download: %d bytes for %d elements of %s", len(dst), src.N, src.Buf.DType())
	}
	b, _ := HostBytes(src)
	copy(dst, b)
	return nil
}
