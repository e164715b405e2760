package ffi

import (
	"fmt"
	"math"
)

// The shape rules of the Trainer ops, shared by every backend; they mirror
// the C kernels' own checks so that an error never reaches C.

// checkRowOp validates the shape of a per-row op: rows >= 0, cols >= 1
// (a row statistic needs at least one value), every matrix rows x cols.
func checkRowOp(op string, rows, cols int, names []string, ms ...Mat) error {
	if rows < 0 || cols < 1 {
		return fmt.Errorf("%s: shape %dx%d, want rows >= 0 and cols >= 1", op, rows, cols)
	}
	for i, m := range ms {
		if err := checkMat(op+" "+names[i], m, rows, cols); err != nil {
			return err
		}
	}
	return nil
}

func shapeLayerNormForward(rows, cols int, x Mat, gamma, beta Vec, eps float32, y Mat, mean, rstd Vec) error {
	const op = "layernorm forward"
	if err := checkRowOp(op, rows, cols, []string{"x", "y"}, x, y); err != nil {
		return err
	}
	if !(eps >= 0) {
		return fmt.Errorf("%s: eps %g, want >= 0", op, eps)
	}
	for _, c := range []struct {
		what string
		v    Vec
		n    int
		opt  bool
	}{{"gamma", gamma, cols, false}, {"beta", beta, cols, false}, {"mean", mean, rows, true}, {"rstd", rstd, rows, true}} {
		check := checkF32Len
		if c.opt {
			check = checkOptF32Len
		}
		if err := check(op+" "+c.what, c.v, c.n); err != nil {
			return err
		}
	}
	return nil
}

func shapeLayerNormBackward(rows, cols int, dy, x Mat, mean, rstd, gamma Vec, dx Mat, dgamma, dbeta Vec) error {
	const op = "layernorm backward"
	if err := checkRowOp(op, rows, cols, []string{"dy", "x", "dx"}, dy, x, dx); err != nil {
		return err
	}
	if err := checkF32Len(op+" mean", mean, rows); err != nil {
		return err
	}
	if err := checkF32Len(op+" rstd", rstd, rows); err != nil {
		return err
	}
	if err := checkF32Len(op+" gamma", gamma, cols); err != nil {
		return err
	}
	if err := checkOptF32Len(op+" dgamma", dgamma, cols); err != nil {
		return err
	}
	return checkOptF32Len(op+" dbeta", dbeta, cols)
}

// checkGELU validates x and out (and dy unless it is nil) as F32 Vecs of one length.
func checkGELU(op string, x, out Vec, dy *Vec) error {
	if err := checkVec(op+" x", x, F32); err != nil {
		return err
	}
	if err := checkF32Len(op+" output", out, x.N); err != nil {
		return err
	}
	if dy != nil {
		return checkF32Len(op+" dy", *dy, x.N)
	}
	return nil
}

// checkBias validates a rows x cols matrix and a bias of length cols (cols may be 0).
func checkBias(op string, rows, cols int, m Mat, b Vec) error {
	if rows < 0 || cols < 0 {
		return fmt.Errorf("%s: negative shape %dx%d", op, rows, cols)
	}
	if err := checkMat(op+" matrix", m, rows, cols); err != nil {
		return err
	}
	return checkF32Len(op+" bias", b, cols)
}

