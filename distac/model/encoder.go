package model

import (
	"fmt"

	"github.com/distac/distac/ffi"
)

// Encoder is a model architecture: it maps images to features. Its
// parameters live outside it (Params), so one encoder serves a base model, a
// teacher and a student alike.
type Encoder interface {
	Config() *Config
	Layout() *Layout
	// NewWorkspace allocates the activations for up to batch images. A
	// training workspace keeps every layer's activations for Backward; an
	// inference one reuses one layer's.
	NewWorkspace(e Engine, batch int, train bool) (Workspace, error)
}

// Workspace runs an encoder's forward (and backward) on one batch at a time.
type Workspace interface {
	// Cap is the largest batch it takes.
	Cap() int
	// SetInput uploads n images (NCHW float32, the config's geometry).
	SetInput(images []float32, n int) error
	// Forward computes the features (n x embed_dim) of the last input.
	Forward(p *Params) (ffi.Mat, error)
	// Backward adds the gradient of the loss to grads, given dfeat =
	// dL/dfeatures (n x embed_dim), after a Forward of a training workspace.
	Backward(p, grads *Params, dfeat ffi.Mat) error
	Free()
}

// New returns the encoder c describes.
func New(c *Config) Encoder {
	if c.Vision != nil {
		return newViT(c)
	}
	return newMLP(c)
}

// checkInput validates SetInput's arguments.
func checkInput(c *Config, images []float32, n, capacity int) error {
	ch, h, w := c.Input()
	if n < 1 || n > capacity {
		return fmt.Errorf("input: batch of %d images, workspace holds 1..%d", n, capacity)
	}
	if len(images) != n*ch*h*w {
		return fmt.Errorf("input: %d values for %d images of %dx%dx%d", len(images), n, ch, h, w)
	}
	return nil
}
