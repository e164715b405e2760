package train

import (
	"fmt"
	"math"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
)

// Features returns the encoder's features (n x embed_dim, not normalised)
// of every image of s.
func Features(e model.Engine, enc model.Encoder, p *model.Params, s *data.Set, batch int) ([]float32, error) {
	n, dim := s.Len(), enc.Config().EmbedDim
	if n == 0 {
		return nil, nil
	}
	ws, err := enc.NewWorkspace(e, max(1, min(batch, n)), false)
	if err != nil {
		return nil, err
	}
	defer ws.Free()
	per := s.ImageSize()
	out := make([]float32, n*dim)
	for lo := 0; lo < n; lo += ws.Cap() {
		hi := min(n, lo+ws.Cap())
		if err := ws.SetInput(s.Images[lo*per:hi*per], hi-lo); err != nil {
			return nil, err
		}
		f, err := ws.Forward(p)
		if err != nil {
			return nil, err
		}
		if err := e.Download(ffi.F32Bytes(out[lo*dim:hi*dim]), ffi.Vec{Buf: f.Buf, Off: f.Off, N: (hi - lo) * dim}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PrototypeHead builds a zero-shot-style head without a text tower, in the
// role CLIP's class-name embeddings play: row c is scale * normalize(mean
// over class-c images of normalize(features)), from the given labelled
// examples.
func PrototypeHead(e model.Engine, enc model.Encoder, p *model.Params, s *data.Set, classes int, scale float64, batch int) ([]float32, error) {
	if s.Labels == nil {
		return nil, fmt.Errorf("prototype head: %s has no labels", s.Name)
	}
	feats, err := Features(e, enc, p, s, batch)
	if err != nil {
		return nil, fmt.Errorf("prototype head: %w", err)
	}
	dim := enc.Config().EmbedDim
	sum := make([]float64, classes*dim)
	count := make([]int, classes)
	for i, y := range s.Labels {
		if int(y) < 0 || int(y) >= classes {
			return nil, fmt.Errorf("prototype head: label %d outside [0, %d)", y, classes)
		}
		f := feats[i*dim : (i+1)*dim]
		inv := 1 / math.Max(norm32(f), 1e-12)
		for k, v := range f {
			sum[int(y)*dim+k] += float64(v) * inv
		}
		count[y]++
	}
	w := make([]float32, classes*dim)
	for c := range classes {
		if count[c] == 0 {
			return nil, fmt.Errorf("prototype head: class %d has no examples in %s", c, s.Name)
		}
		row := sum[c*dim : (c+1)*dim]
		var n float64
		for _, v := range row {
			n += v * v
		}
		n = math.Sqrt(n)
		for k, v := range row {
			w[c*dim+k] = float32(scale * v / math.Max(n, 1e-12))
		}
	}
	return w, nil
}

func norm32(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
