package model

import (
	"fmt"

	"github.com/distac/distac/ffi"
)

// ParamSpec is one parameter tensor: its open_clip name (without a key
// prefix), its shape, and where it lives in the flat parameter vector.
type ParamSpec struct {
	Name  string
	Shape []int
	Off   int // element offset in the flat vector
	N     int // number of elements
}

// Layout is the ordered list of an encoder's parameters packed into one flat
// F32 vector, so Adam, the anchor, norms and task vectors are single calls
// over the whole model.
type Layout struct {
	Specs  []ParamSpec
	N      int
	byName map[string]int
}

func (l *Layout) add(name string, shape ...int) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if l.byName == nil {
		l.byName = map[string]int{}
	}
	l.byName[name] = len(l.Specs)
	l.Specs = append(l.Specs, ParamSpec{Name: name, Shape: shape, Off: l.N, N: n})
	// Offsets stay multiples of 16 floats (64 bytes) so every tensor starts
	// on a cache line; the padding is zero and never read by an op.
	l.N += (n + 15) &^ 15
}

// Spec returns the parameter called name.
func (l *Layout) Spec(name string) (ParamSpec, bool) {
	i, ok := l.byName[name]
	if !ok {
		return ParamSpec{}, false
	}
	return l.Specs[i], true
}

// Params is one set of encoder parameters (or gradients, or optimiser
// moments) in a backend buffer laid out as Layout.
type Params struct {
	Layout *Layout
	Buf    ffi.Buffer
}

// NewParams allocates a zeroed parameter vector for layout on be.
func NewParams(be ffi.Backend, layout *Layout) (*Params, error) {
	buf, err := be.Alloc(ffi.F32, layout.N)
	if err != nil {
		return nil, fmt.Errorf("alloc %d parameters: %w", layout.N, err)
	}
	return &Params{Layout: layout, Buf: buf}, nil
}

// All is the whole flat vector (padding included: it is zero in parameters,
// gradients and moments alike, so sums and norms over it are exact).
func (p *Params) All() ffi.Vec { return ffi.All(p.Buf) }

// Vec is the parameter called name; it panics on an unknown name, which is a
// programming error inside this package.
func (p *Params) Vec(name string) ffi.Vec {
	s, ok := p.Layout.Spec(name)
	if !ok {
		panic("model: no parameter " + name)
	}
	return ffi.Vec{Buf: p.Buf, Off: s.Off, N: s.N}
}

// Mat is the parameter called name as a row-major matrix whose rows are the
// first dimension and whose columns are the product of the rest.
func (p *Params) Mat(name string) ffi.Mat {
	s, ok := p.Layout.Spec(name)
	if !ok {
		panic("model: no parameter " + name)
	}
	cols := 1
	for _, d := range s.Shape[1:] {
		cols *= d
	}
	return ffi.Mat{Buf: p.Buf, Off: s.Off, LD: max(cols, 1)}
}

// Free releases the buffer.
func (p *Params) Free(be ffi.Backend) {
	if p != nil && p.Buf != nil {
		be.Free(p.Buf)
		p.Buf = nil
	}
}

// Copy returns a new parameter vector on be holding p's values.
func (p *Params) Copy(be ffi.Backend) (*Params, error) {
	q, err := NewParams(be, p.Layout)
	if err != nil {
		return nil, err
	}
	if err := be.Convert(q.All(), p.All()); err != nil {
		q.Free(be)
		return nil, fmt.Errorf("copy parameters: %w", err)
	}
	return q, nil
}

// block is the key prefix of residual block i.
func block(i int) string { return fmt.Sprintf("transformer.resblocks.%d.", i) }

// VisionLayout lists a ViT's parameters with open_clip's names and shapes.
func VisionLayout(c *Config) *Layout {
	v := c.Vision
	w, g := v.Width, v.ImageSize/v.PatchSize
	hid := int(v.MLPRatio * float64(w))
	l := &Layout{}
	l.add("conv1.weight", w, v.InChannels, v.PatchSize, v.PatchSize)
	l.add("class_embedding", w)
	l.add("positional_embedding", g*g+1, w)
	l.add("ln_pre.weight", w)
	l.add("ln_pre.bias", w)
	for i := range v.Layers {
		b := block(i)
		l.add(b+"ln_1.weight", w)
		l.add(b+"ln_1.bias", w)
		l.add(b+"attn.in_proj_weight", 3*w, w)
		l.add(b+"attn.in_proj_bias", 3*w)
		l.add(b+"attn.out_proj.weight", w, w)
		l.add(b+"attn.out_proj.bias", w)
		l.add(b+"ln_2.weight", w)
		l.add(b+"ln_2.bias", w)
		l.add(b+"mlp.c_fc.weight", hid, w)
		l.add(b+"mlp.c_fc.bias", hid)
		l.add(b+"mlp.c_proj.weight", w, hid)
		l.add(b+"mlp.c_proj.bias", w)
	}
	l.add("ln_post.weight", w)
	l.add("ln_post.bias", w)
	if !v.NoProj {
		l.add("proj", w, c.EmbedDim)
	}
	return l
}

// MLPLayout lists an MLP's parameters: fc.{i}.weight (out, in) and fc.{i}.bias.
func MLPLayout(c *Config) *Layout {
	m := c.MLP
	l := &Layout{}
	in := m.InFeatures
	for i, out := range append(append([]int(nil), m.Hidden...), c.EmbedDim) {
		l.add(fmt.Sprintf("fc.%d.weight", i), out, in)
		l.add(fmt.Sprintf("fc.%d.bias", i), out)
		in = out
	}
	return l
}

// LayoutOf returns the parameter layout of c's encoder.
func LayoutOf(c *Config) *Layout {
	if c.Vision != nil {
		return VisionLayout(c)
	}
	return MLPLayout(c)
}

// FlatLayout is a layout of one unpadded tensor of n elements (a trainable
// head, say), so a buffer of exactly n elements can be wrapped as Params.
func FlatLayout(name string, n int) *Layout {
	return &Layout{Specs: []ParamSpec{{Name: name, Shape: []int{n}, N: n}}, N: n, byName: map[string]int{name: 0}}
}
