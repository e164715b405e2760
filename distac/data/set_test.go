package data

import (
	"math"
	"testing"
)

// TestSubsetNormalize: Subset copies in the given order (repeats allowed);
// Normalize applies the per-channel formula and rejects bad arguments.
func TestSubsetNormalize(t *testing.T) {
	s := synthSet(6, 2, 2, 2, 3)
	s.ClassNames = []string{"x", "y", "z"}
	sub := s.Subset([]int{4, 1, 4})
	if sub.Len() != 3 || imageID(sub.Image(0)) != 4 || imageID(sub.Image(1)) != 1 || imageID(sub.Image(2)) != 4 {
		t.Fatalf("subset order wrong: %v", sub.Images)
	}
	if sub.Labels[1] != s.Labels[1] || sub.Classes != 3 || sub.ClassNames[2] != "z" {
		t.Fatalf("subset labels/metadata wrong: %v %d %v", sub.Labels, sub.Classes, sub.ClassNames)
	}
	sub.Images[0] = -9
	sub.ClassNames[0] = "changed"
	if s.Images[4*8] == -9 || s.ClassNames[0] != "x" {
		t.Fatal("subset shares memory with its source")
	}
	if err := sub.Validate(); err != nil {
		t.Fatal(err)
	}

	orig := append([]float32(nil), s.Images...)
	if err := s.Normalize([]float32{0.5, -1}, []float32{2, 0.5}); err != nil {
		t.Fatal(err)
	}
	for i, v := range s.Images {
		ch := (i / 4) % 2 // 2 channels of 2x2 per image
		m, d := []float32{0.5, -1}[ch], []float32{2, 0.5}[ch]
		if want := (orig[i] - m) / d; math.Abs(float64(v-want)) > 1e-6 {
			t.Fatalf("value %d (channel %d) = %v, want %v", i, ch, v, want)
		}
	}
	wantErr(t, s.Normalize([]float32{0, 0, 0}, []float32{1}), "mean has 3 values")
	wantErr(t, s.Normalize([]float32{0}, []float32{1, 0}), "std[1] = 0")
	wantErr(t, s.Normalize([]float32{0}, []float32{float32(math.Inf(1))}), "std[0]")
}

// TestValidate: each inconsistency is caught.
func TestValidate(t *testing.T) {
	cases := map[string]func(s *Set){
		"geometry":    func(s *Set) { s.H = 0 },
		"whole":       func(s *Set) { s.Images = s.Images[:len(s.Images)-1] },
		"label count": func(s *Set) { s.Labels = s.Labels[:1] },
		"label range": func(s *Set) { s.Labels[0] = 3 },
		"negative":    func(s *Set) { s.Labels[0] = -1 },
		"class names": func(s *Set) { s.ClassNames = []string{"only one"} },
		// C*H*W wraps to 0 in int arithmetic: an error, not a divide by zero.
		"overflow": func(s *Set) { s.C, s.H, s.W = 1<<32, 1<<32, 1 },
		"too big":  func(s *Set) { s.C, s.H, s.W = 1<<20, 1<<20, 1<<20 },
		// ClassCounts (and a head) allocate Classes entries.
		"negative classes": func(s *Set) { s.Labels, s.Classes = nil, -1 },
		"too many classes": func(s *Set) { s.Classes = MaxClasses + 1 },
	}
	for name, mut := range cases {
		s := synthSet(4, 1, 2, 2, 3)
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		mut(s)
		if s.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
