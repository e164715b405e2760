package ffi

import "fmt"

// The shape rules of every op live in the check* functions of check*.go,
// shared by every backend. Each returns the access its op makes (which
// buffers it writes and which it only reads) for the backend's own ownership
// check, so a backend method starts with
//
//	if err := be.check(checkSub(dst, ft, base)); err != nil { return err }
//
// and reaches its kernel only with views that are in bounds, of the right
// dtypes, and its own.

// access is what an op touches: the buffers it writes (or reads and
// writes) and those it only reads. nil entries are absent optional views.
type access struct {
	op     string
	writes []Buffer
	reads  []Buffer
}

// owned passes err (the shape check's) through, then asks of every buffer a
// names whether it is the backend's own and whether it was freed; a nil
// buffer is an absent optional view. Each backend knows its buffers; the
// rule and its messages are one.
func (a access) owned(err error, of func(Buffer) (mine, freed bool)) error {
	if err != nil {
		return err
	}
	for _, bs := range [][]Buffer{a.writes, a.reads} {
		for _, b := range bs {
			if b == nil {
				continue
			}
			mine, freed := of(b)
			if !mine {
				return fmt.Errorf("%s: buffer belongs to another backend", a.op)
			}
			if freed {
				return fmt.Errorf("%s: buffer used after Free", a.op)
			}
		}
	}
	return nil
}

// bufs collects the buffers of views.
func bufs(vs ...Vec) []Buffer {
	out := make([]Buffer, len(vs))
	for i, v := range vs {
		out[i] = v.Buf
	}
	return out
}

// mats collects the buffers of matrix views.
func mats(ms ...Mat) []Buffer {
	out := make([]Buffer, len(ms))
	for i, m := range ms {
		out[i] = m.Buf
	}
	return out
}

// checkVec validates a Vec of dtype dt (any float dtype if dt is anyFloat).
func checkVec(what string, v Vec, dt DType) error {
	if v.Buf == nil {
		return fmt.Errorf("%s: nil buffer", what)
	}
	if dt != anyFloat && v.Buf.DType() != dt {
		return fmt.Errorf("%s: dtype %s, want %s", what, v.Buf.DType(), dt)
	}
	if dt == anyFloat && !v.Buf.DType().IsFloat() {
		return fmt.Errorf("%s: dtype %s, want a float type", what, v.Buf.DType())
	}
	if v.Off < 0 || v.N < 0 || v.Off+v.N > v.Buf.Len() {
		return fmt.Errorf("%s: view [%d:%d] outside buffer of %d", what, v.Off, v.Off+v.N, v.Buf.Len())
	}
	return nil
}

// anyFloat tells checkVec to accept F32, F16 or BF16.
const anyFloat DType = 255

// checkSameLen checks that every vec has n elements.
func checkSameLen(what string, n int, vs ...Vec) error {
	for _, v := range vs {
		if v.N != n {
			return fmt.Errorf("%s: length %d, want %d", what, v.N, n)
		}
	}
	return nil
}

// checkF32Len validates an F32 Vec of exactly n elements.
func checkF32Len(what string, v Vec, n int) error {
	if err := checkVec(what, v, F32); err != nil {
		return err
	}
	return checkSameLen(what, n, v)
}

// checkOptF32Len is checkF32Len for an optional Vec (nil Buf: none).
func checkOptF32Len(what string, v Vec, n int) error {
	if v.Buf == nil {
		return nil
	}
	return checkF32Len(what, v, n)
}

// checkMat validates an F32 rows x cols view.
func checkMat(what string, m Mat, rows, cols int) error {
	if m.Buf == nil {
		return fmt.Errorf("%s: nil buffer", what)
	}
	if m.Buf.DType() != F32 {
		return fmt.Errorf("%s: dtype %s, want f32", what, m.Buf.DType())
	}
	if rows < 0 || cols < 0 {
		return fmt.Errorf("%s: negative shape %dx%d", what, rows, cols)
	}
	if m.LD < max(1, cols) {
		return fmt.Errorf("%s: leading dimension %d < %d columns", what, m.LD, cols)
	}
	if m.Off < 0 {
		return fmt.Errorf("%s: negative offset %d", what, m.Off)
	}
	if rows > 0 && cols > 0 && m.Off+(rows-1)*m.LD+cols > m.Buf.Len() {
		return fmt.Errorf("%s: %dx%d (ld %d) at offset %d overruns buffer of %d", what, rows, cols, m.LD, m.Off, m.Buf.Len())
	}
	return nil
}

