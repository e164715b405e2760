package ffi

import (
	"fmt"
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
func (*Ref) AbsHistogram(x Vec, shift, bits int, prefix uint32, hist []uint64) error {
	if err := checkAbsHistogram("go", x, shift, bits, hist); err != nil {
		return err
	}
	mask := uint32(1)<<bits - 1
	for _, v := range f32s(x) {
		u := math.Float32bits(v) &^ (1 << 31)
		if shift+bits >= 32 || u>>(shift+bits) == prefix {
			hist[(u>>shift)&mask]++
		}
	}
	return nil
}

// AbsWindow counts the |x| bit patterns against the window [lo, lo+len(hist)):
//
//	for _, v := range x {
//		u := math.Float32bits(v) &^ (1 << 31)
//		if u >= lo+len(hist) { above++ } else if u >= lo { hist[u-lo]++ }
//	}
func (*Ref) AbsWindow(x Vec, lo uint32, hist []uint64) (uint64, error) {
	if err := checkAbsWindow("go", x, lo, hist); err != nil {
		return 0, err
	}
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
	return above, nil
}

// tiesTrim1 is |x| < threshold ? 0 : x; NaN x or threshold keeps x.
func tiesTrim1(x, threshold float32) float32 {
	if float32(math.Abs(float64(x))) < threshold {
		return 0
	}
	return x
}

// TiesTrim is for i, v := range x { dst[i] = tiesTrim1(v, threshold) }.
func (*Ref) TiesTrim(dst, x Vec, threshold float32) error {
	if err := checkTiesTrim("go", dst, x); err != nil {
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
func (*Ref) TiesMerge(dst Vec, xs []Vec, thresholds []float32) error {
	if err := checkTiesMerge("go", dst, xs, thresholds); err != nil {
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
func (*Ref) TallConsensus(dst, counts Vec, xs []Vec, lambdas []float32, minAgree int) error {
	n, err := checkTallConsensus("go", dst, counts, xs, lambdas)
	if err != nil {
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
		var mtl float32
		for t := range in {
			mtl += in[t][i]
		}
		agree := 0
		for t := range in {
			x := in[t][i]
			if abs32(x) > lambdas[t]*abs32(mtl-x) {
				agree++
			}
		}
		if c != nil {
			c[i] = byte(agree)
		}
		if d != nil {
			if agree >= minAgree || mtl != mtl {
				d[i] = mtl
			} else {
				d[i] = 0
			}
		}
	}
	return nil
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

// The argument checks below are shared by every host backend (owner "go" for
// Ref, "c" for CPU), so both reject the same inputs with the same errors.

func checkAbsHistogram(owner string, x Vec, shift, bits int, hist []uint64) error {
	if err := checkVec("abs histogram", x, F32); err != nil {
		return err
	}
	if err := ownIn(owner, "abs histogram", x.Buf); err != nil {
		return err
	}
	if bits < 1 || bits > 16 {
		return fmt.Errorf("abs histogram: bits %d outside 1..16", bits)
	}
	if shift < 0 || shift > 31 {
		return fmt.Errorf("abs histogram: shift %d outside 0..31", shift)
	}
	if len(hist) != 1<<bits {
		return fmt.Errorf("abs histogram: %d bins, want 1<<%d", len(hist), bits)
	}
	return nil
}

func checkAbsWindow(owner string, x Vec, lo uint32, hist []uint64) error {
	if err := checkVec("abs window", x, F32); err != nil {
		return err
	}
	if err := ownIn(owner, "abs window", x.Buf); err != nil {
		return err
	}
	if len(hist) == 0 || uint64(lo)+uint64(len(hist)) > 1<<31 {
		return fmt.Errorf("abs window: window [%#x, +%d) outside [0, 2^31) or empty", lo, len(hist))
	}
	return nil
}

func checkTiesTrim(owner string, dst, x Vec) error {
	if err := checkVec("ties trim dst", dst, F32); err != nil {
		return err
	}
	if err := checkVec("ties trim x", x, F32); err != nil {
		return err
	}
	if err := checkSameLen("ties trim x", dst.N, x); err != nil {
		return err
	}
	if err := own(owner, "ties trim", dst.Buf); err != nil {
		return err
	}
	return ownIn(owner, "ties trim", x.Buf)
}

func checkTiesMerge(owner string, dst Vec, xs []Vec, thresholds []float32) error {
	if err := checkVec("ties merge dst", dst, F32); err != nil {
		return err
	}
	if err := checkVecs("ties merge", xs, dst.N); err != nil {
		return err
	}
	if len(xs) > math.MaxInt32 {
		return fmt.Errorf("ties merge: %d inputs", len(xs))
	}
	if len(thresholds) != len(xs) {
		return fmt.Errorf("ties merge: %d thresholds for %d inputs", len(thresholds), len(xs))
	}
	return ownAll(owner, "ties merge", xs, dst.Buf)
}

// checkTallConsensus returns the common length n of xs.
func checkTallConsensus(owner string, dst, counts Vec, xs []Vec, lambdas []float32) (int, error) {
	if len(xs) == 0 || len(xs) > 255 {
		return 0, fmt.Errorf("tall consensus: %d inputs, want 1..255", len(xs))
	}
	n := xs[0].N
	if err := checkVecs("tall consensus", xs, n); err != nil {
		return 0, err
	}
	if len(lambdas) != len(xs) {
		return 0, fmt.Errorf("tall consensus: %d lambdas for %d inputs", len(lambdas), len(xs))
	}
	if dst.Buf != nil {
		if err := checkVec("tall consensus dst", dst, F32); err != nil {
			return 0, err
		}
		if err := checkSameLen("tall consensus dst", n, dst); err != nil {
			return 0, err
		}
	}
	if counts.Buf != nil {
		if err := checkVec("tall consensus counts", counts, U8); err != nil {
			return 0, err
		}
		if err := checkSameLen("tall consensus counts", n, counts); err != nil {
			return 0, err
		}
	}
	return n, ownAll(owner, "tall consensus", xs, dst.Buf, counts.Buf)
}

// ownAll checks the buffers of xs (inputs) and the extra buffers (outputs;
// nil ones skipped).
func ownAll(owner, what string, xs []Vec, extra ...Buffer) error {
	if err := own(owner, what, extra...); err != nil {
		return err
	}
	bufs := make([]Buffer, len(xs))
	for i, x := range xs {
		bufs[i] = x.Buf
	}
	return ownIn(owner, what, bufs...)
}
