package train

import (
	"fmt"

	"github.com/distac/distac/distac/data"
	"github.com/distac/distac/distac/model"
)

// SetOptions say how OpenSet prepares a set for a model.
type SetOptions struct {
	Max  int    // > 0: a seeded stratified sample of this many images
	Seed uint64 // of the sample
	// MaxPixels bounds an image file's stated size in an image folder
	// (data.Preprocess.MaxPixels; 0: data.DefaultMaxPixels).
	MaxPixels int
}

// OpenSet reads the set spec names (data.SpecHelp) as cfg's encoder takes
// it: an image folder resized to its input, the geometry checked, a sample
// of o.Max images drawn, and the images normalised by its preprocess_cfg.
// An empty set is an error.
func OpenSet(spec string, cfg *model.Config, o SetOptions) (*data.Set, error) {
	ch, h, w := cfg.Input()
	s, err := data.Open(spec, data.OpenOptions{Folder: data.Preprocess{Size: h, Channels: ch, MaxPixels: o.MaxPixels}})
	if err != nil {
		return nil, err
	}
	if s.Len() == 0 {
		return nil, fmt.Errorf("%s holds no images", spec)
	}
	if s.C != ch || s.H != h || s.W != w {
		return nil, fmt.Errorf("%s: images are %dx%dx%d, the model takes %dx%dx%d", spec, s.C, s.H, s.W, ch, h, w)
	}
	if o.Max > 0 && s.Len() > o.Max {
		s = s.Take(o.Max, o.Seed)
	}
	if pp := cfg.Preprocess; pp != nil && len(pp.Mean) > 0 {
		if err := s.Normalize(pp.Mean, pp.Std); err != nil {
			return nil, fmt.Errorf("%s: %w", spec, err)
		}
	}
	return s, nil
}
