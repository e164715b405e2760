package train

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Schedule.At against open_clip's cosine_lr, which counts steps from 0:
// warm-up base_lr*(s+1)/warmup, then base_lr*(1+cos(pi*e/es))/2 with
// e = s - warmup, es = steps - warmup.
func TestScheduleMatchesOpenCLIP(t *testing.T) {
	openCLIP := func(lr float64, warmup, steps, s int) float64 {
		if s < warmup {
			return lr * float64(s+1) / float64(warmup)
		}
		e, es := s-warmup, steps-warmup
		return 0.5 * (1 + math.Cos(math.Pi*float64(e)/float64(es))) * lr
	}
	for _, c := range []struct{ warmup, steps int }{{0, 1}, {0, 5}, {2, 6}, {3, 3}, {50, 500}} {
		s := Schedule{LR: 0.1, Warmup: c.warmup, Steps: c.steps, Cosine: true}
		for step := 1; step <= c.steps; step++ {
			want := openCLIP(0.1, c.warmup, c.steps, step-1)
			if got := s.At(step); math.Abs(got-want) > 1e-15 {
				t.Errorf("warmup %d, steps %d: At(%d) = %g, open_clip %g", c.warmup, c.steps, step, got, want)
			}
		}
		if !(s.At(c.steps) > 0) {
			t.Errorf("warmup %d, steps %d: the last step has learning rate %g", c.warmup, c.steps, s.At(c.steps))
		}
	}
	// Without Cosine: the ramp, then constant (DisTaC's warm-up = steps is a pure ramp).
	s := Schedule{LR: 1, Warmup: 4, Steps: 6}
	var got []float64
	for step := 1; step <= 6; step++ {
		got = append(got, s.At(step))
	}
	if d := cmp.Diff([]float64{0.25, 0.5, 0.75, 1, 1, 1}, got); d != "" {
		t.Errorf("ramp then constant (-want +got):\n%s", d)
	}
}
