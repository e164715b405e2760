package data

import (
	"math"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ids lists the image ids (synthSet index) of a set.
func ids(s *Set) []int {
	out := make([]int, s.Len())
	for i := range out {
		out[i] = imageID(s.Image(i))
	}
	return out
}

// TestSplitStratified: the parts partition the set, a has round(f*N)
// images, each class is split in proportion (within one image), order is
// kept, and the same seed gives the same split while another seed differs.
func TestSplitStratified(t *testing.T) {
	s := synthSet(0, 1, 2, 2, 1)
	// Unbalanced classes: 50, 30, 17, 3 images.
	for c, n := range []int{50, 30, 17, 3} {
		for k := 0; k < n; k++ {
			i := s.Len()
			s.Images = append(s.Images, float32(i), 0, 0, 0)
			s.Labels = append(s.Labels, int32(c))
		}
	}
	s.Classes = 4
	for _, f := range []float64{0, 0.1, 0.25, 0.5, 0.77, 0.9, 1} {
		a, b := s.Split(f, 42)
		if want := int(math.Round(f * 100)); a.Len() != want || a.Len()+b.Len() != 100 {
			t.Fatalf("f=%v: %d + %d, want %d + %d", f, a.Len(), b.Len(), want, 100-want)
		}
		all := append(ids(a), ids(b)...)
		sort.Ints(all)
		for i, id := range all {
			if id != i {
				t.Fatalf("f=%v: parts are not a partition (%v)", f, all)
			}
		}
		if !sort.IntsAreSorted(ids(a)) || !sort.IntsAreSorted(ids(b)) {
			t.Fatalf("f=%v: original order not kept", f)
		}
		ca := a.ClassCounts()
		for c, n := range s.ClassCounts() {
			if want := f * float64(n); math.Abs(float64(ca[c])-want) >= 1 {
				t.Fatalf("f=%v: class %d has %d of %d in a, want %.2f", f, c, ca[c], n, want)
			}
		}
		for i, id := range ids(a) {
			if a.Labels[i] != s.Labels[id] {
				t.Fatalf("f=%v: label of image %d lost", f, id)
			}
		}
		a2, _ := s.Split(f, 42)
		if !cmp.Equal(ids(a), ids(a2)) {
			t.Fatalf("f=%v: same seed, different split", f)
		}
		if f > 0 && f < 1 {
			a3, _ := s.Split(f, 43)
			if cmp.Equal(ids(a), ids(a3)) {
				t.Fatalf("f=%v: seeds 42 and 43 give the same split", f)
			}
		}
	}
	// Out-of-range fractions clamp.
	if a, _ := s.Split(1.7, 1); a.Len() != 100 {
		t.Fatalf("fraction 1.7: %d images", a.Len())
	}
	if a, _ := s.Split(math.NaN(), 1); a.Len() != 0 {
		t.Fatalf("fraction NaN: %d images", a.Len())
	}
}

// TestTake: Take(n) is the a of the matching Split; n >= N copies all;
// unlabelled sets are sampled uniformly and deterministically.
func TestTake(t *testing.T) {
	s := synthSet(60, 1, 1, 2, 3)
	a, _ := s.Split(0.25, 7)
	if got := s.Take(15, 7); !cmp.Equal(ids(got), ids(a)) {
		t.Fatalf("Take(15) %v != Split(0.25).a %v", ids(got), ids(a))
	}
	for c, n := range s.Take(15, 7).ClassCounts() {
		if n != 5 {
			t.Fatalf("class %d: %d of 15, want 5", c, n)
		}
	}
	if all := s.Take(1000, 1); all.Len() != 60 || !cmp.Equal(all.Images, s.Images) {
		t.Fatal("Take(n >= N) is not a copy of the set")
	}
	if none := s.Take(-3, 1); none.Len() != 0 || none.Labels == nil {
		t.Fatalf("Take(-3): %d images, labels %v", none.Len(), none.Labels)
	}
	u := synthSet(50, 1, 1, 1, 1)
	u.Labels, u.Classes = nil, 0
	x, y := u.Take(10, 3), u.Take(10, 3)
	if x.Len() != 10 || x.Labels != nil || !cmp.Equal(ids(x), ids(y)) {
		t.Fatalf("unlabelled Take: %v vs %v", ids(x), ids(y))
	}
	if cmp.Equal(ids(x), ids(u.Take(10, 4))) {
		t.Fatal("unlabelled Take ignores the seed")
	}
}