func finite32(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

// checkAnchor validates the anchor strength and, when it is on, theta and thetaInit.
func checkAnchor(op string, anchor float32, n int, theta, thetaInit Vec) error {
	if !(anchor >= 0) || !finite32(anchor) {
		return fmt.Errorf("%s: anchor beta %g, want finite and >= 0", op, anchor)
	}
	if anchor == 0 {
		return nil
	}
	if err := checkF32Len(op+" theta", theta, n); err != nil {
		return err
	}
	if thetaInit.Buf == nil {
		return fmt.Errorf("%s: anchor beta %g needs thetaInit", op, anchor)
	}
	return checkF32Len(op+" thetaInit", thetaInit, n)
}

func shapeAdam(theta, grad, m, v, thetaInit Vec, p AdamParams) error {
	const op = "adam"
	if err := checkVec(op+" theta", theta, F32); err != nil {
		return err
	}
	n := theta.N
	for _, c := range []struct {
		what string
		v    Vec
	}{{"grad", grad}, {"m", m}, {"v", v}} {
		if err := checkF32Len(op+" "+c.what, c.v, n); err != nil {
			return err
		}
	}
	switch {
	case p.Step < 1:
		return fmt.Errorf("%s: step %d, want >= 1", op, p.Step)
	case !(p.Beta1 >= 0 && p.Beta1 < 1), !(p.Beta2 >= 0 && p.Beta2 < 1):
		return fmt.Errorf("%s: betas (%g, %g), want each in [0, 1)", op, p.Beta1, p.Beta2)
	case !(p.Eps >= 0):
		return fmt.Errorf("%s: eps %g, want >= 0", op, p.Eps)
	case !finite32(p.LR), !finite32(p.ClipScale):
		return fmt.Errorf("%s: lr %g and clip scale %g must be finite", op, p.LR, p.ClipScale)
	}
	return checkAnchor(op, p.Anchor, n, theta, thetaInit)
}

func shapeAnchoredSumSq(grad, theta, thetaInit Vec, anchor float32) error {
	const op = "anchored sumsq"
	if err := checkVec(op+" grad", grad, F32); err != nil {
		return err
	}
	return checkAnchor(op, anchor, grad.N, theta, thetaInit)
}

// mulFits reports whether a*b (a, b >= 0) fits in an int.
func mulFits(a, b int) bool { return a == 0 || b <= math.MaxInt/a }

// span is the element range [lo, hi) a view covers in its buffer.
type span struct {
	buf    Buffer
	lo, hi int
}

func matSpan(m Mat, rows, cols int) span {
	v := matVec(m, rows, cols)
	return span{m.Buf, v.Off, v.Off + v.N}
}

func vecSpan(v Vec) span { return span{v.Buf, v.Off, v.Off + v.N} }

// checkNoOverlap fails if out shares elements with any of ins (an input
// read after out is written would be corrupted). Spans are first to last
// element, so interleaved strided views count as overlapping.
func checkNoOverlap(op, outName string, out span, inNames []string, ins ...span) error {
	for i, in := range ins {
		if in.buf != nil && in.buf == out.buf && in.lo < out.hi && out.lo < in.hi && in.lo < in.hi && out.lo < out.hi {
			return fmt.Errorf("%s: %s overlaps %s", op, outName, inNames[i])
		}
	}
	return nil
}

// checkAttentionShape validates the sizes and scale of an attention op and
// qkv ((batch*seq) x 3D), and returns the row count batch*seq and D.
func checkAttentionShape(op string, batch, seq, heads, headDim int, scale float32, qkv Mat) (rows, d int, err error) {
	if batch < 0 || seq < 1 || heads < 1 || headDim < 1 {
		return 0, 0, fmt.Errorf("%s: batch %d, seq %d, heads %d, head dim %d: want batch >= 0 and the others >= 1",
			op, batch, seq, heads, headDim)
	}
	if !mulFits(heads, headDim) || !mulFits(3, heads*headDim) || !mulFits(batch, seq) ||
		!mulFits(batch, heads) || !mulFits(seq, seq) || !mulFits(batch*heads, seq*seq) {
		return 0, 0, fmt.Errorf("%s: shape %dx%dx%dx%d overflows", op, batch, seq, heads, headDim)
	}
	if !finite32(scale) {
		return 0, 0, fmt.Errorf("%s: scale %g, want finite", op, scale)
	}
	rows, d = batch*seq, heads*headDim
	return rows, d, checkMat(op+" qkv", qkv, rows, 3*d)
}

func shapeAttentionForward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, out Mat) error {
	const op = "attention forward"
	rows, d, err := checkAttentionShape(op, batch, seq, heads, headDim, scale, qkv)
	if err != nil {
		return err
	}
	if err := checkOptF32Len(op+" probs", probs, batch*heads*seq*seq); err != nil {
		return err
	}
	if err := checkMat(op+" out", out, rows, d); err != nil {
		return err
	}
	return checkNoOverlap(op, "out", matSpan(out, rows, d), []string{"qkv", "probs"},
		matSpan(qkv, rows, 3*d), vecSpan(probs))
}

func shapeAttentionBackward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, dout, dqkv Mat) error {
	const op = "attention backward"
	rows, d, err := checkAttentionShape(op, batch, seq, heads, headDim, scale, qkv)
	if err != nil {
		return err
	}
	if err := checkF32Len(op+" probs", probs, batch*heads*seq*seq); err != nil {
		return err
	}
	if err := checkMat(op+" dout", dout, rows, d); err != nil {
		return err
	}
	if err := checkMat(op+" dqkv", dqkv, rows, 3*d); err != nil {
		return err
	}
	return checkNoOverlap(op, "dqkv", matSpan(dqkv, rows, 3*d), []string{"qkv", "probs", "dout"},
		matSpan(qkv, rows, 3*d), vecSpan(probs), matSpan(dout, rows, d))
}

// checkL2NormEps validates eps: finite and > 0 (the clamp of a zero row).
func checkL2NormEps(op string, eps float32) error {
	if !(eps > 0) || !finite32(eps) {
		return fmt.Errorf("%s: eps %g, want finite and > 0", op, eps)
	}
	return nil
}

