package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/distac/distac/internal/errmark"
)

// Metrics summarise a classifier's predictions on a labelled set.
type Metrics struct {
	N           int     `json:"n"`
	Labelled    bool    `json:"labelled"`      // Accuracy, ECE and NLL need labels
	Accuracy    float64 `json:"accuracy"`      // top-1, in [0, 1]
	MeanEntropy float64 `json:"mean_entropy"`  // nats, of softmax(logits / T)
	MeanMaxProb float64 `json:"mean_max_prob"` // mean confidence
	ECE         float64 `json:"ece"`           // expected calibration error, 15 equal-width bins
	NLL         float64 `json:"nll"`           // mean negative log-likelihood of the labels
}

// ECEBins is the number of confidence bins of Metrics.ECE.
const ECEBins = 15

// softmaxRow writes softmax(z / T) into p and returns log-sum-exp(z/T).
func softmaxRow(z []float32, T float64, p []float64) float64 {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, float64(v)/T)
	}
	var s float64
	for j, v := range z {
		p[j] = math.Exp(float64(v)/T - mx)
		s += p[j]
	}
	for j := range p {
		p[j] /= s
	}
	return mx + math.Log(s)
}

// ErrNoImages is the error of Evaluate on no predictions: an accuracy of
// nothing is not 0%.
var ErrNoImages = errors.New("evaluate: no images")

// Evaluate computes Metrics of logits (n x classes, row-major) at
// temperature T (1: as they are). labels may be nil: then only the entropy
// and confidence are filled in.
func Evaluate(logits []float32, classes int, labels []int32, T float64) (Metrics, error) {
	if classes < 1 || len(logits)%classes != 0 {
		return Metrics{}, fmt.Errorf("evaluate: %d logits for %d classes", len(logits), classes)
	}
	n := len(logits) / classes
	if labels != nil && len(labels) != n {
		return Metrics{}, fmt.Errorf("evaluate: %d labels for %d predictions", len(labels), n)
	}
	if !(T > 0) || math.IsInf(T, 0) {
		return Metrics{}, fmt.Errorf("evaluate: temperature %v must be positive and finite", T)
	}
	if n == 0 {
		return Metrics{}, ErrNoImages
	}
	m := Metrics{N: n, Labelled: labels != nil}
	p := make([]float64, classes)
	var binConf, binAcc [ECEBins]float64
	var binN [ECEBins]int
	correct := 0
	for r := range n {
		z := logits[r*classes : (r+1)*classes]
		lse := softmaxRow(z, T, p)
		best, h := 0, 0.0
		for j, pj := range p {
			if pj > p[best] {
				best = j
			}
			if pj > 0 {
				h -= pj * math.Log(pj)
			}
		}
		if math.IsNaN(lse) {
			return Metrics{}, errmark.As(ErrNonFinite, fmt.Errorf("evaluate: row %d has non-finite logits", r))
		}
		m.MeanEntropy += h
		m.MeanMaxProb += p[best]
		if labels == nil {
			continue
		}
		y := int(labels[r])
		if y < 0 || y >= classes {
			return Metrics{}, fmt.Errorf("evaluate: label %d of row %d outside [0, %d)", y, r, classes)
		}
		m.NLL += lse - float64(z[y])/T
		hit := 0.0
		if best == y {
			correct++
			hit = 1
		}
		b := min(int(p[best]*ECEBins), ECEBins-1)
		binConf[b] += p[best]
		binAcc[b] += hit
		binN[b]++
	}
	m.MeanEntropy /= float64(n)
	m.MeanMaxProb /= float64(n)
	if labels != nil {
		m.Accuracy = float64(correct) / float64(n)
		m.NLL /= float64(n)
		for b := range ECEBins {
			if binN[b] > 0 {
				m.ECE += math.Abs(binAcc[b]-binConf[b]) / float64(n)
			}
		}
	}
	return m, nil
}

// FitTemperature returns the temperature T in [0.05, 20] minimising the
// NLL of labels under softmax(logits / T) (temperature scaling, Guo et al.),
// by golden-section search on log T (the NLL is convex in 1/T).
func FitTemperature(logits []float32, classes int, labels []int32) (float64, error) {
	nll := func(logT float64) (float64, error) {
		m, err := Evaluate(logits, classes, labels, math.Exp(logT))
		return m.NLL, err
	}
	if labels == nil {
		return 0, fmt.Errorf("fit temperature: labels are required")
	}
	lo, hi := math.Log(0.05), math.Log(20)
	g := (math.Sqrt(5) - 1) / 2
	a, b := hi-g*(hi-lo), lo+g*(hi-lo)
	fa, err := nll(a)
	if err != nil {
		return 0, err
	}
	fb, _ := nll(b)
	for range 60 {
		if fa < fb {
			hi, b, fb = b, a, fa
			a = hi - g*(hi-lo)
			fa, _ = nll(a)
		} else {
			lo, a, fa = a, b, fb
			b = lo + g*(hi-lo)
			fb, _ = nll(b)
		}
	}
	return math.Exp((lo + hi) / 2), nil
}
