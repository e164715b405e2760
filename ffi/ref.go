package ffi

import "fmt"

// Ref is the pure-Go reference backend: plain loops, float64 accumulation
// where the C ABI asks for it. It is the oracle other backends are compared
// with in tests beside the float64 references, and runs anywhere.
type Ref struct{}

// NewRef returns the reference backend.
func NewRef() *Ref { return &Ref{} }

func (*Ref) Name() string { return "ref" }

func (*Ref) Alloc(dt DType, n int) (Buffer, error) {
	if dt.Size() == 0 {
		return nil, fmt.Errorf("alloc: unknown dtype %s", dt)
	}
	if n < 0 {
		return nil, fmt.Errorf("alloc: negative length %d", n)
	}
	return &hostBuffer{mem: make([]byte, n*dt.Size()), n: n, dt: dt, owner: "go"}, nil
}

func (*Ref) Free(b Buffer) {
	if h, ok := b.(*hostBuffer); ok && h.owner == "go" {
		h.freed, h.mem = true, nil
	}
}

func (*Ref) Upload(dst Vec, src []byte) error   { return hostUpload("go", dst, src) }
func (*Ref) Download(dst []byte, src Vec) error { return hostDownload("go", dst, src) }
func (*Ref) Sync() error                        { return nil }
