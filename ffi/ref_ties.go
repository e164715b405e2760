package ffi

import (
	"math"
)

// AbsHistogram counts one radix digit of the |x| bit patterns:
//
//	for _, v := range x {
//		u := math.Float32bits(v) &^ (1 << 31) // orders |x|, NaN above +Inf
//		if shift+bits >= 32 || u>>(shift+bits) == prefix {
//			hist[(u>>shift)&(1<<bits-1)]++
//		}
//	}
func (r *Ref) AbsHistogram(x Vec, shift, bits int, prefix uint32, histV Vec) error {
	if err := r.check(checkAbsHistogram(x, shift, bits, histV)); err != nil {
		return err
	}
	hist := u64s(histV)
	mask := uint32(1)<<bits - 1
	for _, v := range f32s(x) {
		u := math.Float32bits(v) &^ (1 << 31)
		if shift+bits >= 32 || u>>(shift+bits) == prefix {
			hist[(u>>shift)&mask]++
		}
	}
	return nil
}

// AbsWindow counts the |x| bit patterns against the window [lo, lo+hist.N):
//
//	for _, v := range x {
//		u := math.Float32bits(v) &^ (1 << 31)
//		if u >= lo+hist.N { above[0]++ } else if u >= lo { hist[u-lo]++ }
//	}
func (r *Ref) AbsWindow(x Vec, lo uint32, histV, aboveV Vec) error {
	if err := r.check(checkAbsWindow(x, lo, histV, aboveV)); err != nil {
		return err
	}
	hist := u64s(histV)
	var above uint64
	span := uint64(len(hist))
	for _, v := range f32s(x) {
		u := uint64(math.Float32bits(v) &^ (1 << 31))
		switch {
		case u >= uint64(lo)+span:
			above++
		case u >= uint64(lo):
			hist[u-uint64(lo)]++
		}
	}
	u64s(aboveV)[0] += above
	return nil
}

// tiesTrim1 is |x| < threshold ? 0 : x; NaN x or threshold keeps x.
func tiesTrim1(x, threshold float32) float32 {
	if float32(math.Abs(float64(x))) < threshold {
		return 0
	}
	return x
}

// TiesTrim is for i, v := range x { dst[i] = tiesTrim1(v, threshold) }.
func (r *Ref) TiesTrim(dst, x Vec, threshold float32) error {
	if err := r.check(checkTiesTrim(dst, x)); err != nil {
		return err
	}
	d := f32s(dst)
	for i, v := range f32s(x) {
		d[i] = tiesTrim1(v, threshold)
	}
	return nil
}

// TiesMerge follows the header literally, one element at a time (so dst may
// be one of xs): trim, elect the sign of the in-order float32 sum (zero
// elects +), average the trimmed values of that sign; NaN if any is NaN.
func (r *Ref) TiesMerge(dst Vec, xs []Vec, thresholds []float32) error {
	if err := r.check(checkTiesMerge(dst, xs, thresholds)); err != nil {
		return err
	}
	in := make([][]float32, len(xs))
	for t, x := range xs {
		in[t] = f32s(x)
	}
	d := f32s(dst)
	for i := range d {
		var s float32
		for t := range in {
			s += tiesTrim1(in[t][i], thresholds[t])
		}
		up := s >= 0
		var sum float32
		agree, nan := 0, false
		for t := range in {
			v := tiesTrim1(in[t][i], thresholds[t])
			nan = nan || v != v
			if (up && v > 0) || (!up && v < 0) {
				sum += v
				agree++
			}
		}
		switch {
		case nan:
			d[i] = float32(math.NaN())
		case agree > 0:
			d[i] = sum / float32(agree)
		default:
			d[i] = 0
		}
	}
	return nil
}

// TallConsensus follows the header literally: mtl is the in-order float32
// sum, task t agrees where |x_t| > lambdas[t]*|mtl - x_t|, counts gets the
// number agreeing and dst gets mtl where at least minAgree agree (or mtl is
// NaN), else 0. A nil Buf in dst or counts means that output is not written.
func (r *Ref) TallConsensus(dst, counts Vec, xs []Vec, lambdas []float32, minAgree int) error {
	n, a, err := checkTallConsensus(dst, counts, xs, lambdas)
	if err := r.check(a, err); err != nil {
		return err
	}
	in := make([][]float32, len(xs))
	for t, x := range xs {
		in[t] = f32s(x)
	}
	var d []float32
	var c []byte
	if dst.Buf != nil {
		d = f32s(dst)
	}
	if counts.Buf != nil {
		c, _ = HostBytes(counts)
	}
	if d == nil && c == nil {
		return nil
	}
	for i := range n {
		merged, agree := TallAt(in, i, lambdas, minAgree)
		if c != nil {
			c[i] = byte(agree)
		}
		if d != nil {
			d[i] = merged
		}
	}
	return nil
}

// TallAt is TALL's rule for element i of the task vectors xs, the definition
// the reference backend follows and the conformance suite holds every
// backend to: mtl is the in-order float32 sum of the xs[t][i], agree counts
// the tasks with |x_t| > lambdas[t] |mtl - x_t|, and merged is mtl where at
// least minAgree agree (or mtl is NaN), else 0.
func TallAt(xs [][]float32, i int, lambdas []float32, minAgree int) (merged float32, agree int) {
	var mtl float32
	for t := range xs {
		mtl += xs[t][i]
	}
	for t := range xs {
		x := xs[t][i]
		if abs32(x) > lambdas[t]*abs32(mtl-x) {
			agree++
		}
	}
	if agree >= minAgree || mtl != mtl {
		return mtl, agree
	}
	return 0, agree
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }
