package ffi

import (
	"math"
)

// KLDistill computes, per row r with a = zt/Tt, b = zs/Ts in float64,
//
//	KL_r = sum_j p_j (log p_j - log q_j),  p = softmax(a), q = softmax(b)
//	loss = Tt*Ts/rows * sum_r KL_r,  grad = Tt/rows * (q - p)
func (r *Ref) KLDistill(rows, cols int, zt, zs Mat, tTcr, tStu float32, grad Mat) (float64, error) {
	if err := r.check(checkKL(rows, cols, zt, zs, tTcr, tStu, grad)); err != nil {
		return 0, err
	}
	t, s := f32s(matVec(zt, rows, cols)), f32s(matVec(zs, rows, cols))
	var g []float32
	if grad.Buf != nil {
		g = f32s(matVec(grad, rows, cols))
	}
	tt, ts := float64(tTcr), float64(tStu)
	lp, lq := make([]float64, cols), make([]float64, cols)
	var sum float64
	for r := 0; r < rows; r++ {
		lossLogSoftmax(lp, t[r*zt.LD:r*zt.LD+cols], tt)
		lossLogSoftmax(lq, s[r*zs.LD:r*zs.LD+cols], ts)
		var kl float64
		for j := range lp {
			kl += math.Exp(lp[j]) * (lp[j] - lq[j])
		}
		sum += kl
		if g != nil {
			gr := g[r*grad.LD : r*grad.LD+cols]
			for j := range gr {
				gr[j] = float32(tt / float64(rows) * (math.Exp(lq[j]) - math.Exp(lp[j])))
			}
		}
	}
	return tt * ts / float64(rows) * sum, nil
}

// lossLogSoftmax writes dst = z/t - logsumexp(z/t) in float64; a NaN or Inf in
// z makes every entry NaN, so the loss of that row is NaN.
func lossLogSoftmax(dst []float64, z []float32, t float64) {
	m := math.Inf(-1)
	finite := true
	for j, v := range z {
		dst[j] = float64(v) / t
		m = math.Max(m, dst[j])
		finite = finite && !math.IsNaN(dst[j]) && !math.IsInf(dst[j], 0)
	}
	var s float64
	for _, a := range dst {
		s += math.Exp(a - m)
	}
	lse := m + math.Log(s)
	if !finite {
		lse = math.NaN()
	}
	for j := range dst {
		dst[j] -= lse
	}
}

// CrossEntropyLS computes, per row r with y = (1-eps) onehot(labels[r]) + eps/cols
// and s = softmax(z_r) in float64,
//
//	loss = 1/rows * sum_r -sum_j y_j log s_j,  grad = (s - y) / rows
func (r *Ref) CrossEntropyLS(rows, cols int, z Mat, labels Vec, eps float32, grad Mat) (float64, error) {
	if err := r.check(checkXent(rows, cols, z, labels, eps, grad)); err != nil {
		return 0, err
	}
	x, ls := f32s(matVec(z, rows, cols)), i32s(labels)
	var g []float32
	if grad.Buf != nil {
		g = f32s(matVec(grad, rows, cols))
	}
	e := float64(eps)
	lsm := make([]float64, cols)
	var sum float64
	for r := 0; r < rows; r++ {
		lossLogSoftmax(lsm, x[r*z.LD:r*z.LD+cols], 1)
		l := int(ls[r])
		for j, v := range lsm {
			y := e / float64(cols)
			if j == l {
				y += 1 - e
			}
			sum -= y * v
			if g != nil {
				g[r*grad.LD+j] = float32((math.Exp(v) - y) / float64(rows))
			}
		}
	}
	return sum / float64(rows), nil
}
