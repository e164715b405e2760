package ffi

// Task-vector ops of the reference backend. Semantics:
// kernels/include/distac_kernels.h; shape rules: check_taskvec.go.

// Convert copies src into dst, converting dtype (see half.go for the rounding).
func (r *Ref) Convert(dst, src Vec) error {
	if err := r.check(checkConvert(dst, src)); err != nil {
		return err
	}
	if dst.Buf.DType() == src.Buf.DType() {
		d, _ := HostBytes(dst)
		s, _ := HostBytes(src)
		copy(d, s)
		return nil
	}
	load, store := widener(src), narrower(dst)
	for i := range dst.N {
		store(i, load(i))
	}
	return nil
}

// Sub writes dst = f32(ft) - f32(base).
func (r *Ref) Sub(dst, ft, base Vec) error {
	if err := r.check(checkSub(dst, ft, base)); err != nil {
		return err
	}
	a, b, d := widener(ft), widener(base), f32s(dst)
	for i := range d {
		d[i] = a(i) - b(i)
	}
	return nil
}

// SumSq follows the C kernels' order exactly: in each block of
// SumSqBlock elements, element i goes to float64 lane i%16 (squares of
// float32 are exact in float64), the lanes are folded pairwise, and block sums
// are added in order. The result has the same bits as every CPU path.
func (r *Ref) SumSq(x, out Vec) error {
	if err := r.check(checkSumSq(x, out)); err != nil {
		return err
	}
	f64s(out)[0] = sumSqBlocks(f32s(x))
	return nil
}

// sumSqBlocks is SumSq's sum of v.
func sumSqBlocks(v []float32) float64 {
	var sum float64
	for off := 0; off < len(v); off += SumSqBlock {
		var l [16]float64
		for i, f := range v[off:min(off+SumSqBlock, len(v))] {
			l[i&15] += float64(f) * float64(f)
		}
		for w := 8; w >= 1; w /= 2 {
			for j := range w {
				l[j] += l[j+w]
			}
		}
		sum += l[0]
	}
	return sum
}

// SubAccumulate is Sub, WeightedSum's step for one input and SumSq with
// their bits: t = ft - base; tau = t; acc = w*t first, then acc + w*t;
// sumsq = SumSq(t).
func (r *Ref) SubAccumulate(tau, acc, ft, base Vec, w float32, first bool, sumsq Vec) error {
	if err := r.check(checkSubAccumulate(tau, acc, ft, base, sumsq)); err != nil {
		return err
	}
	a, b := widener(ft), widener(base)
	t := make([]float32, ft.N)
	for i := range t {
		t[i] = a(i) - b(i)
	}
	if acc.Buf != nil {
		d := f32s(acc)
		for i, x := range t {
			if first {
				d[i] = w * x
			} else {
				d[i] += w * x
			}
		}
	}
	if tau.Buf != nil {
		copy(f32s(tau), t)
	}
	if sumsq.Buf != nil {
		f64s(sumsq)[0] = sumSqBlocks(t)
	}
	return nil
}

// SumSqBlock is DISTAC_SUMSQ_BLOCK of the C ABI: SumSq sums blocks of this
// many elements one by one and adds the block sums in order.
const SumSqBlock = 65536

// Scale does x *= a.
func (r *Ref) Scale(x Vec, a float32) error {
	if err := r.check(checkScale(x)); err != nil {
		return err
	}
	v := f32s(x)
	for i := range v {
		v[i] *= a
	}
	return nil
}

// Axpy does y += a*x.
func (r *Ref) Axpy(a float32, x, y Vec) error {
	if err := r.check(checkAxpy(x, y)); err != nil {
		return err
	}
	xv, yv := f32s(x), f32s(y)
	for i := range yv {
		yv[i] += a * xv[i]
	}
	return nil
}

// WeightedSum writes dst = sum_t w[t]*xs[t], accumulated in float32 in order of t.
func (r *Ref) WeightedSum(dst Vec, xs []Vec, w []float32) error {
	if err := r.check(checkWeightedSum(dst, xs, w)); err != nil {
		return err
	}
	d, x0 := f32s(dst), f32s(xs[0])
	for i := range d {
		d[i] = w[0] * x0[i]
	}
	for t := 1; t < len(xs); t++ {
		x := f32s(xs[t])
		for i := range d {
			d[i] += w[t] * x[i]
		}
	}
	return nil
}
