package ffi

import "math"

// The reference training ops: plain loops in float64, rounded once to fp32
// on store. Accumulators (dgamma, dbeta, db) add a float64 sum over rows.

// rowsOf returns row r of a host F32 matrix view as a slice of cols.
func rowsOf(m Mat, rows, cols int) func(r int) []float32 {
	s := f32s(matVec(m, rows, cols))
	return func(r int) []float32 { return s[r*m.LD : r*m.LD+cols] }
}

// optF32s is f32s for an optional Vec (nil Buf: nil).
func optF32s(v Vec) []float32 {
	if v.Buf == nil {
		return nil
	}
	return f32s(v)
}

func (r *Ref) LayerNormForward(rows, cols int, x Mat, gamma, beta Vec, eps float32, y Mat, mean, rstd Vec) error {
	if err := r.check(checkLayerNormForward(rows, cols, x, gamma, beta, eps, y, mean, rstd)); err != nil {
		return err
	}
	xr, yr := rowsOf(x, rows, cols), rowsOf(y, rows, cols)
	g, b, mo, ro := f32s(gamma), f32s(beta), optF32s(mean), optF32s(rstd)
	for r := range rows {
		xs := xr(r)
		mu, rs := refLayerNormStats(xs, eps)
		ys := yr(r)
		for c := range ys {
			ys[c] = float32((float64(xs[c])-mu)*rs*float64(g[c]) + float64(b[c]))
		}
		if mo != nil {
			mo[r] = float32(mu)
		}
		if ro != nil {
			ro[r] = float32(rs)
		}
	}
	return nil
}

// refLayerNormStats is the two-pass mean and 1/sqrt(biased var + eps) of x.
func refLayerNormStats(x []float32, eps float32) (mean, rstd float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (float64(v) - mean) * (float64(v) - mean)
	}
	return mean, 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
}

func (r *Ref) LayerNormBackward(rows, cols int, dy, x Mat, mean, rstd, gamma Vec, dx Mat, accumulate bool, dgamma, dbeta Vec) error {
	if err := r.check(checkLayerNormBackward(rows, cols, dy, x, mean, rstd, gamma, dx, dgamma, dbeta)); err != nil {
		return err
	}
	dyr, xr, dxr := rowsOf(dy, rows, cols), rowsOf(x, rows, cols), rowsOf(dx, rows, cols)
	mu, rs, g := f32s(mean), f32s(rstd), f32s(gamma)
	sumG, sumB := make([]float64, cols), make([]float64, cols)
	xhat := make([]float64, cols)
	for r := range rows {
		dys, xs, dxs := dyr(r), xr(r), dxr(r)
		m, s := float64(mu[r]), float64(rs[r])
		var sg, sgx float64
		for c := range xs {
			xhat[c] = (float64(xs[c]) - m) * s
			gc := float64(dys[c]) * float64(g[c])
			sg += gc
			sgx += gc * xhat[c]
			sumG[c] += float64(dys[c]) * xhat[c]
			sumB[c] += float64(dys[c])
		}
		a, b := sg/float64(cols), sgx/float64(cols)
		for c := range dxs {
			d := s * (float64(dys[c])*float64(g[c]) - a - xhat[c]*b)
			if accumulate {
				d += float64(dxs[c])
			}
			dxs[c] = float32(d)
		}
	}
	refAccumulate(optF32s(dgamma), sumG)
	refAccumulate(optF32s(dbeta), sumB)
	return nil
}

// refAccumulate does dst[c] += sum[c] (dst nil: nothing).
func refAccumulate(dst []float32, sum []float64) {
	for c := range dst {
		dst[c] = float32(float64(dst[c]) + sum[c])
	}
}

// refGELU returns f(x) and f'(x) of the erf GELU or QuickGELU.
func refGELU(x float64, quick bool) (f, df float64) {
	if quick {
		const a = 1.702
		s := 1 / (1 + math.Exp(-a*x))
		return x * s, s + a*x*s*(1-s)
	}
	phi := 0.5 * math.Erfc(-x/math.Sqrt2)
	return x * phi, phi + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
}

func (r *Ref) GELUForward(x, y Vec, quick bool) error {
	if err := r.check(checkGELUForward(x, y)); err != nil {
		return err
	}
	xs, ys := f32s(x), f32s(y)
	for i := range ys {
		f, _ := refGELU(float64(xs[i]), quick)
		ys[i] = float32(f)
	}
	return nil
}

