package ffi

import "math"

// The reference attention, L2-normalize and zero ops: plain loops in
// float64, rounded once to fp32 on store, as the other reference training ops.

// attHead addresses one (batch item, head) pair's Q, K, V (and a D-wide
// matrix's) columns in the host slices of an attention op.
type attHead struct {
	seq, dh, d int
	qkv        []float32
	ldqkv      int
	row0, col0 int // first token row b*seq, first column h*dh
}

func (a attHead) q(i int) []float32 { return a.at(a.qkv, a.ldqkv, i, 0) }
func (a attHead) k(j int) []float32 { return a.at(a.qkv, a.ldqkv, j, a.d) }
func (a attHead) v(j int) []float32 { return a.at(a.qkv, a.ldqkv, j, 2*a.d) }

// at is the head's dh values of token i in columns off + h*dh.. of s (leading dimension ld).
func (a attHead) at(s []float32, ld, i, off int) []float32 {
	o := (a.row0+i)*ld + off + a.col0
	return s[o : o+a.dh]
}

// probs64 returns P[i][j] = softmax_j(scale * <Q_i, K_j>) in float64.
func (a attHead) probs64(scale float32) [][]float64 {
	p := make([][]float64, a.seq)
	for i := range p {
		p[i] = make([]float64, a.seq)
		m := math.Inf(-1)
		for j := range p[i] {
			var dot float64
			for c, qc := range a.q(i) {
				dot += float64(qc) * float64(a.k(j)[c])
			}
			p[i][j] = float64(scale) * dot
			m = math.Max(m, p[i][j])
		}
		var sum float64
		for j := range p[i] {
			p[i][j] = math.Exp(p[i][j] - m)
			sum += p[i][j]
		}
		for j := range p[i] {
			p[i][j] /= sum
		}
	}
	return p
}

func (r *Ref) AttentionForward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, out Mat) error {
	const op = "attention forward"
	if err := r.check(checkAttentionForward(batch, seq, heads, headDim, scale, qkv, probs, out)); err != nil {
		return err
	}
	rows, d := batch*seq, heads*headDim
	qs, os, ps := f32s(matVec(qkv, rows, 3*d)), f32s(matVec(out, rows, d)), optF32s(probs)
	for b := range batch {
		for h := range heads {
			a := attHead{seq, headDim, d, qs, qkv.LD, b * seq, h * headDim}
			p := a.probs64(scale)
			for i := range seq {
				o := a.at(os, out.LD, i, 0)
				for c := range o {
					var s float64
					for j := range seq {
						s += p[i][j] * float64(a.v(j)[c])
					}
					o[c] = float32(s)
				}
				if ps != nil {
					pr := ps[((b*heads+h)*seq+i)*seq:][:seq]
					for j := range pr {
						pr[j] = float32(p[i][j])
					}
				}
			}
		}
	}
	return nil
}

func (r *Ref) AttentionBackward(batch, seq, heads, headDim int, scale float32, qkv Mat, probs Vec, dout, dqkv Mat) error {
	const op = "attention backward"
	if err := r.check(checkAttentionBackward(batch, seq, heads, headDim, scale, qkv, probs, dout, dqkv)); err != nil {
		return err
	}
	rows, d := batch*seq, heads*headDim
	qs, ps := f32s(matVec(qkv, rows, 3*d)), f32s(probs)
	gs, dqs := f32s(matVec(dout, rows, d)), f32s(matVec(dqkv, rows, 3*d))
	ds := make([][]float64, seq)
	for i := range ds {
		ds[i] = make([]float64, seq)
	}
	sc := float64(scale)
	for b := range batch {
		for h := range heads {
			a := attHead{seq, headDim, d, qs, qkv.LD, b * seq, h * headDim}
			p := func(i, j int) float64 { return float64(ps[((b*heads+h)*seq+i)*seq+j]) }
			for i := range seq {
				var t float64
				for j := range seq {
					var dp float64
					for c, g := range a.at(gs, dout.LD, i, 0) {
						dp += float64(g) * float64(a.v(j)[c])
					}
					ds[i][j] = dp
					t += dp * p(i, j)
				}
				for j := range seq {
					ds[i][j] = p(i, j) * (ds[i][j] - t)
				}
			}
			for i := range seq {
				dq, dk, dv := a.at(dqs, dqkv.LD, i, 0), a.at(dqs, dqkv.LD, i, d), a.at(dqs, dqkv.LD, i, 2*d)
				for c := range headDim {
					var sq, sk, sv float64
					for j := range seq {
						sq += ds[i][j] * float64(a.k(j)[c])
						sk += ds[j][i] * float64(a.q(j)[c])
						sv += p(j, i) * float64(a.at(gs, dout.LD, j, 0)[c])
					}
					dq[c], dk[c], dv[c] = float32(sc*sq), float32(sc*sk), float32(sv)
				}
			}
		}
	}
	return nil
}

func (r *Ref) L2NormForward(rows, cols int, x Mat, eps float32, y Mat, norm Vec) error {
	if err := r.check(checkL2NormForward(rows, cols, x, eps, y, norm)); err != nil {
		return err
	}
	xr, yr, ns := rowsOf(x, rows, cols), rowsOf(y, rows, cols), optF32s(norm)
	for r := range rows {
		xs, ys := xr(r), yr(r)
		var ss float64
		for _, v := range xs {
			ss += float64(v) * float64(v)
		}
		n := math.Sqrt(ss)
		d := n
		if n <= float64(eps) {
			d = float64(eps)
		}
		for c, v := range xs {
			ys[c] = float32(float64(v) / d)
		}
		if ns != nil {
			ns[r] = float32(n)
		}
	}
	return nil
}

func (r *Ref) L2NormBackward(rows, cols int, dy, y Mat, norm Vec, eps float32, dx Mat) error {
	if err := r.check(checkL2NormBackward(rows, cols, dy, y, norm, eps, dx)); err != nil {
		return err
	}
	dyr, yr, dxr, ns := rowsOf(dy, rows, cols), rowsOf(y, rows, cols), rowsOf(dx, rows, cols), f32s(norm)
	for r := range rows {
		dys, ys, dxs := dyr(r), yr(r), dxr(r)
		n := float64(ns[r])
		if n <= float64(eps) { // clamped: y = x / eps is linear in x
			for c, g := range dys {
				dxs[c] = float32(float64(g) / float64(eps))
			}
			continue
		}
		var dot float64 // NaN norms land here and stay NaN
		for c, g := range dys {
			dot += float64(g) * float64(ys[c])
		}
		for c, g := range dys {
			dxs[c] = float32((float64(g) - float64(ys[c])*dot) / n)
		}
	}
	return nil
}
