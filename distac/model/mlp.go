package model

import (
	"fmt"

	"github.com/distac/distac/ffi"
)

// mlpNet is distac's small test encoder: the flattened image through
// Linear, activation, ..., Linear (to embed_dim, no activation after it).
type mlpNet struct {
	cfg    *Config
	layout *Layout
	widths []int // in_features, hidden..., embed_dim
	quick  bool
}

func newMLP(c *Config) *mlpNet {
	w := append([]int{c.MLP.InFeatures}, c.MLP.Hidden...)
	return &mlpNet{cfg: c, layout: MLPLayout(c), widths: append(w, c.EmbedDim), quick: c.MLP.Activation == "quick_gelu"}
}

func (m *mlpNet) Config() *Config { return m.cfg }
func (m *mlpNet) Layout() *Layout { return m.layout }

type mlpWorkspace struct {
	workspace
	m *mlpNet
	// h[0] is the input; z[i] = h[i] W_i^T + b_i; h[i+1] = act(z[i]); the
	// features are z[last].
	h, z   []ffi.Mat
	dh, dz []ffi.Mat // backward scratch: dL/dh[i], dL/dz[i]
}

func (m *mlpNet) NewWorkspace(e Engine, batch int, train bool) (Workspace, error) {
	if batch < 1 {
		return nil, fmt.Errorf("mlp workspace: batch %d must be positive", batch)
	}
	w := &mlpWorkspace{workspace: workspace{e: e, cap: batch, train: train}, m: m}
	var n size
	for range 2 { // activations, then their gradients
		for i := range len(m.widths) - 1 {
			n.mat(batch, m.widths[i])
			n.mat(batch, m.widths[i+1])
		}
	}
	a, err := newArena(e, int(n))
	if err != nil {
		return nil, err
	}
	w.arena = a
	nl := len(m.widths) - 1
	w.h, w.z = make([]ffi.Mat, nl), make([]ffi.Mat, nl)
	w.dh, w.dz = make([]ffi.Mat, nl), make([]ffi.Mat, nl)
	// Activations h[i] and pre-activations z[i]; the backward reuses the
	// same shapes for dh and dz (each layer's are written before they are
	// read), so two sets of buffers cover both passes.
	for i := range nl {
		w.h[i] = a.mat(batch, m.widths[i])
		w.z[i] = a.mat(batch, m.widths[i+1])
	}
	for i := range nl {
		w.dh[i] = a.mat(batch, m.widths[i])
		w.dz[i] = a.mat(batch, m.widths[i+1])
	}
	return w, nil
}

func (w *mlpWorkspace) SetInput(images []float32, n int) error {
	if err := checkInput(w.m.cfg, images, n, w.cap); err != nil {
		return err
	}
	w.n = n
	return w.e.Upload(vecOf(w.h[0], len(images)), ffi.F32Bytes(images))
}

func fc(i int) string { return fmt.Sprintf("fc.%d.", i) }

func (w *mlpWorkspace) Forward(p *Params) (ffi.Mat, error) {
	if w.n == 0 {
		return ffi.Mat{}, fmt.Errorf("mlp forward: no input")
	}
	m, e, B := w.m, w.e, w.n
	last := len(w.z) - 1
	for i := range w.z {
		in, out := m.widths[i], m.widths[i+1]
		if err := linearForward(e, B, in, out, w.h[i], p.Mat(fc(i)+"weight"), p.Vec(fc(i)+"bias"), w.z[i]); err != nil {
			return ffi.Mat{}, fmt.Errorf("mlp forward: layer %d: %w", i, err)
		}
		if i < last {
			if err := e.GELUForward(vecOf(w.z[i], B*out), vecOf(w.h[i+1], B*out), m.quick); err != nil {
				return ffi.Mat{}, fmt.Errorf("mlp forward: layer %d: %w", i, err)
			}
		}
	}
	return w.z[last], nil
}

func (w *mlpWorkspace) Backward(p, g *Params, dfeat ffi.Mat) error {
	if !w.train {
		return fmt.Errorf("mlp backward: inference workspace")
	}
	if w.n == 0 {
		return fmt.Errorf("mlp backward: no forward")
	}
	m, e, B := w.m, w.e, w.n
	dz := dfeat
	for i := len(w.z) - 1; i >= 0; i-- {
		in, out := m.widths[i], m.widths[i+1]
		var dx ffi.Mat
		if i > 0 {
			dx = w.dh[i]
		}
		if err := linearBackward(e, B, in, out, dz, w.h[i], p.Mat(fc(i)+"weight"), g.Mat(fc(i)+"weight"),
			g.Vec(fc(i)+"bias"), dx); err != nil {
			return fmt.Errorf("mlp backward: layer %d: %w", i, err)
		}
		if i > 0 {
			if err := e.GELUBackward(vecOf(w.z[i-1], B*in), vecOf(w.dh[i], B*in), vecOf(w.dz[i-1], B*in), m.quick); err != nil {
				return fmt.Errorf("mlp backward: layer %d: %w", i, err)
			}
			dz = w.dz[i-1]
		}
	}
	return nil
}
