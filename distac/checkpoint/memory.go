package checkpoint

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// A host that holds a model in memory (a trainer) merges it without writing
// files: FromMemory reads its tensors where they are, and MemoryWriter
// writes the result into its buffers. Everything above this package reads
// them as it reads mapped files.

// MemTensor is a tensor whose bytes the caller holds: little-endian,
// row-major, in its dtype.
type MemTensor struct {
	Name  string
	DType DType
	Shape []uint64
	Data  []byte
}

// FromMemory is a checkpoint over tensors held in memory, in the order
// given; name stands where a file's path would in errors. The bytes are
// read in place, not copied: they must stay valid and unchanged while the
// checkpoint is in use. A tensor named twice, of a dtype other than F32,
// F16, BF16 or an integer type, or whose bytes do not fit its shape is an
// error wrapping ErrMalformed. The checkpoint has no Files (no metadata);
// Close and Changed have nothing to do, and Pages never releases its bytes.
func FromMemory(name string, tensors []MemTensor) (*Checkpoint, error) {
	c := &Checkpoint{Path: name, byName: map[string]*Tensor{}}
	for _, mt := range tensors {
		if mt.Name == "" {
			return nil, malformed(fmt.Errorf("%s: a tensor has no name", name))
		}
		if _, dup := c.byName[mt.Name]; dup {
			return nil, malformed(fmt.Errorf("%s: tensor %q is given twice", name, mt.Name))
		}
		if !IsComputeFloat(mt.DType) && !IsCarried(mt.DType) {
			return nil, malformed(fmt.Errorf("%s: tensor %q: dtype %d, want F32, F16, BF16 or an integer type", name, mt.Name, mt.DType))
		}
		numel, err := NumElements(mt.Shape)
		if err != nil {
			return nil, malformed(fmt.Errorf("%s: tensor %q: %w", name, mt.Name, err))
		}
		if want := numel * mt.DType.Size(); want != uint64(len(mt.Data)) {
			return nil, malformed(fmt.Errorf("%s: tensor %q: shape %v of %s needs %d bytes, the buffer holds %d",
				name, mt.Name, mt.Shape, mt.DType, want, len(mt.Data)))
		}
		// Each tensor is a file of its own that is never mapped: its bytes
		// are the caller's, which page release must not touch.
		f := &File{Path: name, data: mt.Data, inMemory: true}
		t := &Tensor{Name: mt.Name, DType: mt.DType, Shape: mt.Shape, Numel: int(numel), file: f}
		c.Tensors = append(c.Tensors, t)
		c.byName[mt.Name] = t
	}
	return c, nil
}

// MemoryWriter writes an output's tensors into buffers the caller holds,
// where Writer writes files: what a merge in memory writes through.
// Tensors may be written in any order and concurrently, in pieces.
type MemoryWriter struct {
	tensors  []OutTensor
	bufs     [][]byte
	written  []atomic.Int64
	finished bool
}

// NewMemoryWriter pairs every tensor with its buffer in bufs, by name. A
// buffer must be exactly the tensor's size in its dtype; a tensor without
// a buffer, or a buffer for no tensor, is an error.
func NewMemoryWriter(tensors []OutTensor, bufs map[string][]byte) (*MemoryWriter, error) {
	w := &MemoryWriter{tensors: tensors, bufs: make([][]byte, len(tensors)), written: make([]atomic.Int64, len(tensors))}
	seen := map[string]bool{}
	for i, t := range tensors {
		b, ok := bufs[t.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("output: no buffer for tensor %q", t.Name)
		case int64(len(b)) != t.size():
			return nil, fmt.Errorf("output: tensor %q of shape %v in %s needs %d bytes, its buffer holds %d", t.Name, t.Shape, t.DType, t.size(), len(b))
		}
		w.bufs[i], seen[t.Name] = b, true
	}
	for name := range bufs {
		if !seen[name] {
			return nil, fmt.Errorf("output: a buffer for tensor %q, which the output does not have", name)
		}
	}
	return w, nil
}

// WriteAt writes b at byte off of tensor ti's buffer. Safe for concurrent
// use on disjoint ranges.
func (w *MemoryWriter) WriteAt(ti int, off int64, b []byte) error {
	buf := w.bufs[ti]
	if off < 0 || off+int64(len(b)) > int64(len(buf)) {
		return fmt.Errorf("output: write of %d bytes at %d overruns tensor %q (%d bytes)", len(b), off, w.tensors[ti].Name, len(buf))
	}
	copy(buf[off:], b)
	w.written[ti].Add(int64(len(b)))
	return nil
}

// ReadAt reads back len(b) bytes at byte off of tensor ti's buffer.
func (w *MemoryWriter) ReadAt(ti int, off int64, b []byte) error {
	buf := w.bufs[ti]
	if off < 0 || off+int64(len(b)) > int64(len(buf)) {
		return fmt.Errorf("output: read of %d bytes at %d overruns tensor %q (%d bytes)", len(b), off, w.tensors[ti].Name, len(buf))
	}
	copy(b, buf[off:])
	return nil
}

// Commit checks that every tensor was written in full. The buffers are the
// output: there is nothing to move into place.
func (w *MemoryWriter) Commit() error {
	if w.finished {
		return errors.New("output: already finished")
	}
	w.finished = true
	for i, t := range w.tensors {
		if got, want := w.written[i].Load(), t.size(); got != want {
			return fmt.Errorf("output: tensor %q has %d of %d bytes written", t.Name, got, want)
		}
	}
	return nil
}

// Abort ends the output. The buffers keep what was written (the caller
// must not use them as a result).
func (w *MemoryWriter) Abort() { w.finished = true }

// Paths is nil: nothing is written to files.
func (w *MemoryWriter) Paths() []string { return nil }
