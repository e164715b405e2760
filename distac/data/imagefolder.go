package data

import (
	"fmt"
	"image"
	_ "image/jpeg" // registers the JPEG decoder with image.Decode
	_ "image/png"  // registers the PNG decoder with image.Decode
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Preprocess says how ReadImageFolder turns a decoded image into a tensor.
type Preprocess struct {
	Size     int       // output side: the shorter side is resized to Size, then a centred Size x Size crop
	Channels int       // 1 (gray, ITU-R 601 luma) or 3 (RGB)
	Mean     []float32 // optional per-channel (or single) mean, applied with Std after scaling to [0, 1]
	Std      []float32
	// MaxPixels bounds the width x height an image file's header may state;
	// a larger image is an error naming the file, before any of it is
	// decoded (a PNG of 20000 x 20000 zeros compresses to 400 KB and would
	// decode to 1.6 GB). 0 means DefaultMaxPixels (64 Mi pixels, 8192 x
	// 8192); set it higher for bigger photos. Each image being decoded costs
	// about 16 bytes a pixel, and GOMAXPROCS of them are decoded at once.
	MaxPixels int
}

// imageExts are the file name endings ReadImageFolder reads (any case).
var imageExts = []string{".png", ".jpg", ".jpeg"}

func isImageFile(name string) bool {
	low := strings.ToLower(name)
	for _, e := range imageExts {
		if strings.HasSuffix(low, e) {
			return true
		}
	}
	return false
}

// ReadImageFolder reads dir/<class>/*.{png,jpg,jpeg} as a labelled set
// (classes are the sorted subdirectory names, labels their indices; files
// beside the class directories are ignored) or, when dir has no
// subdirectories, dir/*.{png,jpg,jpeg} as an unlabelled set. Files are read
// in sorted name order and names starting with "." are skipped. Each image is
// converted to p.Channels (alpha composited over black), resized so its
// shorter side is p.Size (bilinear, antialiased when shrinking), centre-
// cropped to p.Size x p.Size, scaled to [0, 1] and then, if p.Mean and
// p.Std are given, normalised.
func ReadImageFolder(dir string, p Preprocess) (*Set, error) {
	if p.Size <= 0 {
		return nil, fmt.Errorf("image folder %s: size %d must be positive", dir, p.Size)
	}
	if p.Channels != 1 && p.Channels != 3 {
		return nil, fmt.Errorf("image folder %s: channels %d, want 1 (gray) or 3 (RGB)", dir, p.Channels)
	}
	if p.MaxPixels < 0 {
		return nil, fmt.Errorf("image folder %s: MaxPixels %d must not be negative (0 means %d)", dir, p.MaxPixels, DefaultMaxPixels)
	}
	if p.MaxPixels == 0 {
		p.MaxPixels = DefaultMaxPixels
	}
	if (p.Mean == nil) != (p.Std == nil) {
		return nil, fmt.Errorf("image folder %s: give both mean and std, or neither", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", err)
	}
	var classes []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			classes = append(classes, e.Name())
		}
	}
	sort.Strings(classes)

	var files []string
	var labels []int32
	if len(classes) == 0 {
		files, err = listImages(dir)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("image folder %s: no class subdirectories and no %s files", dir, strings.Join(imageExts, "/"))
		}
	} else {
		for c, name := range classes {
			sub := filepath.Join(dir, name)
			fs, err := listImages(sub)
			if err != nil {
				return nil, err
			}
			if len(fs) == 0 {
				return nil, fmt.Errorf("image folder %s: class directory %s has no %s files", dir, sub, strings.Join(imageExts, "/"))
			}
			files = append(files, fs...)
			for range fs {
				labels = append(labels, int32(c))
			}
		}
	}

	s := &Set{Name: filepath.Base(filepath.Clean(dir)), C: p.Channels, H: p.Size, W: p.Size, Labels: labels}
	if labels != nil {
		s.Classes, s.ClassNames = len(classes), classes
	}
	s.Images = make([]float32, len(files)*s.ImageSize())
	if err := decodeAll(files, p, s); err != nil {
		return nil, err
	}
	if p.Mean != nil {
		if err := s.Normalize(p.Mean, p.Std); err != nil {
			return nil, fmt.Errorf("image folder %s: %w", dir, err)
		}
	}
	return s, nil
}

