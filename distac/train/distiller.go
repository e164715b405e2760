package train

import (
	"fmt"
	"math"

	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/ffi"
	"github.com/distac/distac/internal/errmark"
)

// Distiller runs DisTaC steps for one student: a teacher forward in an
// inference workspace, the student's forward and backward, the fused KL
// loss and its logit gradient, and the anchored, clipped Adam update.
type Distiller struct {
	e                model.Engine
	teacher, student *model.Params
	tnet, snet       *model.Net
	grads            *model.Params
	adam             *Adam
	dz               ffi.Buffer
	tTcr, tStu       float32
	classes          int
	// GradNorm is the last step's global norm of the anchored gradient,
	// before clipping.
	GradNorm float64
}

// NewDistiller allocates everything a step needs for batches of up to batch
// images. init is theta_init of the anchor (used when o.Anchor > 0).
func NewDistiller(e model.Engine, enc model.Encoder, teacher, student, init *model.Params, head *model.Head, batch int, o ConditionOptions) (*Distiller, error) {
	e, err := model.WithPrecision(e, o.Precision)
	if err != nil {
		return nil, err
	}
	d := &Distiller{e: e, teacher: teacher, student: student, tTcr: o.TTcr, tStu: o.TStu, classes: head.Classes}
	fail := func(err error) (*Distiller, error) { d.Free(); return nil, err }
	if d.tnet, err = model.NewNet(e, enc, head, batch, false); err != nil {
		return fail(err)
	}
	if d.snet, err = model.NewNet(e, enc, head, batch, true); err != nil {
		return fail(err)
	}
	if d.grads, err = model.NewParams(e, student.Layout); err != nil {
		return fail(err)
	}
	if d.adam, err = NewAdam(e, student.Layout); err != nil {
		return fail(err)
	}
	d.adam.Anchor, d.adam.Init, d.adam.Clip = o.Anchor, init, o.Clip
	if d.dz, err = e.Alloc(ffi.F32, batch*head.Classes); err != nil {
		return fail(err)
	}
	return d, nil
}

// Free releases the workspaces, gradients and optimiser state.
func (d *Distiller) Free() {
	if d.tnet != nil {
		d.tnet.Free()
	}
	if d.snet != nil {
		d.snet.Free()
	}
	d.grads.Free(d.e)
	if d.adam != nil {
		d.adam.Free(d.e)
	}
	if d.dz != nil {
		d.e.Free(d.dz)
	}
}

// Step runs one DisTaC step on n images with learning rate lr and returns
// the KL loss before the update. A non-finite loss or gradient is an error
// and leaves the student untouched.
func (d *Distiller) Step(images []float32, n int, lr float64) (float64, error) {
	e := d.e
	zt, err := d.tnet.Forward(d.teacher, images, n)
	if err != nil {
		return 0, fmt.Errorf("teacher: %w", err)
	}
	zs, err := d.snet.Forward(d.student, images, n)
	if err != nil {
		return 0, fmt.Errorf("student: %w", err)
	}
	dz := ffi.Mat{Buf: d.dz, LD: d.classes}
	loss, err := e.KLDistill(n, d.classes, zt, zs, d.tTcr, d.tStu, dz)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, errmark.As(ErrNonFinite, fmt.Errorf("the loss diverged (%v)", loss))
	}
	if err := e.Zero(d.grads.All()); err != nil {
		return 0, err
	}
	if err := d.snet.Backward(d.student, d.grads, dz, ffi.Mat{}); err != nil {
		return 0, err
	}
	if d.GradNorm, err = d.adam.Step(e, d.student, d.grads, lr); err != nil {
		return 0, err
	}
	return loss, nil
}
