package train

import (
	"math/rand/v2"
	"testing"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
)

// mlpConfig parses an encoder config (JSON) or fails the test.
func mlpConfig(t *testing.T, js string) *model.Config {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// noiseImages is an unlabelled set of n gray side x side images, pixels
// uniform in [0, 1).
func noiseImages(rng *rand.Rand, n, side int) *data.Set {
	set := &data.Set{Name: "noise", C: 1, H: side, W: side, Images: make([]float32, n*side*side)}
	for i := range set.Images {
		set.Images[i] = rng.Float32()
	}
	return set
}

// headWeights are a classes x dim head's weights, uniform in [-0.5, 0.5).
func headWeights(rng *rand.Rand, classes, dim int) []float32 {
	w := make([]float32, classes*dim)
	for i := range w {
		w[i] = rng.Float32() - 0.5
	}
	return w
}
