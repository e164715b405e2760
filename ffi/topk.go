package ffi

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// radixDigits are the passes of the top-k radix select over u = bits(|x|)
// (31 bits): a full 15-bit pass over bits 16..30, then a 16-bit pass over
// bits 0..15 that counts only the elements in the chosen top bin. The first
// pass increments a counter per element; the second mostly streams.
var radixDigits = [...]struct{ shift, bits int }{{16, 15}, {0, 16}}

// TopKAbsThreshold returns the k-th largest |x| over all elements of xs taken
// together (a task vector spread over many tensors), by radix select with
// AbsHistogram: no sort, no copy, two passes over the data (each split over
// the threads of a CPU backend).
//
// TiesTrim(dst, x, threshold) keeps every element with |x| >= threshold, so
// with this threshold it keeps the k largest plus any others equal in
// magnitude to the k-th (ties may keep a few more than k).
//
// k <= 0 gives +Inf (keeps nothing finite); k >= the total length gives 0
// (keeps everything). NaN ranks above +Inf; if the k-th largest is a NaN,
// +Inf is returned (trimming keeps NaNs regardless). -0 counts as 0.
func TopKAbsThreshold(be Backend, xs []Vec, k int64) (float32, error) {
	var total int64
	for i, x := range xs {
		if err := checkVec(fmt.Sprintf("top-k input %d", i), x, F32); err != nil {
			return 0, err
		}
		total += int64(x.N)
	}
	if k <= 0 {
		return float32(math.Inf(1)), nil
	}
	if k >= total {
		return 0, nil
	}
	// Invariant: the answer has the bits of prefix on top, and is the rank-th
	// largest of the elements that do.
	rank := uint64(k)
	var prefix uint32
	for _, d := range radixDigits {
		hist := make([]uint64, 1<<d.bits)
		if err := histogramAll(be, xs, total, d.shift, d.bits, prefix, hist); err != nil {
			return 0, err
		}
		b := len(hist) - 1
		for ; b > 0 && hist[b] < rank; b-- {
			rank -= hist[b]
		}
		prefix = prefix<<d.bits | uint32(b)
	}
	if prefix > 0x7f800000 { // a NaN
		return float32(math.Inf(1)), nil
	}
	return math.Float32frombits(prefix), nil
}

// topKMinPerWorker is the fewest elements worth a goroutine of their own.
const topKMinPerWorker = 1 << 18

// histogramAll adds one digit's histogram over all of xs (total elements) to
// hist. A full pass costs a counter increment per element (about 2.5 G/s on
// one core), not memory bandwidth, so on a CPU backend with several threads
// the elements are cut into one run per thread, each counted into its own
// histogram.
func histogramAll(be Backend, xs []Vec, total int64, shift, bits int, prefix uint32, hist []uint64) error {
	workers := 1
	if cpu, ok := be.(*CPU); ok {
		workers = cpu.workers(int(total), topKMinPerWorker)
	}
	if workers <= 1 {
		return histogramRun(be, xs, shift, bits, prefix, hist)
	}
	runs := splitVecs(xs, total, workers)
	hists := make([][]uint64, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for w, run := range runs {
		hists[w] = make([]uint64, len(hist))
		wg.Go(func() { errs[w] = histogramRun(be, run, shift, bits, prefix, hists[w]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, h := range hists {
		for b, c := range h {
			hist[b] += c
		}
	}
	return nil
}

func histogramRun(be Backend, xs []Vec, shift, bits int, prefix uint32, hist []uint64) error {
	for _, x := range xs {
		if x.N == 0 {
			continue
		}
		if err := be.AbsHistogram(x, shift, bits, prefix, hist); err != nil {
			return err
		}
	}
	return nil
}

// splitVecs cuts the concatenation of xs (total elements) into parts runs of
// nearly equal length, each a list of views into the original buffers.
func splitVecs(xs []Vec, total int64, parts int) [][]Vec {
	runs := make([][]Vec, parts)
	per := (total + int64(parts) - 1) / int64(parts)
	w, room := 0, per
	for _, x := range xs {
		for off := 0; off < x.N; {
			if room == 0 && w < parts-1 {
				w, room = w+1, per
			}
			k := x.N - off
			if w < parts-1 {
				k = int(min(int64(k), room))
			}
			runs[w] = append(runs[w], Vec{Buf: x.Buf, Off: x.Off + off, N: k})
			off += k
			room -= int64(k)
		}
	}
	return runs
}

// TiesThreshold is the TIES trimming threshold that keeps the fraction
// keepFraction (in [0, 1]; TIES' usual top 20% is 0.2) of all
// elements of xs by magnitude: TopKAbsThreshold with
// k = ceil(keepFraction * total). A product within rounding error of an
// integer counts as that integer, so 0.07 * 100 keeps 7, not 8.
func TiesThreshold(be Backend, xs []Vec, keepFraction float64) (float32, error) {
	if !(keepFraction >= 0 && keepFraction <= 1) {
		return 0, fmt.Errorf("ties threshold: keep fraction %v outside [0, 1]", keepFraction)
	}
	var total int64
	for _, x := range xs {
		total += int64(max(x.N, 0))
	}
	return TopKAbsThreshold(be, xs, keepCount(keepFraction, total))
}

// keepCount is ceil(f * total), ignoring the last bits of rounding in f * total.
func keepCount(f float64, total int64) int64 {
	x := f * float64(total)
	if r := math.Round(x); math.Abs(x-r) <= 4*0x1p-52*x {
		return int64(r)
	}
	return int64(math.Ceil(x))
}
