package ffi

import (
	"fmt"
	"math"
)

// The shape rules of the task-vector, top-k, TIES, TALL and DARE ops.

// overlaps reports whether two views share elements of one buffer.
func overlaps(a, b Vec) bool {
	return a.Buf == b.Buf && a.N > 0 && b.N > 0 && a.Off < b.Off+b.N && b.Off < a.Off+a.N
}

func checkConvert(dst, src Vec) (access, error) {
	if err := checkVec("convert dst", dst, anyFloat); err != nil {
		return access{}, err
	}
	if err := checkVec("convert src", src, anyFloat); err != nil {
		return access{}, err
	}
	if err := checkSameLen("convert src", dst.N, src); err != nil {
		return access{}, err
	}
	if overlaps(dst, src) {
		return access{}, fmt.Errorf("convert: dst overlaps src")
	}
	return access{op: "convert", writes: bufs(dst), reads: bufs(src)}, nil
}

func checkSub(dst, ft, base Vec) (access, error) {
	if err := checkVec("sub dst", dst, F32); err != nil {
		return access{}, err
	}
	if err := checkVec("sub ft", ft, anyFloat); err != nil {
		return access{}, err
	}
	if err := checkVec("sub base", base, anyFloat); err != nil {
		return access{}, err
	}
	if err := checkSameLen("sub inputs", dst.N, ft, base); err != nil {
		return access{}, err
	}
	// Writing over an input in place is fine; a shifted overlap is not.
	for _, in := range []Vec{ft, base} {
		if overlaps(dst, in) && dst != in {
			return access{}, fmt.Errorf("sub: dst partly overlaps an input")
		}
	}
	return access{op: "sub", writes: bufs(dst), reads: bufs(ft, base)}, nil
}

// checkSubAccumulate: ft and base of one length; tau and acc (F32) and sumsq
// (one F64) optional. tau may be ft or base itself; acc, which is read and
// written, may overlap nothing else.
func checkSubAccumulate(tau, acc, ft, base, sumsq Vec) (access, error) {
	if err := checkVec("sub accumulate ft", ft, anyFloat); err != nil {
		return access{}, err
	}
	if err := checkVec("sub accumulate base", base, anyFloat); err != nil {
		return access{}, err
	}
	n := ft.N
	if err := checkSameLen("sub accumulate base", n, base); err != nil {
		return access{}, err
	}
	var writes []Buffer
	for _, o := range []struct {
		what string
		v    Vec
	}{{"tau", tau}, {"acc", acc}} {
		if o.v.Buf == nil {
			continue
		}
		if err := checkVec("sub accumulate "+o.what, o.v, F32); err != nil {
			return access{}, err
		}
		if err := checkSameLen("sub accumulate "+o.what, n, o.v); err != nil {
			return access{}, err
		}
		writes = append(writes, o.v.Buf)
	}
	for _, in := range []Vec{ft, base} {
		if tau.Buf != nil && overlaps(tau, in) && tau != in {
			return access{}, fmt.Errorf("sub accumulate: tau partly overlaps an input")
		}
		if acc.Buf != nil && overlaps(acc, in) {
			return access{}, fmt.Errorf("sub accumulate: acc overlaps an input")
		}
	}
	if acc.Buf != nil && tau.Buf != nil && overlaps(acc, tau) {
		return access{}, fmt.Errorf("sub accumulate: acc overlaps tau")
	}
	if sumsq.Buf != nil {
		if err := checkVec("sub accumulate sumsq", sumsq, F64); err != nil {
			return access{}, err
		}
		if sumsq.N != 1 {
			return access{}, fmt.Errorf("sub accumulate sumsq: %d elements, want 1", sumsq.N)
		}
		writes = append(writes, sumsq.Buf)
	}
	reads := bufs(ft, base)
	if acc.Buf != nil {
		reads = append(reads, acc.Buf)
	}
	return access{op: "sub accumulate", writes: writes, reads: reads}, nil
}

func checkSumSq(x, out Vec) (access, error) {
	if err := checkVec("sumsq", x, F32); err != nil {
		return access{}, err
	}
	if err := checkVec("sumsq out", out, F64); err != nil {
		return access{}, err
	}
	if out.N != 1 {
		return access{}, fmt.Errorf("sumsq out: %d elements, want 1", out.N)
	}
	return access{op: "sumsq", writes: bufs(out), reads: bufs(x)}, nil
}

func checkScale(x Vec) (access, error) {
	if err := checkVec("scale", x, F32); err != nil {
		return access{}, err
	}
	return access{op: "scale", writes: bufs(x)}, nil
}

func checkAxpy(x, y Vec) (access, error) {
	if err := checkVec("axpy x", x, F32); err != nil {
		return access{}, err
	}
	if err := checkVec("axpy y", y, F32); err != nil {
		return access{}, err
	}
	if err := checkSameLen("axpy x", y.N, x); err != nil {
		return access{}, err
	}
	if overlaps(x, y) && x != y {
		return access{}, fmt.Errorf("axpy: x partly overlaps y")
	}
	return access{op: "axpy", writes: bufs(y), reads: bufs(x)}, nil
}

