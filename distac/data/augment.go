package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Rotate90 writes img (c planes of h x w, h == w) turned k quarter turns
// counter-clockwise to dst (k taken mod 4, negative k turning clockwise), as
// numpy's rot90: one turn is dst[y][x] = img[x][w-1-y]. It serves
// rotation-prediction pre-training, where the label is k mod 4. dst may be img
// itself (the rotation then goes through a copy) but must not otherwise
// overlap it.
func Rotate90(img []float32, c, h, w, k int, dst []float32) error {
	if h != w || c <= 0 || h <= 0 {
		return fmt.Errorf("rotate90: image %dx%dx%d, want c >= 1 and square planes", c, h, w)
	}
	if len(img) != c*h*w || len(dst) != c*h*w {
		return fmt.Errorf("rotate90: %d values in, %d out, want %d (%dx%dx%d)", len(img), len(dst), c*h*w, c, h, w)
	}
	k = ((k % 4) + 4) % 4
	if k == 0 {
		copy(dst, img)
		return nil
	}
	if &img[0] == &dst[0] {
		img = append([]float32(nil), img...)
	}
	n := h
	for ch := 0; ch < c; ch++ {
		src := img[ch*n*n : (ch+1)*n*n]
		out := dst[ch*n*n : (ch+1)*n*n]
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				var v float32
				switch k {
				case 1:
					v = src[x*n+(n-1-y)]
				case 2:
					v = src[(n-1-y)*n+(n-1-x)]
				case 3:
					v = src[(n-1-x)*n+y]
				}
				out[y*n+x] = v
			}
		}
	}
	return nil
}

// Mixup writes dst = λ a + (1-λ) b and returns λ, the weight of a's label in
// the mixed target. With rng nil, λ = lam, which must be in [0, 1]. With an
// rng, lam is mixup's α > 0 and λ is drawn from Beta(α, α) (Zhang et al.,
// 2018). dst may be a or b.
func Mixup(rng *rand.Rand, a, b []float32, lam float32, dst []float32) (float32, error) {
	if len(a) != len(b) || len(dst) != len(a) {
		return 0, fmt.Errorf("mixup: lengths %d, %d into %d, want equal", len(a), len(b), len(dst))
	}
	l := lam
	if rng == nil {
		if !(lam >= 0 && lam <= 1) {
			return 0, fmt.Errorf("mixup: lambda %v, want a value in [0, 1]", lam)
		}
	} else {
		if !(lam > 0) || math.IsInf(float64(lam), 0) {
			return 0, fmt.Errorf("mixup: alpha %v, want a finite value > 0", lam)
		}
		l = float32(MixupWeight(rng, float64(lam)))
	}
	for i := range dst {
		dst[i] = l*a[i] + (1-l)*b[i]
	}
	return l, nil
}

// MixupWeight draws mixup's weight lambda ~ Beta(α, α), as X/(X+Y) with
// X, Y ~ Gamma(α).
func MixupWeight(rng *rand.Rand, alpha float64) float64 {
	for {
		x, y := sampleGamma(rng, alpha), sampleGamma(rng, alpha)
		if s := x + y; s > 0 {
			return x / s
		}
		// both underflowed to 0 (tiny α): draw again
	}
}

// sampleGamma draws from Gamma(α, 1) by Marsaglia and Tsang (2000); for
// α < 1 it uses Gamma(α+1) * U^(1/α).
func sampleGamma(rng *rand.Rand, alpha float64) float64 {
	if alpha < 1 {
		u := rng.Float64()
		return sampleGamma(rng, alpha+1) * math.Pow(u, 1/alpha)
	}
	d := alpha - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}
