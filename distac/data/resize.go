package data

import "math"

// axisWeights are the taps of a 1-D resampling: output i is the sum over k of
// w[i][k] * input[start[i]+k].
type axisWeights struct {
	start []int
	w     [][]float32
}

// triangleWeights computes the taps of a bilinear (triangle-filter) resize
// from in to out samples, pixel centres at i+0.5 in both grids. When
// shrinking, the filter is widened by the scale in/out so every input pixel
// contributes (antialiasing, as PIL's BILINEAR does); when enlarging it is
// plain bilinear interpolation, with edge taps that fall outside the image
// dropped and the rest renormalised (the same as clamping to the edge).
func triangleWeights(in, out int) axisWeights { return triangleWindow(in, out, 0, out) }

// triangleWindow computes the taps of outputs [from, from+n) of
// triangleWeights(in, out) alone: a centre crop of a resize needs no more,
// and the full resize of a long, thin image can have billions of outputs.
func triangleWindow(in, out, from, n int) axisWeights {
	scale := float64(in) / float64(out)
	support := math.Max(scale, 1) // triangle radius 1, stretched when shrinking
	aw := axisWeights{start: make([]int, n), w: make([][]float32, n)}
	for j := 0; j < n; j++ {
		center := (float64(from+j) + 0.5) * scale
		lo := max(int(math.Floor(center-support+0.5)), 0)
		hi := min(int(math.Floor(center+support+0.5)), in)
		ws := make([]float64, 0, hi-lo)
		sum := 0.0
		for x := lo; x < hi; x++ {
			w := 1 - math.Abs((float64(x)+0.5-center)/support)
			w = math.Max(w, 0)
			ws = append(ws, w)
			sum += w
		}
		aw.start[j] = lo
		aw.w[j] = make([]float32, len(ws))
		for k, w := range ws {
			aw.w[j][k] = float32(w / sum)
		}
	}
	return aw
}

// resamplePlane resamples one sh x sw plane to len(ys.w) x len(xs.w): a
// horizontal pass over the source rows the vertical taps reach, then the
// vertical pass.
func resamplePlane(src []float32, sh, sw int, ys, xs axisWeights, dst []float32) {
	dh, dw := len(ys.w), len(xs.w)
	r0 := ys.start[0]
	r1 := ys.start[dh-1] + len(ys.w[dh-1])
	tmp := make([]float32, (r1-r0)*dw)
	for y := r0; y < r1; y++ {
		row := src[y*sw : (y+1)*sw]
		out := tmp[(y-r0)*dw : (y-r0+1)*dw]
		for x := range out {
			var acc float32
			taps := row[xs.start[x]:]
			for k, w := range xs.w[x] {
				acc += w * taps[k]
			}
			out[x] = acc
		}
	}
	for y := 0; y < dh; y++ {
		out := dst[y*dw : (y+1)*dw]
		clear(out)
		for k, w := range ys.w[y] {
			r := ys.start[y] + k - r0
			row := tmp[r*dw : (r+1)*dw]
			for x := range out {
				out[x] += w * row[x]
			}
		}
	}
}