func checkWeightedSum(dst Vec, xs []Vec, w []float32) (access, error) {
	if err := checkVec("wsum dst", dst, F32); err != nil {
		return access{}, err
	}
	if err := checkVecs("wsum", xs, dst.N); err != nil {
		return access{}, err
	}
	if len(w) != len(xs) {
		return access{}, fmt.Errorf("wsum: %d weights for %d inputs", len(w), len(xs))
	}
	if len(xs) > math.MaxInt32 {
		return access{}, fmt.Errorf("wsum: %d inputs, at most %d", len(xs), math.MaxInt32)
	}
	for i, x := range xs {
		if overlaps(dst, x) {
			return access{}, fmt.Errorf("wsum: dst overlaps input %d", i)
		}
	}
	return access{op: "wsum", writes: bufs(dst), reads: bufs(xs...)}, nil
}

func checkAbsHistogram(x Vec, shift, bits int, hist Vec) (access, error) {
	if err := checkVec("abs histogram", x, F32); err != nil {
		return access{}, err
	}
	if bits < 1 || bits > 16 {
		return access{}, fmt.Errorf("abs histogram: bits %d outside 1..16", bits)
	}
	if shift < 0 || shift > 31 {
		return access{}, fmt.Errorf("abs histogram: shift %d outside 0..31", shift)
	}
	if err := checkVec("abs histogram hist", hist, U64); err != nil {
		return access{}, err
	}
	if hist.N != 1<<bits {
		return access{}, fmt.Errorf("abs histogram: %d bins, want 1<<%d", hist.N, bits)
	}
	return access{op: "abs histogram", writes: bufs(hist), reads: bufs(x)}, nil
}

func checkAbsWindow(x Vec, lo uint32, hist, above Vec) (access, error) {
	if err := checkVec("abs window", x, F32); err != nil {
		return access{}, err
	}
	if err := checkVec("abs window hist", hist, U64); err != nil {
		return access{}, err
	}
	if err := checkVec("abs window above", above, U64); err != nil {
		return access{}, err
	}
	if hist.N == 0 || uint64(lo)+uint64(hist.N) > 1<<31 {
		return access{}, fmt.Errorf("abs window: window [%#x, +%d) outside [0, 2^31) or empty", lo, hist.N)
	}
	if above.N != 1 {
		return access{}, fmt.Errorf("abs window above: %d elements, want 1", above.N)
	}
	if overlaps(hist, above) {
		return access{}, fmt.Errorf("abs window: above overlaps hist")
	}
	return access{op: "abs window", writes: bufs(hist, above), reads: bufs(x)}, nil
}

func checkTiesTrim(dst, x Vec) (access, error) {
	if err := checkVec("ties trim dst", dst, F32); err != nil {
		return access{}, err
	}
	if err := checkVec("ties trim x", x, F32); err != nil {
		return access{}, err
	}
	if err := checkSameLen("ties trim x", dst.N, x); err != nil {
		return access{}, err
	}
	return access{op: "ties trim", writes: bufs(dst), reads: bufs(x)}, nil
}

func checkTiesMerge(dst Vec, xs []Vec, thresholds []float32) (access, error) {
	if err := checkVec("ties merge dst", dst, F32); err != nil {
		return access{}, err
	}
	if err := checkVecs("ties merge", xs, dst.N); err != nil {
		return access{}, err
	}
	if len(xs) > math.MaxInt32 {
		return access{}, fmt.Errorf("ties merge: %d inputs", len(xs))
	}
	if len(thresholds) != len(xs) {
		return access{}, fmt.Errorf("ties merge: %d thresholds for %d inputs", len(thresholds), len(xs))
	}
	return access{op: "ties merge", writes: bufs(dst), reads: bufs(xs...)}, nil
}

// checkTallConsensus also returns the common length n of xs.
func checkTallConsensus(dst, counts Vec, xs []Vec, lambdas []float32) (int, access, error) {
	if len(xs) == 0 || len(xs) > 255 {
		return 0, access{}, fmt.Errorf("tall consensus: %d inputs, want 1..255", len(xs))
	}
	n := xs[0].N
	if err := checkVecs("tall consensus", xs, n); err != nil {
		return 0, access{}, err
	}
	if len(lambdas) != len(xs) {
		return 0, access{}, fmt.Errorf("tall consensus: %d lambdas for %d inputs", len(lambdas), len(xs))
	}
	if dst.Buf != nil {
		if err := checkVec("tall consensus dst", dst, F32); err != nil {
			return 0, access{}, err
		}
		if err := checkSameLen("tall consensus dst", n, dst); err != nil {
			return 0, access{}, err
		}
	}
	if counts.Buf != nil {
		if err := checkVec("tall consensus counts", counts, U8); err != nil {
			return 0, access{}, err
		}
		if err := checkSameLen("tall consensus counts", n, counts); err != nil {
			return 0, access{}, err
		}
	}
	return n, access{op: "tall consensus", writes: bufs(dst, counts), reads: bufs(xs...)}, nil
}

func checkDareDrop(x Vec, p float64) (access, error) {
	if err := checkVec("dare drop", x, F32); err != nil {
		return access{}, err
	}
	if !(p >= 0 && p < 1) {
		return access{}, fmt.Errorf("dare drop: rate %v, want 0 <= p < 1", p)
	}
	return access{op: "dare drop", writes: bufs(x)}, nil
}
