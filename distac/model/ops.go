package model

import (
	"fmt"

	"github.com/distac/distac/ffi"
)

// Engine is what the models run on: a backend with the training ops.
type Engine interface {
	ffi.Backend
	ffi.Trainer
}

// AsEngine returns be as an Engine, or an error naming the backend.
func AsEngine(be ffi.Backend) (Engine, error) {
	e, ok := be.(Engine)
	if !ok {
		return nil, fmt.Errorf("backend %s has no training ops", be.Name())
	}
	return e, nil
}

// arena hands out consecutive views of one F32 buffer, so a workspace is a
// single allocation (one cudaMalloc on a device backend).
type arena struct {
	buf ffi.Buffer
	off int
}

func newArena(be ffi.Backend, n int) (*arena, error) {
	buf, err := be.Alloc(ffi.F32, n)
	if err != nil {
		return nil, fmt.Errorf("workspace of %d floats: %w", n, err)
	}
	return &arena{buf: buf}, nil
}

// workspace is what every encoder's workspace holds: the engine, the arena
// its buffers are views of, the largest batch, the batch of the last input,
// and whether it keeps what a backward pass needs.
type workspace struct {
	e      Engine
	arena  *arena
	cap, n int
	train  bool
}

func (w *workspace) Cap() int { return w.cap }

func (w *workspace) Free() {
	if w.arena != nil {
		w.e.Free(w.arena.buf)
		w.arena = nil
	}
}

// take returns the next n elements, 16-float aligned.
func (a *arena) take(n int) ffi.Vec {
	v := ffi.Vec{Buf: a.buf, Off: a.off, N: n}
	a.off += (n + 15) &^ 15
	if a.off > a.buf.Len() {
		panic("model: workspace arena overflow") // sizes are computed by this package
	}
	return v
}

// mat takes rows x cols and views it as a dense matrix.
func (a *arena) mat(rows, cols int) ffi.Mat {
	v := a.take(rows * cols)
	return ffi.Mat{Buf: v.Buf, Off: v.Off, LD: cols}
}

// size counts what a sequence of takes needs, with the same alignment.
type size int

func (s *size) take(n int)           { *s += size((n + 15) &^ 15) }
func (s *size) mat(rows, cols int)   { s.take(rows * cols) }
func vecOf(m ffi.Mat, n int) ffi.Vec { return ffi.Vec{Buf: m.Buf, Off: m.Off, N: n} }

// strided views rows of m that are step rows apart: row r of the result is
// row r*step of m (the class-token rows of a token matrix, step = tokens).
func strided(m ffi.Mat, step int) ffi.Mat { return ffi.Mat{Buf: m.Buf, Off: m.Off, LD: m.LD * step} }

// first is the first n elements of v (a view's active part when the batch
// is smaller than the workspace; a none view stays none).
func first(v ffi.Vec, n int) ffi.Vec {
	if v.Buf == nil {
		return v
	}
	return ffi.Vec{Buf: v.Buf, Off: v.Off, N: n}
}

// linearForward computes y = x W^T + b for x (rows x in), W (out x in) and
// b (out), as torch.nn.Linear.
func linearForward(e Engine, rows, in, out int, x, w ffi.Mat, b ffi.Vec, y ffi.Mat) error {
	if err := e.Sgemm(false, true, rows, out, in, 1, x, w, 0, y); err != nil {
		return err
	}
	if b.Buf == nil {
		return nil
	}
	return e.BiasAdd(rows, out, y, b)
}

// linearBackward adds dW += dy^T x and db += sum_r dy (unless db is none),
// and writes dx = dy W unless dx has no buffer (the model's input).
func linearBackward(e Engine, rows, in, out int, dy, x, w, dw ffi.Mat, db ffi.Vec, dx ffi.Mat) error {
	if err := e.Sgemm(true, false, out, in, rows, 1, dy, x, 1, dw); err != nil {
		return err
	}
	if db.Buf != nil {
		if err := e.BiasGrad(rows, out, dy, db); err != nil {
			return err
		}
	}
	if dx.Buf == nil {
		return nil
	}
	return e.Sgemm(false, false, rows, in, out, 1, dy, w, 0, dx)
}
