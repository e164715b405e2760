package data

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Where the Debian packages install the two digit sets.
const (
	opencvDigitsDir  = "/usr/share/doc/opencv-doc/examples/data"
	opencvDigitsFile = "digits.png"
	sklearnDigitsDir = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
	sklearnDigitsCSV = "digits.csv.gz"
)

// docExcludedHint is added to a missing-file error under /usr/share/doc:
// minimal images often tell dpkg to skip that tree even for installed packages.
const docExcludedHint = " (if opencv-doc is installed and the file is still missing, dpkg is excluding /usr/share/doc: see path-exclude in /etc/dpkg/dpkg.cfg.d/)"

// OpenCV's digits.png: a 2000 x 1000 gray sheet of 20 x 20 cells, 100 cells
// across and 50 down, white digits on black; cell rows 5k..5k+4 hold the 500
// images of digit k.
const (
	opencvCell         = 20
	opencvCols         = 100
	opencvRows         = 50
	opencvRowsPerClass = 5
	opencvPad          = (side - opencvCell) / 2 // 4 px each side: 20 -> 28, as MNIST's 20 px box in 28
)

// opencvTrainFraction gives the documented 4000/1000 split (400/100 per digit).
const opencvTrainFraction = 0.8

// readOpenCVDigits cuts digits.png into its 5000 cells, each padded to
// side x side with zeros and scaled to [0, 1], labelled by cell row / 5.
func readOpenCVDigits(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opencv-digits: %w", err)
	}
	defer f.Close()
	// The sheet has one valid size: check the header's before decoding.
	img, err := decodeImage(f, func(w, h int) error {
		if w != opencvCols*opencvCell || h != opencvRows*opencvCell {
			return fmt.Errorf("image is %dx%d, want %dx%d", w, h, opencvCols*opencvCell, opencvRows*opencvCell)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opencv-digits %s: %w", path, err)
	}
	b := img.Bounds()
	gray := toPlanes(img, 1) // the sheet is 8-bit gray: toPlanes copies it exactly
	sheetW := b.Dx()
	n := opencvCols * opencvRows
	s := &Set{C: 1, H: side, W: side, Classes: 10,
		Images: make([]float32, n*side*side), Labels: make([]int32, n)}
	for r := 0; r < opencvRows; r++ {
		for c := 0; c < opencvCols; c++ {
			i := r*opencvCols + c
			s.Labels[i] = int32(r / opencvRowsPerClass)
			dst := s.Image(i)
			for y := 0; y < opencvCell; y++ {
				src := gray[(r*opencvCell+y)*sheetW+c*opencvCell:][:opencvCell]
				copy(dst[(y+opencvPad)*side+opencvPad:], src)
			}
		}
	}
	return s, nil
}

// sklearn's digits: 8 x 8 images of ink counts 0..16 (4 x 4 blocks of a
// 32 x 32 bitmap), one per CSV row followed by the label.
const (
	sklearnSide  = 8
	sklearnMax   = 16
	sklearnTrain = 1397 // of 1797: the documented 1397/400 split
	sklearnTotal = 1797
)

// readSklearnDigits parses digits.csv(.gz): 64 values in 0..16 then a label
// 0..9 per row. Values are scaled to [0, 1] and each 8 x 8 image is
// upsampled to side x side by bilinear interpolation (pixel centres aligned,
// edges clamped), so the digit fills the frame as in the 8 x 8 original.
func readSklearnDigits(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sklearn-digits: %w", err)
	}
	defer f.Close()
	r, err := maybeGunzip(f)
	if err != nil {
		return nil, fmt.Errorf("sklearn-digits %s: %w", path, err)
	}
	if z, ok := r.(*gzip.Reader); ok {
		defer z.Close()
	}
	const cols = sklearnSide*sklearnSide + 1
	s := &Set{C: 1, H: side, W: side, Classes: 10}
	ys, xs := triangleWeights(sklearnSide, side), triangleWeights(sklearnSide, side)
	small := make([]float32, sklearnSide*sklearnSide)
	big := make([]float32, side*side)
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != cols {
			return nil, fmt.Errorf("sklearn-digits %s:%d: %d fields, want %d (64 pixels and a label)", path, line, len(fields), cols)
		}
		for k, fv := range fields {
			v, err := strconv.ParseFloat(strings.TrimSpace(fv), 64)
			if err != nil {
				return nil, fmt.Errorf("sklearn-digits %s:%d: field %d: %w", path, line, k+1, err)
			}
			if k == cols-1 {
				if v != float64(int(v)) || v < 0 || v > 9 {
					return nil, fmt.Errorf("sklearn-digits %s:%d: label %v, want 0..9", path, line, v)
				}
				s.Labels = append(s.Labels, int32(v))
				break
			}
			if v < 0 || v > sklearnMax {
				return nil, fmt.Errorf("sklearn-digits %s:%d: pixel %d is %v, want 0..%d", path, line, k+1, v, sklearnMax)
			}
			small[k] = float32(v / sklearnMax)
		}
		resamplePlane(small, sklearnSide, sklearnSide, ys, xs, big)
		for i, v := range big { // convex weights: only rounding can leave [0, 1]
			big[i] = min(max(v, 0), 1)
		}
		s.Images = append(s.Images, big...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sklearn-digits %s: line %d: %w", path, line+1, err)
	}
	if len(s.Labels) == 0 {
		return nil, fmt.Errorf("sklearn-digits %s: no rows", path)
	}
	return s, nil
}
