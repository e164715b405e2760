package demo

import (
	"fmt"

	"github.com/distac/distac/distac/data"
)

// task is one classification task of the demo with its three splits, all
// normalised with the model's preprocessing.
type task struct {
	Name             string
	Train, Val, Test *data.Set
}

// Split sizes: a train sample for fine-tuning and the heads, a held-out
// validation part (carved out of the official train split) for choosing
// alpha/lambda and the temperature, and a test sample for the numbers.
type splitSizes struct {
	Train, Val, Test int
}

// loadTasks reads the built-in sets and splits them, seeded.
func loadTasks(names []string, sz splitSizes, mean, std float32, seed uint64) ([]*task, error) {
	out := make([]*task, 0, len(names))
	for _, name := range names {
		train, test, err := data.Load(name, data.LoadOptions{})
		if err != nil {
			return nil, fmt.Errorf("task %s: %w", name, err)
		}
		// Validation first, from the official train part, so the test part
		// stays the official (or documented) one.
		frac := float64(sz.Val) / float64(train.Len())
		if frac >= 0.5 {
			return nil, fmt.Errorf("task %s: %d training images are too few for %d validation ones", name, train.Len(), sz.Val)
		}
		val, rest := train.Split(frac, seed^0x76616c)
		t := &task{Name: name, Train: rest.Take(sz.Train, seed^0x7472), Val: val, Test: test.Take(sz.Test, seed^0x7465)}
		for _, s := range []*data.Set{t.Train, t.Val, t.Test} {
			if err := s.Normalize([]float32{mean}, []float32{std}); err != nil {
				return nil, fmt.Errorf("task %s: %w", name, err)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// pooled concatenates up to per images of every task's train part (labels
// dropped): the unlabelled pool the base model is pre-trained on.
func pooled(tasks []*task, per int, seed uint64) *data.Set {
	first := tasks[0].Train
	s := &data.Set{Name: "pool", C: first.C, H: first.H, W: first.W}
	for _, t := range tasks {
		part := t.Train.Take(per, seed)
		s.Images = append(s.Images, part.Images...)
	}
	return s
}

// rotations returns every image of s turned 0, 1, 2 and 3 quarter turns,
// labelled with the number of turns: the rotation-prediction pretext task.
func rotations(s *data.Set) (*data.Set, error) {
	n, per := s.Len(), s.ImageSize()
	out := &data.Set{Name: s.Name + "-rotations", C: s.C, H: s.H, W: s.W, Classes: 4,
		Images: make([]float32, 4*n*per), Labels: make([]int32, 4*n)}
	for i := range n {
		for k := range 4 {
			j := 4*i + k
			if err := data.Rotate90(s.Image(i), s.C, s.H, s.W, k, out.Images[j*per:(j+1)*per]); err != nil {
				return nil, err
			}
			out.Labels[j] = int32(k)
		}
	}
	return out, nil
}
