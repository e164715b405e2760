package model

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/distac/distac/ffi"
)

// Init returns freshly initialised parameters for layout, seeded:
// LayerNorm weights 1 and biases 0; other biases 0; the class and positional
// embeddings and proj ~ N(0, width^-1/2) as open_clip; every other matrix
// (conv1 as a matrix, attention and MLP weights) Xavier-uniform,
// U(±sqrt(6/(fan_in+fan_out))), which is what torch gives in_proj_weight.
func Init(be ffi.Backend, layout *Layout, seed uint64) (*Params, error) {
	rng := rand.New(rand.NewPCG(seed, 0x6469737461630a))
	host := make([]float32, layout.N)
	for _, s := range layout.Specs {
		v := host[s.Off : s.Off+s.N]
		switch {
		case strings.Contains(s.Name, "ln_") && strings.HasSuffix(s.Name, "weight"):
			for i := range v {
				v[i] = 1
			}
		case strings.HasSuffix(s.Name, "bias"):
		case strings.HasSuffix(s.Name, "embedding") || s.Name == "proj":
			std := 1 / math.Sqrt(float64(s.Shape[len(s.Shape)-1]))
			if s.Name == "proj" {
				std = 1 / math.Sqrt(float64(s.Shape[0]))
			}
			for i := range v {
				v[i] = float32(rng.NormFloat64() * std)
			}
		default:
			out, in := s.Shape[0], s.N/s.Shape[0]
			b := math.Sqrt(6 / float64(in+out))
			for i := range v {
				v[i] = float32((2*rng.Float64() - 1) * b)
			}
		}
	}
	p, err := NewParams(be, layout)
	if err != nil {
		return nil, err
	}
	if err := be.Upload(p.All(), ffi.F32Bytes(host)); err != nil {
		p.Free(be)
		return nil, err
	}
	return p, nil
}
