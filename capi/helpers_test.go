package main

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// model is a small model: F32 tensors by name, in order.
type model struct {
	names  []string
	shapes [][]uint64
	vals   [][]float32
}

// testModels are a base and n tasks of one layout: a matrix (SVD methods
// merge it whole), an embedding, a bias.
func testModels(seed uint64, n int) (base model, tasks []model) {
	rng := rand.New(rand.NewPCG(seed, 3))
	layout := []struct {
		name  string
		shape []uint64
	}{{"layer.weight", []uint64{6, 4}}, {"token_embedding", []uint64{5, 4}}, {"layer.bias", []uint64{6}}}
	for _, l := range layout {
		v := make([]float32, l.shape[0]*max(1, product(l.shape[1:])))
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		base.names, base.shapes, base.vals = append(base.names, l.name), append(base.shapes, l.shape), append(base.vals, v)
	}
	for t := range n {
		m := model{names: base.names, shapes: base.shapes}
		for _, bv := range base.vals {
			v := make([]float32, len(bv))
			for i := range v {
				v[i] = bv[i] + float32(0.1*float64(t+1)*rng.NormFloat64())
			}
			m.vals = append(m.vals, v)
		}
		tasks = append(tasks, m)
	}
	return base, tasks
}

func product(s []uint64) uint64 {
	p := uint64(1)
	for _, d := range s {
		p *= d
	}
	return p
}

// f32Bytes is v little-endian.
func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// write saves m as dir/name and returns the path.
func (m model) write(t *testing.T, dir, name string) string {
	t.Helper()
	views := map[string]safetensors.TensorView{}
	for i, n := range m.names {
		v, err := safetensors.NewTensorView(safetensors.F32, m.shapes[i], f32Bytes(m.vals[i]))
		if err != nil {
			t.Fatal(err)
		}
		views[n] = v
	}
	b, err := safetensors.Serialize(views, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