func shapeL2NormForward(rows, cols int, x Mat, eps float32, y Mat, norm Vec) error {
	const op = "l2norm forward"
	if err := checkRowOp(op, rows, cols, []string{"x", "y"}, x, y); err != nil {
		return err
	}
	if err := checkL2NormEps(op, eps); err != nil {
		return err
	}
	return checkOptF32Len(op+" norm", norm, rows)
}

func shapeL2NormBackward(rows, cols int, dy, y Mat, norm Vec, eps float32, dx Mat) error {
	const op = "l2norm backward"
	if err := checkRowOp(op, rows, cols, []string{"dy", "y", "dx"}, dy, y, dx); err != nil {
		return err
	}
	if err := checkL2NormEps(op, eps); err != nil {
		return err
	}
	return checkF32Len(op+" norm", norm, rows)
}

// The accesses of the training ops, after their shape checks.

func checkLayerNormForward(rows, cols int, x Mat, gamma, beta Vec, eps float32, y Mat, mean, rstd Vec) (access, error) {
	return access{op: "layernorm forward", writes: append(mats(y), mean.Buf, rstd.Buf), reads: append(mats(x), gamma.Buf, beta.Buf)},
		shapeLayerNormForward(rows, cols, x, gamma, beta, eps, y, mean, rstd)
}

func checkLayerNormBackward(rows, cols int, dy, x Mat, mean, rstd, gamma Vec, dx Mat, dgamma, dbeta Vec) (access, error) {
	return access{op: "layernorm backward", writes: append(mats(dx), dgamma.Buf, dbeta.Buf),
			reads: append(mats(dy, x), mean.Buf, rstd.Buf, gamma.Buf)},
		shapeLayerNormBackward(rows, cols, dy, x, mean, rstd, gamma, dx, dgamma, dbeta)
}

func checkGELUForward(x, y Vec) (access, error) {
	const op = "gelu forward"
	return access{op: op, writes: bufs(y), reads: bufs(x)}, checkGELU(op, x, y, nil)
}

func checkGELUBackward(x, dy, dx Vec) (access, error) {
	const op = "gelu backward"
	return access{op: op, writes: bufs(dx), reads: bufs(x, dy)}, checkGELU(op, x, dx, &dy)
}

func checkSoftmaxForward(rows, cols int, x, y Mat) (access, error) {
	const op = "softmax forward"
	return access{op: op, writes: mats(y), reads: mats(x)}, checkRowOp(op, rows, cols, []string{"x", "y"}, x, y)
}

func checkSoftmaxBackward(rows, cols int, y, dy, dx Mat) (access, error) {
	const op = "softmax backward"
	return access{op: op, writes: mats(dx), reads: mats(y, dy)},
		checkRowOp(op, rows, cols, []string{"y", "dy", "dx"}, y, dy, dx)
}

func checkBiasAdd(rows, cols int, y Mat, b Vec) (access, error) {
	const op = "bias add"
	return access{op: op, writes: mats(y), reads: bufs(b)}, checkBias(op, rows, cols, y, b)
}

func checkBiasGrad(rows, cols int, dy Mat, db Vec) (access, error) {
	const op = "bias grad"
	return access{op: op, writes: bufs(db), reads: mats(dy)}, checkBias(op, rows, cols, dy, db)
}

func checkAdam(theta, grad, m, v, thetaInit Vec, p AdamParams) (access, error) {
	return access{op: "adam", writes: bufs(theta, m, v), reads: bufs(grad, thetaInit)},
		shapeAdam(theta, grad, m, v, thetaInit, p)
}

func checkAnchoredSumSq(grad, theta, thetaInit Vec, anchor float32) (access, error) {
	return access{op: "anchored sumsq", reads: bufs(grad, theta, thetaInit)},
		shapeAnchoredSumSq(grad, theta, thetaInit, anchor)
}

func checkAttentionForward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, out Mat) (access, error) {
	return access{op: "attention forward", writes: append(mats(out), probs.Buf), reads: mats(qkv)},
		shapeAttentionForward(batch, seq, heads, headDim, scale, qkv, probs, out)
}

func checkAttentionBackward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, dout, dqkv Mat) (access, error) {
	return access{op: "attention backward", writes: mats(dqkv), reads: append(mats(qkv, dout), probs.Buf)},
		shapeAttentionBackward(batch, seq, heads, headDim, scale, qkv, probs, dout, dqkv)
}

func checkL2NormForward(rows, cols int, x Mat, eps float32, y Mat, norm Vec) (access, error) {
	return access{op: "l2norm forward", writes: append(mats(y), norm.Buf), reads: mats(x)},
		shapeL2NormForward(rows, cols, x, eps, y, norm)
}

func checkL2NormBackward(rows, cols int, dy, y Mat, norm Vec, eps float32, dx Mat) (access, error) {
	return access{op: "l2norm backward", writes: mats(dx), reads: append(mats(dy, y), norm.Buf)},
		shapeL2NormBackward(rows, cols, dy, y, norm, eps, dx)
}
