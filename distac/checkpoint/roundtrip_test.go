package checkpoint

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nlpodyssey/safetensors"

	"github.com/distac/distac/internal/half"
)

// What Create writes, Open reads back: tensors in file order with their
// names, dtypes, shapes and bytes, and the metadata, in one file and sharded.
func TestRoundTrip(t *testing.T) {
	type tensor struct {
		Name  string
		DType string
		Shape []uint64
		Data  []byte
	}
	want := []tensor{
		{"w", "F32", []uint64{2, 3}, make([]byte, 24)},
		{"b", "BF16", []uint64{3}, []byte{1, 2, 3, 4, 5, 6}},
		{"scalar", "F16", []uint64{}, []byte{0, 0x3c}},
		{"steps", "I64", []uint64{1}, []byte{7, 0, 0, 0, 0, 0, 0, 0}},
		{"empty", "F32", []uint64{0, 4}, []byte{}},
	}
	for i := range want[0].Data {
		want[0].Data[i] = byte(i)
	}
	meta := map[string]string{"format": "pt", ModelConfigKey: `{"embed_dim": 3}`}
	for _, shard := range []int64{0, 16} {
		out := filepath.Join(t.TempDir(), "m.safetensors")
		var outs []OutTensor
		for _, w := range want {
			dt, err := safetensors.ParseDType(w.DType)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, OutTensor{Name: w.Name, DType: dt, Shape: w.Shape})
		}
		wr, err := Create(out, outs, meta, shard, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if err := wr.WriteAt(i, 0, w.Data); err != nil {
				t.Fatal(err)
			}
		}
		if err := wr.Commit(); err != nil {
			t.Fatal(err)
		}
		path := out
		if shard > 0 {
			path = wr.Paths()[len(wr.Paths())-1] // the index
		}
		c, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var got []tensor
		for _, tn := range c.Tensors {
			got = append(got, tensor{tn.Name, tn.DType.String(), tn.Shape, append([]byte{}, tn.Bytes(0, tn.Numel)...)})
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("shard size %d: tensors (-written +read):\n%s", shard, d)
		}
		for _, f := range c.Files {
			if d := cmp.Diff(meta, f.Metadata); d != "" {
				t.Errorf("shard size %d: %s metadata (-written +read):\n%s", shard, f.Path, d)
			}
		}
		if shard > 0 && len(c.Files) < 2 {
			t.Errorf("shard size %d: %d files", shard, len(c.Files))
		}
		c.Close()
	}
}

func TestDecodeFloats(t *testing.T) {
	want := []float32{1, -2.5, 0.1, float32(math.Inf(1))}
	f32 := make([]byte, 16)
	f16, bf16 := make([]byte, 8), make([]byte, 8)
	for i, x := range want {
		binary.LittleEndian.PutUint32(f32[4*i:], math.Float32bits(x))
		binary.LittleEndian.PutUint16(f16[2*i:], half.F32ToF16(x))
		binary.LittleEndian.PutUint16(bf16[2*i:], half.F32ToBF16(x))
	}
	for _, c := range []struct {
		dt  DType
		raw []byte
	}{{safetensors.F32, f32}, {safetensors.F16, f16}, {safetensors.BF16, bf16}} {
		got, err := DecodeFloats(c.dt, c.raw)
		if err != nil {
			t.Fatal(err)
		}
		exp := make([]float32, len(want))
		for i, x := range want {
			switch c.dt {
			case safetensors.F16:
				exp[i] = half.F16ToF32(half.F32ToF16(x))
			case safetensors.BF16:
				exp[i] = half.BF16ToF32(half.F32ToBF16(x))
			default:
				exp[i] = x
			}
		}
		if d := cmp.Diff(exp, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", c.dt, d)
		}
	}
	if _, err := DecodeFloats(safetensors.I32, make([]byte, 4)); err == nil {
		t.Error("I32 decoded as floats")
	}
	if _, err := DecodeFloats(safetensors.F32, make([]byte, 5)); err == nil {
		t.Error("5 bytes decoded as f32")
	}
}
