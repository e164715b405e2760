package ffi

import "fmt"

// checkVec validates a Vec of dtype dt (any float dtype if dt is 255).
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

// gemmShapes returns the stored shapes of A (m x k or k x m) and B.
func gemmShapes(transA, transB bool, m, n, k int) (ar, ac, br, bc int) {
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
func checkGemm(transA, transB bool, m, n, k, batch int, a Mat, sa int, b Mat, sb int, c Mat, sc int) error {
	if m < 0 || n < 0 || k < 0 || batch < 0 {
		return fmt.Errorf("sgemm: negative size m=%d n=%d k=%d batch=%d", m, n, k, batch)
	}
	if sa < 0 || sb < 0 || sc < 0 {
		return fmt.Errorf("sgemm: negative stride")
	}
	ar, ac, br, bc := gemmShapes(transA, transB, m, n, k)
	last := max(batch-1, 0)
	// The last batch entry is the furthest; checking it and the first bounds all.
	for _, q := range []int{0, last} {
		if err := checkMat("sgemm A", Mat{a.Buf, a.Off + q*sa, a.LD}, ar, ac); err != nil {
			return err
		}
		if err := checkMat("sgemm B", Mat{b.Buf, b.Off + q*sb, b.LD}, br, bc); err != nil {
			return err
		}
		if err := checkMat("sgemm C", Mat{c.Buf, c.Off + q*sc, c.LD}, m, n); err != nil {
			return err
		}
	}
	if batch > 1 && m > 0 && n > 0 && sc < (m-1)*c.LD+n {
		return fmt.Errorf("sgemm: C stride %d makes batch outputs overlap", sc)
	}
	return nil
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
