package model

import (
	"fmt"
	"math"
	"strings"

	"github.com/distac/distac/distac/checkpoint"
	"github.com/distac/distac/ffi"
	"github.com/nlpodyssey/safetensors"
)

// Head is a frozen zero-shot-style classifier on an encoder's features:
// logits = normalize(features) @ W^T, with W (classes x embed_dim) already
// scaled (CLIP's text embeddings times 100; distac's class prototypes times
// a chosen scale).
type Head struct {
	Classes, Dim int
	Names        []string // optional class names
	W            ffi.Buffer
}

// HeadTensor is the name of the weight in a head file.
const HeadTensor = "head"

// NewHead uploads w (classes x dim, row-major) to be.
func NewHead(be ffi.Backend, w []float32, classes, dim int) (*Head, error) {
	if classes < 1 || dim < 1 || len(w) != classes*dim {
		return nil, fmt.Errorf("head: %d values for %d classes x %d", len(w), classes, dim)
	}
	buf, err := ffi.NewF32(be, w)
	if err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	return &Head{Classes: classes, Dim: dim, W: buf}, nil
}

// Mat is W as a matrix.
func (h *Head) Mat() ffi.Mat { return ffi.Mat{Buf: h.W, LD: h.Dim} }

// Free releases the weight.
func (h *Head) Free(be ffi.Backend) {
	if h != nil && h.W != nil {
		be.Free(h.W)
		h.W = nil
	}
}

// LoadHead reads a head file: one tensor "head" (classes x dim, F32/F16/BF16)
// and, optionally, class names in the metadata ("distac.classes", comma separated).
func LoadHead(be ffi.Backend, path string) (*Head, error) {
	ck, err := checkpoint.Open(path)
	if err != nil {
		return nil, fmt.Errorf("head %s: %w", path, err)
	}
	defer ck.Close()
	t, ok := ck.Tensor(HeadTensor)
	if !ok {
		return nil, fmt.Errorf("head %s: no tensor %q", path, HeadTensor)
	}
	if len(t.Shape) != 2 || t.Shape[0] == 0 || t.Shape[1] == 0 {
		return nil, fmt.Errorf("head %s: tensor %q has shape %v, want (classes, embed_dim)", path, HeadTensor, t.Shape)
	}
	classes, dim := int(t.Shape[0]), int(t.Shape[1])
	if !checkpoint.IsComputeFloat(t.DType) {
		return nil, fmt.Errorf("head %s: dtype %s, want F32, F16 or BF16", path, t.DType)
	}
	var w []float32
	if err := t.View(0, classes*dim, func(raw []byte) (err error) {
		w, err = checkpoint.DecodeFloats(t.DType, raw)
		return err
	}); err != nil {
		return nil, fmt.Errorf("head %s: %w", path, err)
	}
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("head %s: non-finite value at class %d", path, i/dim)
		}
	}
	h, err := NewHead(be, w, classes, dim)
	if err != nil {
		return nil, fmt.Errorf("head %s: %w", path, err)
	}
	if s := ck.Files[0].Metadata[headNamesKey]; s != "" {
		h.Names = strings.Split(s, ",")
	}
	return h, nil
}

const headNamesKey = "distac.classes"

// SaveHead writes w (classes x dim) as a head file, atomically; it never
// replaces one of inputs.
func SaveHead(path string, w []float32, classes, dim int, names []string, force bool, inputs []string) error {
	if len(w) != classes*dim {
		return fmt.Errorf("save head %s: %d values for %d x %d", path, len(w), classes, dim)
	}
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("save head %s: the value of class %d, feature %d is %v (a model of non-finite weights, or a scale too large?)", path, i/dim, i%dim, v)
		}
	}
	meta := map[string]string{}
	if len(names) > 0 {
		meta[headNamesKey] = strings.Join(names, ",")
	}
	out, err := checkpoint.Create(path, []checkpoint.OutTensor{{Name: HeadTensor, DType: safetensors.F32,
		Shape: []uint64{uint64(classes), uint64(dim)}}}, meta, 0, force, inputs)
	if err != nil {
		return fmt.Errorf("save head %s: %w", path, err)
	}
	if err := out.WriteAt(0, 0, ffi.F32Bytes(w)); err != nil {
		out.Abort()
		return fmt.Errorf("save head %s: %w", path, err)
	}
	return out.Commit()
}