// listImages returns the image files directly in dir, sorted.
func listImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && isImageFile(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// decodeAll decodes files[i] into image slot i of s on GOMAXPROCS workers;
// the first error (by file order) wins.
func decodeAll(files []string, p Preprocess, s *Set) error {
	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(files)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = decodeInto(files[i], p, s.Image(i))
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeInto decodes one file and writes its preprocessed C x Size x Size
// values (in [0, 1], not yet normalised) to dst.
func decodeInto(path string, p Preprocess, dst []float32) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	if err := preprocessImage(f, p, dst); err != nil {
		return fmt.Errorf("image %s: %w", path, err)
	}
	return nil
}

// preprocessImage decodes a PNG or JPEG of at most p.MaxPixels pixels from r
// and writes its preprocessed C x Size x Size values to dst.
func preprocessImage(r io.ReadSeeker, p Preprocess, dst []float32) error {
	img, err := decodeImage(r, func(w, h int) error {
		if int64(w)*int64(h) > int64(p.MaxPixels) {
			return fmt.Errorf("%dx%d is %d pixels, past the limit of %d (Preprocess.MaxPixels)", w, h, int64(w)*int64(h), p.MaxPixels)
		}
		return nil
	})
	if err != nil {
		return err
	}
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	planes := toPlanes(img, p.Channels)

	// Shorter side to Size, the other in proportion (at least Size), then
	// the centred Size x Size window of that resize.
	rh, rw := p.Size, p.Size
	if h < w {
		rw = max(p.Size, int(float64(w)*float64(p.Size)/float64(h)+0.5))
	} else if w < h {
		rh = max(p.Size, int(float64(h)*float64(p.Size)/float64(w)+0.5))
	}
	ys := triangleWindow(h, rh, (rh-p.Size)/2, p.Size)
	xs := triangleWindow(w, rw, (rw-p.Size)/2, p.Size)
	n := p.Size * p.Size
	for c := 0; c < p.Channels; c++ {
		out := dst[c*n : (c+1)*n]
		resamplePlane(planes[c*h*w:(c+1)*h*w], h, w, ys, xs, out)
		for i, v := range out { // the filter is a convex combination; this only absorbs rounding
			out[i] = min(max(v, 0), 1)
		}
	}
	return nil
}

// decodeImage decodes a registered format (PNG, JPEG) from r once check has
// accepted the width and height its header states: a decoder allocates the
// whole image before it reads the pixel data, so the header must be checked
// first. An empty image is an error.
func decodeImage(r io.ReadSeeker, check func(w, h int) error) (image.Image, error) {
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return nil, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("empty (%dx%d)", cfg.Width, cfg.Height)
	}
	if err := check(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, err
	}
	// The decoders take the size from the same header, but the check was
	// of the header's size and the callers index by the image's: make sure.
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("decoded as %dx%d, header says %dx%d", b.Dx(), b.Dy(), cfg.Width, cfg.Height)
	}
	return img, nil
}

// toPlanes converts img to c planes (1: luma 0.299 R + 0.587 G + 0.114 B, as
// ITU-R BT.601 and PIL's "L"; 3: R, G, B) of float32 in [0, 1]. Alpha is
// premultiplied by the decoder's RGBA64 values, i.e. composited over black.
func toPlanes(img image.Image, c int) []float32 {
	b := img.Bounds()
	h, w := b.Dy(), b.Dx()
	out := make([]float32, c*h*w)
	const scale = 1.0 / 0xffff
	if g, ok := img.(*image.Gray); ok && c == 1 { // the common gray PNG: no colour maths
		for y := 0; y < h; y++ {
			row := g.Pix[y*g.Stride : y*g.Stride+w]
			for x, v := range row {
				out[y*w+x] = float32(v) / 255
			}
		}
		return out
	}
	px, fast := img.(image.RGBA64Image) // every standard image type: no per-pixel allocation
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var r, g, bl uint32
			if fast {
				p := px.RGBA64At(b.Min.X+x, b.Min.Y+y)
				r, g, bl = uint32(p.R), uint32(p.G), uint32(p.B)
			} else {
				r, g, bl, _ = img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			}
			i := y*w + x
			if c == 1 {
				out[i] = float32((0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) * scale)
			} else {
				out[i] = float32(float64(r) * scale)
				out[h*w+i] = float32(float64(g) * scale)
				out[2*h*w+i] = float32(float64(bl) * scale)
			}
		}
	}
	return out
}
