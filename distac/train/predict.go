package train

import (
	"fmt"
	"math"

	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/errmark"
)

// Predict returns the logits (n x classes, row-major) of n images (NCHW in
// the encoder's geometry), batch images at a time through an inference
// workspace.
func Predict(e model.Engine, enc model.Encoder, p *model.Params, head *model.Head, images []float32, n, batch int) ([]float32, error) {
	if n == 0 {
		return nil, nil
	}
	batch = max(1, min(batch, n))
	net, err := model.NewNet(e, enc, head, batch, false)
	if err != nil {
		return nil, err
	}
	defer net.Free()
	return predictWith(e, net, p, images, n)
}

// predictWith runs images through an existing net.
func predictWith(e model.Engine, net *model.Net, p *model.Params, images []float32, n int) ([]float32, error) {
	if n == 0 {
		return nil, nil
	}
	if len(images)%n != 0 {
		return nil, fmt.Errorf("predict: %d values for %d images", len(images), n)
	}
	per, classes := len(images)/n, net.Head.Classes
	out := make([]float32, n*classes)
	for lo := 0; lo < n; lo += net.Cap() {
		hi := min(n, lo+net.Cap())
		z, err := net.Forward(p, images[lo*per:hi*per], hi-lo)
		if err != nil {
			return nil, fmt.Errorf("predict images %d..%d: %w", lo, hi-1, err)
		}
		if err := e.Download(ffi.F32Bytes(out[lo*classes:hi*classes]), ffi.Vec{Buf: z.Buf, Off: z.Off, N: (hi - lo) * classes}); err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
	}
	// Logits of NaN weights (or a NaN head) are no prediction: say so
	// rather than write or score them.
	for i, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, errmark.As(ErrNonFinite, fmt.Errorf("predict: the logit of image %d, class %d is %v: the model or head holds non-finite values", i/classes, i%classes, v))
		}
	}
	return out, nil
}
