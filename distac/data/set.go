package data

import (
	"fmt"
	"math"
)

// Set is an in-memory labelled image set: N images of C x H x W float32
// values, row-major NCHW.
type Set struct {
	Name       string
	C, H, W    int
	Classes    int      // number of classes (labels in [0, Classes)), 0 if unlabelled
	ClassNames []string // optional; len Classes when set
	Images     []float32
	Labels     []int32 // N, or nil when unlabelled
}

// Len is the number of images.
func (s *Set) Len() int {
	if n := s.ImageSize(); n > 0 {
		return len(s.Images) / n
	}
	return 0
}

// ImageSize is C*H*W, the number of values in one image.
func (s *Set) ImageSize() int { return s.C * s.H * s.W }

// Image returns image i as a view into s.Images (not a copy).
func (s *Set) Image(i int) []float32 {
	n := s.ImageSize()
	return s.Images[i*n : (i+1)*n : (i+1)*n]
}

// Labelled reports whether the set carries labels.
func (s *Set) Labelled() bool { return s.Labels != nil }

// Validate checks that the fields agree: positive geometry of at most
// MaxImageValues values per image, len(Images) a multiple of C*H*W, one label
// per image, labels in [0, Classes), Classes within MaxClasses (or the
// number of labels), and ClassNames empty or of length Classes.
func (s *Set) Validate() error {
	if s.C <= 0 || s.H <= 0 || s.W <= 0 {
		return fmt.Errorf("set %q: geometry %dx%dx%d must be positive", s.Name, s.C, s.H, s.W)
	}
	// Checked before the modulo: C*H*W can wrap to 0 in int.
	per, err := imageValues(uint64(s.C), uint64(s.H), uint64(s.W))
	if err != nil {
		return fmt.Errorf("set %q: geometry %dx%dx%d: %w", s.Name, s.C, s.H, s.W, err)
	}
	if len(s.Images)%per != 0 {
		return fmt.Errorf("set %q: %d values is not a whole number of %dx%dx%d images", s.Name, len(s.Images), s.C, s.H, s.W)
	}
	if err := checkClasses(s.Classes, len(s.Labels)); err != nil {
		return fmt.Errorf("set %q: %w", s.Name, err)
	}
	n := s.Len()
	if s.Labels != nil {
		if len(s.Labels) != n {
			return fmt.Errorf("set %q: %d labels for %d images", s.Name, len(s.Labels), n)
		}
		for i, l := range s.Labels {
			if l < 0 || int(l) >= s.Classes {
				return fmt.Errorf("set %q: label %d of image %d is outside [0, %d)", s.Name, l, i, s.Classes)
			}
		}
	}
	if len(s.ClassNames) != 0 && len(s.ClassNames) != s.Classes {
		return fmt.Errorf("set %q: %d class names for %d classes", s.Name, len(s.ClassNames), s.Classes)
	}
	return nil
}

// emptyLike returns a set with s's metadata and room for n images.
func (s *Set) emptyLike(n int) *Set {
	out := &Set{Name: s.Name, C: s.C, H: s.H, W: s.W, Classes: s.Classes,
		Images: make([]float32, 0, n*s.ImageSize())}
	if s.ClassNames != nil {
		out.ClassNames = append([]string(nil), s.ClassNames...)
	}
	if s.Labels != nil {
		out.Labels = make([]int32, 0, n)
	}
	return out
}

// Subset copies the images (and labels) at idx, in that order, into a new
// set; indices may repeat. Like Image, it requires 0 <= idx[k] < Len(): the
// indices come from the caller, not from a file.
func (s *Set) Subset(idx []int) *Set {
	out := s.emptyLike(len(idx))
	n := s.Len()
	for _, i := range idx {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("data: Subset index %d out of range [0, %d) in set %q", i, n, s.Name))
		}
		out.Images = append(out.Images, s.Image(i)...)
		if s.Labels != nil {
			out.Labels = append(out.Labels, s.Labels[i])
		}
	}
	return out
}

// Normalize maps every value x of channel c to (x - mean[c]) / std[c], in
// place. mean and std have length 1 (one value for all channels) or C; every
// std must be finite and non-zero.
func (s *Set) Normalize(mean, std []float32) error {
	m, err := perChannel("mean", mean, s.C)
	if err != nil {
		return fmt.Errorf("normalize %q: %w", s.Name, err)
	}
	d, err := perChannel("std", std, s.C)
	if err != nil {
		return fmt.Errorf("normalize %q: %w", s.Name, err)
	}
	inv := make([]float32, s.C)
	for c := range inv {
		if d[c] == 0 || math.IsNaN(float64(d[c])) || math.IsInf(float64(d[c]), 0) {
			return fmt.Errorf("normalize %q: std[%d] = %v, want finite and non-zero", s.Name, c, d[c])
		}
		inv[c] = 1 / d[c]
	}
	normalizeValues(s.Images, s.C, s.H*s.W, m, inv)
	return nil
}

// normalizeValues applies (x - m[c]) * inv[c] over images of c planes of
// plane values each.
func normalizeValues(v []float32, c, plane int, m, inv []float32) {
	for off := 0; off+c*plane <= len(v); off += c * plane {
		for ch := 0; ch < c; ch++ {
			p := v[off+ch*plane : off+(ch+1)*plane]
			for i := range p {
				p[i] = (p[i] - m[ch]) * inv[ch]
			}
		}
	}
}

// perChannel expands a length-1 or length-c slice to length c.
func perChannel(what string, v []float32, c int) ([]float32, error) {
	switch len(v) {
	case c:
		return v, nil
	case 1:
		out := make([]float32, c)
		for i := range out {
			out[i] = v[0]
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s has %d values, want 1 or %d (one per channel)", what, len(v), c)
}

// ClassCounts returns the number of images of each class (nil when
// unlabelled).
func (s *Set) ClassCounts() []int {
	if s.Labels == nil {
		return nil
	}
	counts := make([]int, s.Classes)
	for _, l := range s.Labels {
		if l >= 0 && int(l) < len(counts) {
			counts[l]++
		}
	}
	return counts
}
