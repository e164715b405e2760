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
	owner *host
	freed bool
	view  bool // read-only memory of the caller's (HostView): inputs only, never freed
}

func (h *hostBuffer) Len() int          { return h.n }
func (h *hostBuffer) DType() DType      { return h.dt }
func (h *hostBuffer) HostBytes() []byte { return h.mem }
func (h *hostBuffer) ReadOnly() bool    { return h.view }

// host is what the host backends share: the identity their buffers carry
// (a Ref's buffers are not a CPU backend's, and the other way round), the
// ownership check, and the memory ops that are plain copies.
type host struct {
	kind string // "go" (Go memory) or "c" (C memory)
}

// check passes a's error through, then checks that every buffer a writes is
// a live, writable buffer of h and every buffer it reads a live one (a
// read-only HostView included). A nil buffer is an absent optional view.
func (h *host) check(a access, err error) error {
	if err := a.owned(err, func(b Buffer) (mine, freed bool) {
		hb, ok := b.(*hostBuffer)
		return ok && hb.owner == h, ok && hb.freed
	}); err != nil {
		return err
	}
	for _, b := range a.writes {
		if hb, ok := b.(*hostBuffer); ok && hb.view {
			return fmt.Errorf("%s: a read-only host view cannot be written", a.op)
		}
	}
	return nil
}

// newBuffer wraps mem (n elements of dt) as a buffer of h.
func (h *host) newBuffer(mem []byte, n int, dt DType, view bool) *hostBuffer {
	return &hostBuffer{mem: mem, n: n, dt: dt, owner: h, view: view}
}

// checkAlloc validates Alloc's arguments.
func checkAlloc(dt DType, n int) error {
	if dt.Size() == 0 {
		return fmt.Errorf("alloc: unknown dtype %s", dt)
	}
	if n < 0 {
		return fmt.Errorf("alloc: negative length %d", n)
	}
	return nil
}

func (h *host) HostView(dt DType, b []byte) (Vec, bool) {
	size := dt.Size()
	if size == 0 || len(b)%size != 0 || (len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%uintptr(size) != 0) {
		return Vec{}, false
	}
	n := len(b) / size
	return Vec{Buf: h.newBuffer(b, n, dt, true), N: n}, true
}

func (h *host) Upload(dst Vec, src []byte) error {
	if err := h.check(checkCopy("upload", dst, len(src), true)); err != nil {
		return err
	}
	b, _ := HostBytes(dst)
	copy(b, src)
	return nil
}

func (h *host) Download(dst []byte, src Vec) error {
	if err := h.check(checkCopy("download", src, len(dst), false)); err != nil {
		return err
	}
	b, _ := HostBytes(src)
	copy(dst, b)
	return nil
}

// Zero clears host memory with Go's memclr: there is nothing to compute.
func (h *host) Zero(v Vec) error {
	if err := h.check(checkZero(v)); err != nil {
		return err
	}
	b, _ := HostBytes(v)
	clear(b)
	return nil
}

// Sync is a no-op: host ops finish within their call.
func (h *host) Sync() error { return nil }

// ChunkElems is 64K elements: 256 KiB of f32 per input, so that a chunk of
// the base, every task and the outputs share the L2 of a core.
func (h *host) ChunkElems() int { return 1 << 16 }

// DareDrop applies the mask on the host (see dare.go).
func (h *host) DareDrop(x Vec, key, first uint64, p float64) error {
	if err := h.check(checkDareDrop(x, p)); err != nil {
		return err
	}
	dareDrop(f32s(x), key, first, p)
	return nil
}

// f32s views a host F32 Vec as []float32.
func f32s(v Vec) []float32 { return hostSlice[float32](v) }

// u16s views a host F16/BF16 Vec as []uint16.
func u16s(v Vec) []uint16 { return hostSlice[uint16](v) }

// i32s views a host I32 Vec as []int32.
func i32s(v Vec) []int32 { return hostSlice[int32](v) }

// u64s views a host U64 Vec as []uint64.
func u64s(v Vec) []uint64 { return hostSlice[uint64](v) }

// f64s views a host F64 Vec as []float64.
func f64s(v Vec) []float64 { return hostSlice[float64](v) }

// hostSlice views a host Vec as a slice of its element type E (nil if empty).
func hostSlice[E any](v Vec) []E {
	b, _ := HostBytes(v)
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*E)(unsafe.Pointer(&b[0])), v.N)
}

// matVec is the Vec that spans a rows x cols Mat (empty if rows or cols is 0).
func matVec(m Mat, rows, cols int) Vec {
	if rows == 0 || cols == 0 {
		return Vec{Buf: m.Buf, Off: m.Off}
	}
	return Vec{Buf: m.Buf, Off: m.Off, N: (rows-1)*m.LD + cols}
}
