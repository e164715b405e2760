package ffi

// Ref is the pure-Go reference backend: plain loops, float64 accumulation
// where the C ABI asks for it. It is the oracle other backends are compared
// with in tests beside the float64 references, and runs anywhere (without
// cgo too). Its buffers are Go memory.
type Ref struct{ *host }

// goHost owns the reference backend's buffers.
var goHost = &host{kind: "go"}

// NewRef returns the reference backend.
func NewRef() *Ref { return &Ref{goHost} }

func (*Ref) Name() string { return "ref" }

func (r *Ref) Alloc(dt DType, n int) (Buffer, error) {
	if err := checkAlloc(dt, n); err != nil {
		return nil, err
	}
	return r.newBuffer(make([]byte, n*dt.Size()), n, dt, false), nil
}

func (r *Ref) Free(b Buffer) {
	if h, ok := b.(*hostBuffer); ok && h.owner == r.host {
		h.freed, h.mem = true, nil
	}
}

var (
	_ Backend    = (*Ref)(nil)
	_ HostMemory = (*Ref)(nil)
	_ Trainer    = (*Ref)(nil)
)