// normEps is torch.nn.functional.normalize's default eps.
const normEps = 1e-12

// Net is an encoder workspace with a head on top: images in, logits out.
type Net struct {
	Enc  Encoder
	WS   Workspace
	Head *Head
	e    Engine
	a    *arena
	// fhat = normalize(features); logits = fhat @ W^T
	fhat, logits, dfhat, dfeat ffi.Mat
	norms                      ffi.Vec
	n                          int
}

// NewNet allocates a workspace for up to batch images of enc with head on top.
func NewNet(e Engine, enc Encoder, head *Head, batch int, train bool) (*Net, error) {
	if head.Dim != enc.Config().EmbedDim {
		return nil, fmt.Errorf("head has %d features, the encoder makes %d", head.Dim, enc.Config().EmbedDim)
	}
	ws, err := enc.NewWorkspace(e, batch, train)
	if err != nil {
		return nil, err
	}
	var s size
	s.mat(batch, head.Dim)
	s.mat(batch, head.Classes)
	s.mat(batch, head.Dim)
	s.mat(batch, head.Dim)
	s.take(batch)
	a, err := newArena(e, int(s))
	if err != nil {
		ws.Free()
		return nil, err
	}
	n := &Net{Enc: enc, WS: ws, Head: head, e: e, a: a}
	n.fhat, n.logits, n.dfhat, n.dfeat = a.mat(batch, head.Dim), a.mat(batch, head.Classes), a.mat(batch, head.Dim), a.mat(batch, head.Dim)
	n.norms = a.take(batch)
	return n, nil
}

// Free releases the workspace (not the head).
func (n *Net) Free() {
	n.WS.Free()
	if n.a != nil {
		n.e.Free(n.a.buf)
		n.a = nil
	}
}

// Cap is the largest batch.
func (n *Net) Cap() int { return n.WS.Cap() }

// Forward returns the logits (count x classes) of count images.
func (n *Net) Forward(p *Params, images []float32, count int) (ffi.Mat, error) {
	if err := n.WS.SetInput(images, count); err != nil {
		return ffi.Mat{}, err
	}
	feat, err := n.WS.Forward(p)
	if err != nil {
		return ffi.Mat{}, err
	}
	n.n = count
	h := n.Head
	if err := n.e.L2NormForward(count, h.Dim, feat, normEps, n.fhat, first(n.norms, count)); err != nil {
		return ffi.Mat{}, fmt.Errorf("head: %w", err)
	}
	if err := n.e.Sgemm(false, true, count, h.Classes, h.Dim, 1, n.fhat, h.Mat(), 0, n.logits); err != nil {
		return ffi.Mat{}, fmt.Errorf("head: %w", err)
	}
	return n.logits, nil
}

// Backward adds the gradient of the loss to grads given dlogits (count x
// classes). When dHead has a buffer the head's own gradient dlogits^T fhat
// is added to it too (a trainable head, as in pre-training).
func (n *Net) Backward(p, grads *Params, dlogits ffi.Mat, dHead ffi.Mat) error {
	h, B := n.Head, n.n
	if dHead.Buf != nil {
		if err := n.e.Sgemm(true, false, h.Classes, h.Dim, B, 1, dlogits, n.fhat, 1, dHead); err != nil {
			return fmt.Errorf("head backward: %w", err)
		}
	}
	if err := n.e.Sgemm(false, false, B, h.Dim, h.Classes, 1, dlogits, h.Mat(), 0, n.dfhat); err != nil {
		return fmt.Errorf("head backward: %w", err)
	}
	if err := n.e.L2NormBackward(B, h.Dim, n.dfhat, n.fhat, first(n.norms, B), normEps, n.dfeat); err != nil {
		return fmt.Errorf("head backward: %w", err)
	}
	return n.WS.Backward(p, grads, n.dfeat)
}
