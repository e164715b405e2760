package checkpoint

import (
	"errors"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// TestFromMemory: tensors held in memory read in place, in the order given,
// and bad ones are malformed inputs naming the checkpoint and the tensor.
func TestFromMemory(t *testing.T) {
	w := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	b := []byte{9, 10}
	c, err := FromMemory("mem", []MemTensor{
		{Name: "w", DType: safetensors.F32, Shape: []uint64{2}, Data: w},
		{Name: "b", DType: safetensors.BF16, Shape: []uint64{1}, Data: b},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tensors) != 2 || c.Tensors[0].Name != "w" || c.Tensors[1].Name != "b" {
		t.Fatalf("tensors out of order: %v", c.Tensors)
	}
	tw, _ := c.Tensor("w")
	w[5] = 42 // in place, not a copy
	if err := tw.View(1, 2, func(got []byte) error {
		if string(got) != string([]byte{5, 42, 7, 8}) {
			t.Errorf("View(1, 2) = %v", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if tw.Path() != "mem" || c.Changed() != nil || c.Close() != nil {
		t.Error("a memory checkpoint is named as given, never changes and closes without error")
	}
	// Page release skips memory: a pass over it leaves the bytes alone.
	p := NewPages()
	p.Expect(tw, 0, 2)
	p.Consumed(tw, 0, 2)
	p.Finish()
	if w[0] != 1 || w[5] != 42 {
		t.Error("page release touched the caller's bytes")
	}

	for _, bad := range []struct {
		ts   []MemTensor
		want string
	}{
		{[]MemTensor{{Name: "x", DType: safetensors.F32, Shape: []uint64{3}, Data: w}}, `tensor "x": shape [3] of F32 needs 12 bytes, the buffer holds 8`},
		{[]MemTensor{{Name: "x", DType: safetensors.F32, Shape: []uint64{2}, Data: w}, {Name: "x", DType: safetensors.F32, Shape: []uint64{2}, Data: w}}, `tensor "x" is given twice`},
		{[]MemTensor{{Name: "x", DType: safetensors.F64, Shape: []uint64{1}, Data: w}}, `tensor "x": dtype`},
		{[]MemTensor{{DType: safetensors.F32, Shape: []uint64{2}, Data: w}}, "no name"},
	} {
		_, err := FromMemory("mem", bad.ts)
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.HasPrefix(err.Error(), "mem: ") || !errors.Is(err, ErrMalformed) {
			t.Errorf("%v: err %v, want ErrMalformed saying %q", bad.ts, err, bad.want)
		}
	}
}

// TestMemoryWriter: every tensor needs a buffer of its size, writes land in
// it, and Commit refuses an output not written in full.
func TestMemoryWriter(t *testing.T) {
	outs := []OutTensor{{Name: "a", DType: safetensors.F32, Shape: []uint64{2}}, {Name: "b", DType: safetensors.BF16, Shape: []uint64{3}}}
	a, b := make([]byte, 8), make([]byte, 6)
	for _, bad := range []map[string][]byte{
		{"a": a},
		{"a": a, "b": make([]byte, 5)},
		{"a": a, "b": b, "c": b},
	} {
		if _, err := NewMemoryWriter(outs, bad); err == nil {
			t.Errorf("buffers %v accepted", bad)
		}
	}
	w, err := NewMemoryWriter(outs, map[string][]byte{"a": a, "b": b})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAt(0, 4, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAt(1, 4, []byte{1, 2, 3}); err == nil {
		t.Error("a write past the end of a buffer succeeded")
	}
	got := make([]byte, 2)
	if err := w.ReadAt(0, 5, got); err != nil || got[0] != 2 || got[1] != 3 || a[7] != 4 {
		t.Errorf("read back %v (%v), buffer %v", got, err, a)
	}
	if err := w.Commit(); err == nil || !strings.Contains(err.Error(), `tensor "a" has 4 of 8 bytes written`) {
		t.Errorf("Commit of a partial output: %v", err)
	}
	w, _ = NewMemoryWriter(outs, map[string][]byte{"a": a, "b": b})
	w.WriteAt(0, 0, make([]byte, 8))
	w.WriteAt(1, 0, make([]byte, 6))
	if err := w.Commit(); err != nil || w.Paths() != nil {
		t.Errorf("Commit: %v, paths %v", err, w.Paths())
	}
}