// checkCopy validates the device side of an Upload (write) or Download of
// n bytes.
func checkCopy(op string, v Vec, n int, write bool) (access, error) {
	if err := checkVec(op, v, v.dtypeOr(F32)); err != nil {
		return access{}, err
	}
	if n != v.N*v.Buf.DType().Size() {
		return access{}, fmt.Errorf("%s: %d bytes for %d elements of %s", op, n, v.N, v.Buf.DType())
	}
	if write {
		return access{op: op, writes: bufs(v)}, nil
	}
	return access{op: op, reads: bufs(v)}, nil
}

// checkZero validates a Vec of any dtype.
func checkZero(v Vec) (access, error) {
	if err := checkVec("zero", v, v.dtypeOr(F32)); err != nil {
		return access{}, err
	}
	return access{op: "zero", writes: bufs(v)}, nil
}

// dtypeOr is v's dtype, or dt when v has no buffer (checkVec then says so).
func (v Vec) dtypeOr(dt DType) DType {
	if v.Buf == nil {
		return dt
	}
	return v.Buf.DType()
}

// GemmShapes returns the stored shapes of Sgemm's A (m x k, or k x m
// when transposed) and B (k x n, or n x k).
func GemmShapes(transA, transB bool, m, n, k int) (ar, ac, br, bc int) {
	ar, ac = m, k
	if transA {
		ar, ac = k, m
	}
	br, bc = k, n
	if transB {
		br, bc = n, k
	}
	return
}

// checkGemm validates a (possibly batched) GEMM's operands.
func checkGemm(transA, transB bool, m, n, k, batch int, a Mat, sa int, b Mat, sb int, c Mat, sc int) (access, error) {
	if m < 0 || n < 0 || k < 0 || batch < 0 {
		return access{}, fmt.Errorf("sgemm: negative size m=%d n=%d k=%d batch=%d", m, n, k, batch)
	}
	if sa < 0 || sb < 0 || sc < 0 {
		return access{}, fmt.Errorf("sgemm: negative stride")
	}
	ar, ac, br, bc := GemmShapes(transA, transB, m, n, k)
	last := max(batch-1, 0)
	// The last batch entry is the furthest; checking it and the first bounds all.
	for _, q := range []int{0, last} {
		if err := checkMat("sgemm A", Mat{a.Buf, a.Off + q*sa, a.LD}, ar, ac); err != nil {
			return access{}, err
		}
		if err := checkMat("sgemm B", Mat{b.Buf, b.Off + q*sb, b.LD}, br, bc); err != nil {
			return access{}, err
		}
		if err := checkMat("sgemm C", Mat{c.Buf, c.Off + q*sc, c.LD}, m, n); err != nil {
			return access{}, err
		}
	}
	if batch > 1 && m > 0 && n > 0 && sc < (m-1)*c.LD+n {
		return access{}, fmt.Errorf("sgemm: C stride %d makes batch outputs overlap", sc)
	}
	return access{op: "sgemm", writes: mats(c), reads: mats(a, b)}, nil
}

// checkVecs validates a list of task vectors of equal length n.
func checkVecs(what string, xs []Vec, n int) error {
	if len(xs) == 0 {
		return fmt.Errorf("%s: no inputs", what)
	}
	for i, x := range xs {
		if err := checkVec(fmt.Sprintf("%s input %d", what, i), x, F32); err != nil {
			return err
		}
		if x.N != n {
			return fmt.Errorf("%s input %d: length %d, want %d", what, i, x.N, n)
		}
	}
	return nil
}