func (r *Ref) GELUBackward(x, dy, dx Vec, quick bool) error {
	if err := r.check(checkGELUBackward(x, dy, dx)); err != nil {
		return err
	}
	xs, dys, dxs := f32s(x), f32s(dy), f32s(dx)
	for i := range dxs {
		_, df := refGELU(float64(xs[i]), quick)
		dxs[i] = float32(float64(dys[i]) * df)
	}
	return nil
}

func (r *Ref) SoftmaxForward(rows, cols int, x, y Mat) error {
	if err := r.check(checkSoftmaxForward(rows, cols, x, y)); err != nil {
		return err
	}
	xr, yr := rowsOf(x, rows, cols), rowsOf(y, rows, cols)
	e := make([]float64, cols)
	for r := range rows {
		xs, ys := xr(r), yr(r)
		m := math.Inf(-1)
		for _, v := range xs {
			m = math.Max(m, float64(v))
		}
		var sum float64
		for c, v := range xs {
			e[c] = math.Exp(float64(v) - m)
			sum += e[c]
		}
		for c := range ys {
			ys[c] = float32(e[c] / sum)
		}
	}
	return nil
}

func (r *Ref) SoftmaxBackward(rows, cols int, y, dy, dx Mat) error {
	if err := r.check(checkSoftmaxBackward(rows, cols, y, dy, dx)); err != nil {
		return err
	}
	yr, dyr, dxr := rowsOf(y, rows, cols), rowsOf(dy, rows, cols), rowsOf(dx, rows, cols)
	for r := range rows {
		ys, dys, dxs := yr(r), dyr(r), dxr(r)
		var dot float64
		for c := range ys {
			dot += float64(dys[c]) * float64(ys[c])
		}
		for c := range dxs {
			dxs[c] = float32(float64(ys[c]) * (float64(dys[c]) - dot))
		}
	}
	return nil
}

func (r *Ref) BiasAdd(rows, cols int, y Mat, b Vec) error {
	if err := r.check(checkBiasAdd(rows, cols, y, b)); err != nil {
		return err
	}
	if cols == 0 {
		return nil
	}
	yr, bs := rowsOf(y, rows, cols), f32s(b)
	for r := range rows {
		ys := yr(r)
		for c := range ys {
			ys[c] += bs[c]
		}
	}
	return nil
}

func (r *Ref) BiasGrad(rows, cols int, dy Mat, db Vec) error {
	if err := r.check(checkBiasGrad(rows, cols, dy, db)); err != nil {
		return err
	}
	if cols == 0 {
		return nil
	}
	dyr, sum := rowsOf(dy, rows, cols), make([]float64, cols)
	for r := range rows {
		for c, v := range dyr(r) {
			sum[c] += float64(v)
		}
	}
	refAccumulate(f32s(db), sum)
	return nil
}

func (r *Ref) AdamStep(theta, grad, m, v, thetaInit Vec, p AdamParams) error {
	if err := r.check(checkAdam(theta, grad, m, v, thetaInit, p)); err != nil {
		return err
	}
	th, gs, ms, vs := f32s(theta), f32s(grad), f32s(m), f32s(v)
	var init []float32
	if p.Anchor != 0 {
		init = f32s(thetaInit)
	}
	b1, b2 := float64(p.Beta1), float64(p.Beta2)
	bc1 := 1 - math.Pow(b1, float64(p.Step))
	bc2 := 1 - math.Pow(b2, float64(p.Step))
	for i := range th {
		g := float64(gs[i])
		if init != nil {
			g += 2 * float64(p.Anchor) * (float64(th[i]) - float64(init[i]))
		}
		g *= float64(p.ClipScale)
		mi := b1*float64(ms[i]) + (1-b1)*g
		vi := b2*float64(vs[i]) + (1-b2)*g*g
		ms[i], vs[i] = float32(mi), float32(vi)
		th[i] = float32(float64(th[i]) - float64(p.LR)/bc1*mi/(math.Sqrt(vi)/math.Sqrt(bc2)+float64(p.Eps)))
	}
	return nil
}

func (r *Ref) AnchoredGradSumSq(grad, theta, thetaInit Vec, anchor float32) (float64, error) {
	if err := r.check(checkAnchoredSumSq(grad, theta, thetaInit, anchor)); err != nil {
		return 0, err
	}
	gs := f32s(grad)
	var th, init []float32
	if anchor != 0 {
		th, init = f32s(theta), f32s(thetaInit)
	}
	var s float64
	for i, v := range gs {
		g := float64(v)
		if init != nil {
			g += 2 * float64(anchor) * (float64(th[i]) - float64(init[i]))
		}
		s += g * g
	}
	return s, nil
}
