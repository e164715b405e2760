package demo

import (
	"fmt"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
	"github.com/distac/distac/distac/train"
	"github.com/distac/distac/ffi"
)

// evaluator runs any set of encoder weights over every task's splits under
// the task's frozen head.
type evaluator struct {
	e     model.Engine
	enc   model.Encoder
	tasks []*task
	heads []*model.Head
	nets  []*model.Net // one inference net per head, reused
	p     *model.Params
}

const evalBatch = 500

func newEvaluator(e model.Engine, enc model.Encoder, tasks []*task, heads []*model.Head) (*evaluator, error) {
	ev := &evaluator{e: e, enc: enc, tasks: tasks, heads: heads}
	for _, h := range heads {
		n, err := model.NewNet(e, enc, h, evalBatch, false)
		if err != nil {
			ev.free()
			return nil, err
		}
		ev.nets = append(ev.nets, n)
	}
	p, err := model.NewParams(e, enc.Layout())
	if err != nil {
		ev.free()
		return nil, err
	}
	ev.p = p
	return ev, nil
}

func (ev *evaluator) free() {
	for _, n := range ev.nets {
		n.Free()
	}
	ev.p.Free(ev.e)
}

// load uploads host weights into the evaluator's parameter buffer.
func (ev *evaluator) load(w []float32) error { return ev.e.Upload(ev.p.All(), ffi.F32Bytes(w)) }

// logits of task t's split s under the loaded weights.
func (ev *evaluator) logits(t int, s *data.Set) ([]float32, error) {
	net, n := ev.nets[t], s.Len()
	per, classes := s.ImageSize(), ev.heads[t].Classes
	out := make([]float32, n*classes)
	for lo := 0; lo < n; lo += net.Cap() {
		hi := min(n, lo+net.Cap())
		z, err := net.Forward(ev.p, s.Images[lo*per:hi*per], hi-lo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ev.tasks[t].Name, err)
		}
		if err := ev.e.Download(ffi.F32Bytes(out[lo*classes:hi*classes]), ffi.Vec{Buf: z.Buf, Off: z.Off, N: (hi - lo) * classes}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// metrics of every task on its split of the loaded weights.
func (ev *evaluator) metrics(split func(*task) *data.Set) ([]train.Metrics, error) {
	out := make([]train.Metrics, len(ev.tasks))
	for t, tk := range ev.tasks {
		s := split(tk)
		z, err := ev.logits(t, s)
		if err != nil {
			return nil, err
		}
		if out[t], err = train.Evaluate(z, ev.heads[t].Classes, s.Labels, 1); err != nil {
			return nil, fmt.Errorf("%s: %w", tk.Name, err)
		}
	}
	return out, nil
}

// taskMetrics is one task on its split.
func (ev *evaluator) taskMetrics(t int, s *data.Set) (train.Metrics, error) {
	z, err := ev.logits(t, s)
	if err != nil {
		return train.Metrics{}, err
	}
	return train.Evaluate(z, ev.heads[t].Classes, s.Labels, 1)
}

func val(t *task) *data.Set  { return t.Val }
func test(t *task) *data.Set { return t.Test }

func accuracies(ms []train.Metrics) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = m.Accuracy
	}
	return out
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
