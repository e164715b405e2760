package ffi

import (
	"fmt"
	"math"
)

// Task-vector ops of the reference backend, and the argument checks it shares
// with the CPU backend. Semantics: kernels/include/distac_kernels.h.

// Convert copies src into dst, converting dtype (see half.go for the rounding).
func (*Ref) Convert(dst, src Vec) error {
	if err := checkConvert("go", dst, src); err != nil {
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
func (*Ref) Sub(dst, ft, base Vec) error {
	if err := checkSub("go", dst, ft, base); err != nil {
		return err
	}
	a, b, d := widener(ft), widener(base), f32s(dst)
	for i := range d {
		d[i] = a(i) - b(i)
	}
	return nil
}

// SumSq follows the C kernels' order exactly: in each block of
// sumSqBlock elements, element i goes to float64 lane i%16 (squares of
// float32 are exact in float64), the lanes are folded pairwise, and block sums
// are added in order. The result has the same bits as every CPU path.
func (*Ref) SumSq(x Vec) (float64, error) {
	if err := checkSumSq("go", x); err != nil {
		return 0, err
	}
	v := f32s(x)
	var sum float64
	for off := 0; off < len(v); off += sumSqBlock {
		var l [16]float64
		for i, f := range v[off:min(off+sumSqBlock, len(v))] {
			l[i&15] += float64(f) * float64(f)
		}
		for w := 8; w >= 1; w /= 2 {
			for j := range w {
				l[j] += l[j+w]
			}
		}
		sum += l[0]
	}
	return sum, nil
}

// sumSqBlock is DISTAC_SUMSQ_BLOCK of the C ABI.
const sumSqBlock = 65536

// Scale does x *= a.
func (*Ref) Scale(x Vec, a float32) error {
	if err := checkScale("go", x); err != nil {
		return err
	}
	v := f32s(x)
	for i := range v {
		v[i] *= a
	}
	return nil
}

// Axpy does y += a*x.
func (*Ref) Axpy(a float32, x, y Vec) error {
	if err := checkAxpy("go", x, y); err != nil {
		return err
	}
	xv, yv := f32s(x), f32s(y)
	for i := range yv {
		yv[i] += a * xv[i]
	}
	return nil
}

// WeightedSum writes dst = sum_t w[t]*xs[t], accumulated in float32 in order of t.
func (*Ref) WeightedSum(dst Vec, xs []Vec, w []float32) error {
	if err := checkWeightedSum("go", dst, xs, w); err != nil {
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

// overlaps reports whether two views share elements of one buffer.
func overlaps(a, b Vec) bool {
	return a.Buf == b.Buf && a.N > 0 && b.N > 0 && a.Off < b.Off+b.N && b.Off < a.Off+a.N
}

func checkConvert(owner string, dst, src Vec) error {
	if err := checkVec("convert dst", dst, anyFloat); err != nil {
		return err
	}
	if err := checkVec("convert src", src, anyFloat); err != nil {
		return err
	}
	if err := checkSameLen("convert src", dst.N, src); err != nil {
		return err
	}
	if err := own(owner, "convert", dst.Buf); err != nil {
		return err
	}
	if err := ownIn(owner, "convert", src.Buf); err != nil {
		return err
	}
	if overlaps(dst, src) {
		return fmt.Errorf("convert: dst overlaps src")
	}
	return nil
}

func checkSub(owner string, dst, ft, base Vec) error {
	if err := checkVec("sub dst", dst, F32); err != nil {
		return err
	}
	if err := checkVec("sub ft", ft, anyFloat); err != nil {
		return err
	}
	if err := checkVec("sub base", base, anyFloat); err != nil {
		return err
	}
	if err := checkSameLen("sub inputs", dst.N, ft, base); err != nil {
		return err
	}
	if err := own(owner, "sub", dst.Buf); err != nil {
		return err
	}
	if err := ownIn(owner, "sub", ft.Buf, base.Buf); err != nil {
		return err
	}
	// Writing over an input in place is fine; a shifted overlap is not.
	for _, in := range []Vec{ft, base} {
		if overlaps(dst, in) && dst != in {
			return fmt.Errorf("sub: dst partly overlaps an input")
		}
	}
	return nil
}

func checkSumSq(owner string, x Vec) error {
	if err := checkVec("sumsq", x, F32); err != nil {
		return err
	}
	return ownIn(owner, "sumsq", x.Buf)
}

func checkScale(owner string, x Vec) error {
	if err := checkVec("scale", x, F32); err != nil {
		return err
	}
	return own(owner, "scale", x.Buf)
}

func checkAxpy(owner string, x, y Vec) error {
	if err := checkVec("axpy x", x, F32); err != nil {
		return err
	}
	if err := checkVec("axpy y", y, F32); err != nil {
		return err
	}
	if err := checkSameLen("axpy x", y.N, x); err != nil {
		return err
	}
	if err := own(owner, "axpy", x.Buf, y.Buf); err != nil {
		return err
	}
	if overlaps(x, y) && x != y {
		return fmt.Errorf("axpy: x partly overlaps y")
	}
	return nil
}

func checkWeightedSum(owner string, dst Vec, xs []Vec, w []float32) error {
	if err := checkVec("wsum dst", dst, F32); err != nil {
		return err
	}
	if err := checkVecs("wsum", xs, dst.N); err != nil {
		return err
	}
	if len(w) != len(xs) {
		return fmt.Errorf("wsum: %d weights for %d inputs", len(w), len(xs))
	}
	if len(xs) > math.MaxInt32 {
		return fmt.Errorf("wsum: %d inputs, at most %d", len(xs), math.MaxInt32)
	}
	if err := own(owner, "wsum", dst.Buf); err != nil {
		return err
	}
	for i, x := range xs {
		if err := ownIn(owner, "wsum", x.Buf); err != nil {
			return err
		}
		if overlaps(dst, x) {
			return fmt.Errorf("wsum: dst overlaps input %d", i)
		}
	}
	return nil
}
