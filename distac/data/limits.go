package data

import (
	"errors"
	"fmt"
	"math"
)

// Limits on the sizes a file states. A header costs nothing to write, so a
// crafted one can claim sizes whose product wraps around in int (to 0, or to
// a negative number) or asks for more memory than the machine has, while the
// file itself stays tiny. Every size read from a file is checked against
// these, with arithmetic that cannot overflow, before anything is computed
// from it or allocated for it.
const (
	// MaxImageValues bounds C*H*W, the values of one image: 2^31 - 1, 8 GiB
	// of float32, far past any model's input; it fits an int everywhere and
	// a batch size times it still fits a 64-bit one.
	MaxImageValues = 1<<31 - 1

	// MaxClasses bounds the number of classes a set declares (its Classes,
	// from a file's metadata or its largest label), unless it has more
	// labelled images than that: a file holds at most one class per
	// labelled image, plus, up to this limit, classes it has no image of (a
	// sample of a bigger label set). 65536 is three times ImageNet-21k's
	// label set; a head of that many classes x 768 features is 200 MB.
	MaxClasses = 1 << 16

	// DefaultMaxPixels is the largest width x height of an image file that
	// ReadImageFolder decodes unless Preprocess.MaxPixels says otherwise:
	// 64 Mi pixels (8192 x 8192), past any photo a classifier is trained on.
	DefaultMaxPixels = 64 << 20
)

// errEmptyImages is imageValues' error for a zero size.
var errEmptyImages = errors.New("empty images")

// imageValues returns the product of the sizes of one image (C, H, W),
// or an error when one is zero or the product is past MaxImageValues.
func imageValues(dims ...uint64) (int, error) {
	for _, d := range dims {
		if d == 0 {
			return 0, errEmptyImages
		}
	}
	p := uint64(1)
	for _, d := range dims {
		// p < 2^31 and d < 2^31 here, so p*d cannot wrap.
		if d > MaxImageValues || p*d > MaxImageValues {
			return 0, fmt.Errorf("%v values per image is past the limit of %d", dims, MaxImageValues)
		}
		p *= d
	}
	return int(p), nil
}

// imagesShape checks the shape of an images tensor, (N, C, H, W) or (N, H,
// W) with one channel, and returns its sizes as ints.
func imagesShape(shape []uint64) (n, c, h, w int, err error) {
	var chw []uint64
	switch len(shape) {
	case 4:
		chw = shape[1:]
	case 3:
		chw = []uint64{1, shape[1], shape[2]}
	default:
		return 0, 0, 0, 0, errors.New("want (N, C, H, W) or (N, H, W)")
	}
	per, err := imageValues(chw...)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if shape[0] > uint64(math.MaxInt/per) {
		return 0, 0, 0, 0, fmt.Errorf("%d images of %d values overflow", shape[0], per)
	}
	// Each size is at most MaxImageValues (< MaxInt) now: the conversions are exact.
	return int(shape[0]), int(chw[0]), int(chw[1]), int(chw[2]), nil
}

// checkClasses bounds a class count by MaxClasses, or by the number of
// labelled images when that is larger, before anything is allocated per
// class.
func checkClasses(classes, labelled int) error {
	switch {
	case classes < 0:
		return fmt.Errorf("%d classes", classes)
	case classes > max(MaxClasses, labelled):
		return fmt.Errorf("%d classes is past the limit of %d (or one per labelled image, %d)", classes, MaxClasses, labelled)
	}
	return nil
}
